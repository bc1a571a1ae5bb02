// sync/alerts.h - what the sync worker tells admins, and when (docs/alerts.md).
//
// The worker calls the Alerter after every sync attempt of a tenant and once per round for the
// secret expiry. The Alerter decides from the tenant's TenantState.alerts_sent whether an alert
// is due (once per threshold and expiry date; once per distinct token error until recovery;
// ...), sends it (log always; mail through sendmail -t -i; webhook), and records it in
// alerts_sent. The worker persists that state in the store, so a restart never resends.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "common/config.h"
#include "store/store.h"

namespace m365gate::sync {

// How one sync attempt of one tenant ended. Never holds a secret or a token.
struct SyncResult {
    bool ok = false;
    // "" on success; else "token" (token endpoint refused), "consent" (Graph 403),
    // "graph" (other Graph error), "network" (connect/timeout/reset), "tls" (certificate),
    // "shrink" (mass-deletion guard refused), "store" (LMDB), "config" (credential file),
    // "limit" (a bound of the round: max_pages, max_objects, round_budget, max_spill_size).
    std::string error_kind;
    std::string error_code;              // token: AADSTS number ("7000222"); graph: Graph code
    std::string message;                 // one sentence for the admin
    std::string missing_permission;      // consent: e.g. "User.Read.All"
    std::uint64_t addresses_before = 0;  // shrink: the counts the guard compared
    std::uint64_t addresses_after = 0;
    std::string sync_kind;  // shrink: the sync the guard refused, "full" | "delta"
};

class Alerter {
public:
    virtual ~Alerter() = default;
    // After each attempt. Updates state.alerts_sent (and nothing else).
    virtual void after_attempt(const Config& cfg, const TenantConfig& tenant,
                               const SyncResult& result, store::TenantState& state,
                               std::int64_t now) = 0;
    // Once per round, after state.secret_expires / secret_expires_source were refreshed.
    virtual void check_secret(const Config& cfg, const TenantConfig& tenant,
                              store::TenantState& state, std::int64_t now) = 0;
    // After a reload that changed the tenant's secret: the result of the immediate token
    // request (ok, or the token error).
    virtual void secret_changed(const Config& cfg, const TenantConfig& tenant,
                                const SyncResult& token_result, store::TenantState& state,
                                std::int64_t now) = 0;
    // The store failed its check and was moved to `moved_to`; every list is being rebuilt.
    // Not a tenant's event: sent once, to alerts.mail_to and the webhook (no state to keep:
    // each damaged store is moved aside once).
    virtual void store_damaged(const Config& cfg, const std::string& moved_to,
                               const std::string& problem, std::int64_t now) {
        (void)cfg, (void)moved_to, (void)problem, (void)now;
    }
};

// What became of an alert on each outside channel: "sent", "failed" (with the error, one line
// for the log, never message content) or "off" (not configured).
struct Delivery {
    std::string mail = "off";
    std::string mail_error;
    std::string webhook = "off";
    std::string webhook_error;
};

// m365gatectl alert test (through m365gate-sync --alert-test): a `test` alert for `tenant`
// through mail and webhook as configured, and one log line. Records nothing.
Delivery send_test_alert(const Config& cfg, const TenantConfig& tenant, std::int64_t now);
// m365gate-sync --alert-test: send_test_alert(), one line per channel on `out` ("mail: sent",
// "webhook: failed: why", "off"); 0 when every configured channel delivered, 1 when one failed
// or none is configured.
int run_alert_test(const Config& cfg, const TenantConfig& tenant, std::int64_t now,
                   std::ostream& out);

// The real one: log + sendmail + webhook, as configured in cfg.alerts.
std::unique_ptr<Alerter> make_alerter();

// How alerts name this gateway when alerts.host_label is not set: the host name when it is
// already qualified, else its canonical name (getaddrinfo AI_CANONNAME, through
// /etc/hosts or DNS) when that has a dot, else the bare host name. Looked up once per process.
std::string gateway_fqdn();

}  // namespace m365gate::sync
