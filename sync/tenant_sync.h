// sync/tenant_sync.h - one sync attempt of one tenant: which kind, the sync, publishing it,
// recording a failure, and the alerts after it.
//
// Kinds: a delta sync applies the changes since the stored delta links in one store::Writer;
// a full sync fills a store::Rebuild (in place or as a new generation) that one Writer adopts.
// That Writer's commit also writes the TenantState (attempt, success, counts, links, secret
// fields). A failed, refused (shrink) or partial sync makes nothing visible but a small state
// update (last error, failing_since). The Alerter is called once the attempt is committed,
// with no write transaction open.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "common/config.h"
#include "common/credentials.h"
#include "store/store.h"
#include "sync/alerts.h"
#include "sync/http.h"
#include "sync/importer.h"
#include "sync/sync_error.h"
#include "sync/sync_metrics.h"
#include "sync/token.h"
#include "sync/worker.h"

namespace m365gate::sync {

// What the worker keeps about a tenant between rounds.
struct TenantRuntime {
    TenantConfig config;  // as of the last set_config, to notice what a reload changed
    std::optional<Credential> credential;
    std::string credential_error;
    TokenClient tokens;
    bool force_full = false;
    SyncMetrics* metrics = nullptr;  // the process's, when it writes metrics
    // Secret expiry from Graph (/applications): cached per secret for a while; a 403 there is
    // logged once per process and the lookup skipped afterwards.
    bool applications_forbidden = false;
    std::string graph_expiry_fingerprint;
    std::int64_t graph_expiry = 0;
    std::int64_t graph_expiry_checked = 0;
};

// The sync an attempt runs; none when it failed before choosing.
enum class SyncKind { none, delta, full };

// "delta" | "full" | "": the form stored in TenantState.last_sync_kind and TenantOutcome.kind.
const char* sync_kind_text(SyncKind kind);

HttpOptions http_options(const Config& cfg);
RetryPolicy retry_policy(const Config& cfg);

// Counts the alerts recorded as sent between `before` and `after` (alerts_sent), by kind, and a
// recovery notice ("recovered") when it resolved keys.
void count_alerts(SyncMetrics* metrics, const std::string& tenant,
                  const std::map<std::string, std::int64_t>& before,
                  const std::map<std::string, std::int64_t>& after);

// store::reclaim(), errors logged: unused generations are only disk space.
void reclaim_quietly(store::Store& store);

// Runs one attempt. Thread safety: belongs to the worker's thread, lives for one attempt.
class TenantSync {
public:
    TenantSync(store::Store& store, Alerter& alerter, const std::atomic<bool>* stop,
               const Config& cfg, const TenantConfig& tenant, TenantRuntime& runtime,
               const RoundOptions& options);

    // Syncs, publishes or records the failure, then alerts. Throws only when recording a
    // failure in the store fails.
    TenantOutcome run();

private:
    void load_previous_state();
    void sync_with_graph();
    // Why this attempt is a full sync ("requested", "settings_changed", ...), "" for delta.
    std::string reason_for_full(const DomainSet& storable) const;
    DomainSet storable_domains(const DomainSet& managed) const;
    // false when Graph refused the delta links (the caller then syncs in full).
    bool sync_delta(Importer& importer, const DomainSet& managed);
    void sync_full(Importer& importer, const DomainSet& managed);
    // Throws SyncError (shrink) when the guard refuses; else records success and commits.
    void publish(store::Writer& w, const ImportStats& stats);
    void check_shrink(std::uint64_t before, std::uint64_t after) const;
    void record_success(store::Writer& w, const ImportStats& stats, std::uint64_t before,
                        std::uint64_t after);
    void fail_with(SyncResult result);
    void fail_with(ErrorKind kind, std::string code, std::string message);
    TenantOutcome record_failure();
    void send_alerts(store::TenantState state);
    std::int64_t elapsed_ms() const;
    // Counts the attempt (runtime_.metrics): `status` "ok" or the error kind.
    void count_attempt(const std::string& status, const store::TenantState& state) const;

    store::Store& store_;
    Alerter& alerter_;
    const std::atomic<bool>* stop_;
    const Config& cfg_;
    const TenantConfig& tenant_;
    TenantRuntime& runtime_;
    const RoundOptions& options_;
    const std::int64_t now_;
    const std::chrono::steady_clock::time_point started_;

    store::TenantState previous_;  // as stored before this attempt
    DomainSet stored_domains_;
    store::TenantState state_;  // what this attempt records
    SyncKind kind_ = SyncKind::none;
    SyncResult result_;
};

}  // namespace m365gate::sync
