// sync/worker.h - one sync round over the configured tenants, and what is recorded about it.
//
// Per tenant and round: the credential (loaded per config load/reload), then one TenantSync
// (sync/tenant_sync.h: the secret's expiry, a token, a delta or full sync, the state, the
// alerts). A round holds the store's WriterLock and reclaims unused generations. One tenant failing
// never stops the others; a set stop flag ends the round at the next page (the open write
// transaction aborts). Tenants no longer configured are removed from the store.
// Thread safety: a Worker belongs to one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/metrics.h"
#include "store/store.h"
#include "sync/alerts.h"
#include "sync/secret_expiry.h"
#include "sync/token.h"

namespace m365gate::sync {

struct TenantRuntime;
class SyncMetrics;

struct RoundOptions {
    bool force = false;                // --force: apply a sync the shrink guard refuses
    bool full = false;                 // --full: full sync even when delta links exist
    std::vector<std::string> tenants;  // --tenant: only these (empty = all)
};

struct TenantOutcome {
    std::string tenant;
    SyncResult result;
    std::string kind;  // "full" | "delta" | ""
};

class Worker {
public:
    Worker(store::Store& store, Alerter& alerter, const std::atomic<bool>* stop);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Adopts a config (start or reload) and (re)loads the credential files. On a reload, each
    // tenant whose secret changed gets a token request at once, logged and handed to
    // Alerter::secret_changed. A credential file that fails to load on reload keeps the old one.
    void set_config(std::shared_ptr<const Config> cfg, bool reload);

    // Counts attempts, requests and alerts into `metrics` from now on (nullptr: none), and
    // gives `writer` (may be null) each config's [metrics] settings.
    void set_metrics(SyncMetrics* metrics, metrics::TextfileWriter* writer);

    // Syncs every (selected) tenant once. Returns one outcome per tenant synced; stops early
    // (outcomes so far) when the stop flag is set.
    std::vector<TenantOutcome> run_round(const RoundOptions& options);

private:
    // Creates or updates the tenant's runtime and loads its credential file; true when a
    // reload changed its secret.
    bool adopt_tenant(const TenantConfig& tenant, bool reload);
    // Asks for a token with the new secret, logs and alerts the result and records the secret
    // fields; false when the stop flag cut it short.
    bool check_new_secret(const TenantConfig& tenant, TenantRuntime& rt);
    // True when a tenant was removed (its domains leave the Postfix tables).
    bool remove_unconfigured_tenants();

    store::Store& store_;
    Alerter& alerter_;
    const std::atomic<bool>* stop_;
    std::shared_ptr<const Config> cfg_;
    SyncMetrics* metrics_ = nullptr;
    metrics::TextfileWriter* metrics_writer_ = nullptr;
    std::map<std::string, std::unique_ptr<TenantRuntime>> runtime_;
};

}  // namespace m365gate::sync
