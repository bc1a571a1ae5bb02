// sync/sync_metrics.h - the sync worker's counters and their exposition (m365gate_sync.prom).
//
// The sync is not a hot path: one mutex guards maps keyed by tenant and label values. The
// worker thread records (attempts, Graph and token requests, alerts); the metrics writer thread
// renders. The per-tenant gauges (last success, secret expiry, addresses) are those of the last
// attempt, so rendering never opens the store. Label values come from fixed sets (kinds, error
// kinds, HTTP status codes, alert kinds) and tenant names, never from Graph's text or a secret.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "common/metrics.h"
#include "store/store.h"

namespace m365gate::sync {

class SyncMetrics {
public:
    // One attempt of `tenant`: `kind` "full" | "delta" | "none" (failed before choosing),
    // `status` "ok" or the error kind ("token", "graph", "shrink", "stopped"...), and the state
    // it left (last success, secret expiry, address count).
    void attempt(const std::string& tenant, const std::string& kind, const std::string& status,
                 const store::TenantState& state, double duration_seconds);
    // One HTTP response from Graph (`status` 0: no response, a transport error).
    void graph_request(const std::string& tenant, long status);
    // One POST to the token endpoint; `ok`: a token came back.
    void token_request(const std::string& tenant, bool ok);
    // An alert recorded as sent; `alert` is the kind (the alerts_sent key up to its ':').
    void alert_sent(const std::string& tenant, const std::string& alert);
    // One write of the Postfix tables ([postfix] export_dir); `ok`: they are current as of `now`.
    void postfix_tables(bool ok, std::int64_t now);

    // The whole file. `now` (Unix seconds) gives the secret's days left.
    std::string render(std::int64_t now) const;

private:
    struct TenantGauges {
        std::int64_t last_success = 0;
        std::int64_t last_attempt = 0;
        std::int64_t secret_expires = 0;
        std::uint64_t addresses = 0;
        double duration_seconds = 0;
        bool failing = false;
    };

    void render_tenants(metrics::Exposition& out, std::int64_t now) const;  // mu_ held

    mutable std::mutex mu_;
    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> runs_;
    std::map<std::pair<std::string, std::string>, std::uint64_t> graph_requests_;
    std::map<std::string, std::uint64_t> graph_throttled_;
    std::map<std::pair<std::string, std::string>, std::uint64_t> token_requests_;
    std::map<std::pair<std::string, std::string>, std::uint64_t> alerts_;
    std::map<std::string, TenantGauges> tenants_;
    std::map<std::string, std::uint64_t> postfix_writes_;  // "ok" | "error" -> count
    std::int64_t postfix_current_ = 0;                     // 0: never written
};

}  // namespace m365gate::sync
