// sync/sync_metrics.cpp - the sync worker's counters and m365gate_sync.prom (see
// sync_metrics.h; the names are listed in docs/metrics.md).
#include "sync/sync_metrics.h"

#include <optional>

#include "common/metrics.h"

namespace m365gate::sync {

namespace {

// Graph's throttling answers: 429, and 503 ("service unavailable", sent with Retry-After).
bool is_throttling(long status) { return status == 429 || status == 503; }

}  // namespace

void SyncMetrics::attempt(const std::string& tenant, const std::string& kind,
                          const std::string& status, const store::TenantState& state,
                          double duration_seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    ++runs_[{tenant, kind, status}];
    TenantGauges& g = tenants_[tenant];
    g.last_success = state.last_success;
    g.last_attempt = state.last_attempt;
    g.secret_expires = state.secret_expires;
    g.addresses = state.address_count;
    g.duration_seconds = duration_seconds;
    g.failing = status != "ok";
}

void SyncMetrics::graph_request(const std::string& tenant, long status) {
    std::lock_guard<std::mutex> lock(mu_);
    ++graph_requests_[{tenant, std::to_string(status)}];
    if (is_throttling(status)) {
        ++graph_throttled_[tenant];
    }
}

void SyncMetrics::token_request(const std::string& tenant, bool ok) {
    std::lock_guard<std::mutex> lock(mu_);
    ++token_requests_[{tenant, ok ? "ok" : "error"}];
}

void SyncMetrics::alert_sent(const std::string& tenant, const std::string& alert) {
    std::lock_guard<std::mutex> lock(mu_);
    ++alerts_[{tenant, alert}];
}

void SyncMetrics::render_tenants(metrics::Exposition& out, std::int64_t now) const {
    // Each family's samples follow its # TYPE line (the format requires them grouped).
    const auto gauge = [&](const char* name, const char* help, auto value_of) {
        out.family(name, "gauge", help);
        for (const auto& [tenant, g] : tenants_) {
            if (const std::optional<double> v = value_of(g)) {
                out.sample(name, {{"tenant", tenant}}, *v);
            }
        }
    };
    using Value = std::optional<double>;
    gauge("m365gate_sync_last_success_timestamp_seconds",
          "Unix time of the tenant's last successful sync (absent: never).",
          [](const TenantGauges& g) {
              return g.last_success != 0 ? Value(double(g.last_success)) : std::nullopt;
          });
    gauge("m365gate_sync_last_attempt_timestamp_seconds",
          "Unix time of the tenant's last sync attempt.",
          [](const TenantGauges& g) { return Value(double(g.last_attempt)); });
    gauge("m365gate_sync_last_duration_seconds", "How long the tenant's last sync attempt took.",
          [](const TenantGauges& g) { return Value(g.duration_seconds); });
    gauge("m365gate_sync_failing", "1 when the tenant's last sync attempt failed, else 0.",
          [](const TenantGauges& g) { return Value(g.failing ? 1.0 : 0.0); });
    gauge("m365gate_sync_addresses", "Addresses in the tenant's list.",
          [](const TenantGauges& g) { return Value(double(g.addresses)); });
    gauge("m365gate_sync_secret_expiry_timestamp_seconds",
          "Unix time the tenant's client secret expires (absent: unknown).",
          [](const TenantGauges& g) {
              return g.secret_expires != 0 ? Value(double(g.secret_expires)) : std::nullopt;
          });
    // Days left is this / 86400 (the dashboard's "secret days left"): base units, as
    // Prometheus names want them (promtool's lint refuses "days").
    gauge("m365gate_sync_secret_remaining_seconds",
          "Seconds until the tenant's client secret expires (days left: / 86400); negative once "
          "expired.",
          [now](const TenantGauges& g) {
              return g.secret_expires != 0 ? Value(double(g.secret_expires - now)) : std::nullopt;
          });
}

void SyncMetrics::postfix_tables(bool ok, std::int64_t now) {
    std::lock_guard<std::mutex> lock(mu_);
    ++postfix_writes_[ok ? "ok" : "error"];
    if (ok) {
        postfix_current_ = now;
    }
}

std::string SyncMetrics::render(std::int64_t now) const {
    std::lock_guard<std::mutex> lock(mu_);
    metrics::Exposition out;
    out.family("m365gate_sync_runs_total", "counter",
               "Sync attempts by tenant, kind (full, delta, none: failed before choosing) and "
               "status (ok, or the error kind).");
    for (const auto& [key, n] : runs_) {
        const auto& [tenant, kind, status] = key;
        out.sample("m365gate_sync_runs_total",
                   {{"tenant", tenant}, {"kind", kind}, {"status", status}}, n);
    }
    out.family("m365gate_sync_graph_requests_total", "counter",
               "HTTP responses from Microsoft Graph by tenant and status code (0: no response).");
    for (const auto& [key, n] : graph_requests_) {
        out.sample("m365gate_sync_graph_requests_total",
                   {{"tenant", key.first}, {"code", key.second}}, n);
    }
    out.family("m365gate_sync_graph_throttled_total", "counter",
               "Graph responses that throttled the sync (429, 503).");
    for (const auto& [tenant, n] : graph_throttled_) {
        out.sample("m365gate_sync_graph_throttled_total", {{"tenant", tenant}}, n);
    }
    out.family("m365gate_sync_token_requests_total", "counter",
               "Requests to the Entra token endpoint by tenant and status (ok, error).");
    for (const auto& [key, n] : token_requests_) {
        out.sample("m365gate_sync_token_requests_total",
                   {{"tenant", key.first}, {"status", key.second}}, n);
    }
    out.family("m365gate_sync_alerts_sent_total", "counter",
               "Alerts sent (log, mail, webhook) by tenant and alert kind.");
    for (const auto& [key, n] : alerts_) {
        out.sample("m365gate_sync_alerts_sent_total",
                   {{"tenant", key.first}, {"alert", key.second}}, n);
    }
    out.family("m365gate_sync_postfix_table_writes_total", "counter",
               "Writes of the Postfix tables ([postfix] export_dir) by status (ok, error).");
    for (const auto& [status, n] : postfix_writes_) {
        out.sample("m365gate_sync_postfix_table_writes_total", {{"status", status}}, n);
    }
    out.family("m365gate_sync_postfix_tables_current_timestamp_seconds", "gauge",
               "Unix time the Postfix tables were last made current (absent: never).");
    if (postfix_current_ != 0) {
        out.sample("m365gate_sync_postfix_tables_current_timestamp_seconds", {},
                   double(postfix_current_));
    }
    render_tenants(out, now);
    return out.text();
}

}  // namespace m365gate::sync
