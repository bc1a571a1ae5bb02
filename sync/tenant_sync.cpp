// sync/tenant_sync.cpp - one sync attempt of one tenant (see tenant_sync.h).
#include "sync/tenant_sync.h"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "common/log.h"
#include "sync/alert_message.h"
#include "sync/credential_check.h"
#include "sync/graph.h"
#include "sync/secret_expiry.h"

namespace m365gate::sync {

namespace {

using store::TenantState;

// The bounds of one tenant's round, from its start (sync.max_pages, max_objects,
// round_budget; the budget is at most 365 days, so the deadline cannot overflow).
RoundLimits round_limits(const Config& cfg, std::chrono::steady_clock::time_point started) {
    RoundLimits l;
    l.max_pages = effective_max_pages(cfg.sync);
    l.max_objects = cfg.sync.max_objects;
    l.deadline = started + cfg.sync.round_budget;
    return l;
}

void log_failure(const TenantConfig& t, SyncKind kind, const SyncResult& r,
                 std::int64_t duration_ms) {
    spdlog::error(
        "tenant={} event=sync kind={} status=error error_kind={} error_code={}{}{} error={} "
        "duration_ms={}",
        t.name, kind == SyncKind::none ? "none" : sync_kind_text(kind), r.error_kind,
        log_value(r.error_code, 80),
        r.missing_permission.empty() ? "" : " permission=", log_value(r.missing_permission, 80),
        log_value(r.message, 400), duration_ms);
}

}  // namespace

void count_alerts(SyncMetrics* metrics, const std::string& tenant,
                  const std::map<std::string, std::int64_t>& before,
                  const std::map<std::string, std::int64_t>& after) {
    if (metrics == nullptr) {
        return;
    }
    for (const auto& [key, when] : after) {
        const auto it = before.find(key);
        if (it == before.end() || it->second != when) {
            metrics->alert_sent(tenant, key.substr(0, key.find(':')));
        }
    }
    // A recovery notice is not kept: it erases the token, consent, sync_failing and stale
    // keys it resolves (sync/alerts.cpp), once it went out. A reminder changes a key's time.
    for (const auto& [key, when] : before) {
        (void)when;
        const std::string kind = key.substr(0, key.find(':'));
        if ((kind == "token" || kind == "consent" || kind == "sync_failing" || kind == "stale") &&
            after.count(key) == 0) {
            metrics->alert_sent(tenant, "recovered");
            return;
        }
    }
}

const char* sync_kind_text(SyncKind kind) {
    switch (kind) {
        case SyncKind::delta:
            return "delta";
        case SyncKind::full:
            return "full";
        case SyncKind::none:
            break;
    }
    return "";
}

HttpOptions http_options(const Config& cfg) {
    HttpOptions o;
    o.ca_file = cfg.sync.ca_file;
    o.connect_timeout = cfg.sync.connect_timeout;
    o.request_timeout = cfg.sync.request_timeout;
    return o;
}

RetryPolicy retry_policy(const Config& cfg) {
    RetryPolicy p;
    p.max_retries = cfg.sync.max_retries;
    p.max_backoff = cfg.sync.max_backoff;
    return p;
}

void reclaim_quietly(store::Store& store) {
    try {
        if (const std::uint64_t n = store::reclaim(store); n != 0) {
            spdlog::debug("event=reclaim keys={}", n);
        }
    } catch (const store::StoreError& e) {
        spdlog::error("event=reclaim status=error error={}", log_value(e.what()));
    }
}

TenantSync::TenantSync(store::Store& store, Alerter& alerter, const std::atomic<bool>* stop,
                       const Config& cfg, const TenantConfig& tenant, TenantRuntime& runtime,
                       const RoundOptions& options)
    : store_(store),
      alerter_(alerter),
      stop_(stop),
      cfg_(cfg),
      tenant_(tenant),
      runtime_(runtime),
      options_(options),
      now_(now_seconds()),
      started_(std::chrono::steady_clock::now()) {}

std::int64_t TenantSync::elapsed_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 started_)
        .count();
}

void TenantSync::count_attempt(const std::string& status, const TenantState& state) const {
    if (runtime_.metrics != nullptr) {
        runtime_.metrics->attempt(tenant_.name,
                                  kind_ == SyncKind::none ? "none" : sync_kind_text(kind_), status,
                                  state, static_cast<double>(elapsed_ms()) / 1000.0);
    }
}

TenantOutcome TenantSync::run() {
    load_previous_state();
    try {
        sync_with_graph();
        count_attempt("ok", state_);
        TenantOutcome outcome{tenant_.name, result_, sync_kind_text(kind_)};
        return outcome;
    } catch (const SyncError& e) {
        result_ = e.result();
    } catch (const SyncStopped&) {
        spdlog::info("tenant={} event=sync kind={} status=stopped note=\"nothing published\"",
                     tenant_.name, kind_ == SyncKind::none ? "none" : sync_kind_text(kind_));
        result_.error_kind = error_kind_text(ErrorKind::stopped);
        result_.message = "stopped";
        count_attempt(result_.error_kind, state_);
        // Nothing was recorded: the outcome names no kind.
        return TenantOutcome{tenant_.name, result_, ""};
    } catch (const store::StoreError& e) {
        if (e.kind() == store::StoreError::Kind::limit) {
            // The full enumeration outgrew sync.max_spill_size: Graph sent more than any list
            // the store could hold.
            fail_with(ErrorKind::limit, "max_spill_size",
                      std::string("Graph sent more than sync.max_spill_size allows: ") + e.what() +
                          "; this round of the tenant is given up, its last good list stays");
        } else {
            fail_with(ErrorKind::store, "", std::string("store: ") + e.what());
        }
    } catch (const DeltaReset& e) {
        fail_with(ErrorKind::graph, "syncStateNotFound", e.what());
    } catch (const std::exception& e) {
        fail_with(ErrorKind::graph, "internal", std::string("internal error: ") + e.what());
    }
    return record_failure();
}

void TenantSync::load_previous_state() {
    {
        store::Snapshot snap(store_);
        if (auto s = snap.tenant_state(tenant_.name)) {
            previous_ = std::move(*s);
        }
        for (auto& d : snap.domains(tenant_.name)) {
            stored_domains_.insert(std::move(d));
        }
    }
    state_ = previous_;
    state_.last_attempt = now_;
}

void TenantSync::sync_with_graph() {
    if (!runtime_.credential) {
        throw sync_error(ErrorKind::config, "credential", runtime_.credential_error);
    }
    const Credential& cred = *runtime_.credential;
    apply_secret_fields(state_, tenant_, cred);

    HttpOptions http_opts = http_options(cfg_);
    http_opts.metrics = runtime_.metrics;
    HttpClient http(http_opts, stop_);
    GraphClient graph(http, runtime_.tokens, tenant_, cred.secret, retry_policy(cfg_), stop_);
    graph.set_limits(round_limits(cfg_, started_));
    graph.ensure_token();
    state_.last_token_success = now_;  // sign-in works: the credential has not expired
    forget_previous_credential(tenant_, cred);
    // Graph is the authority on a secret's expiry whenever it answers, a local date or not; a
    // certificate's is its notAfter.
    if (!cred.certificate) {
        lookup_secret_expiry(graph, http, tenant_, runtime_, cred.secret, state_, now_);
    }

    Importer importer(graph, tenant_, stop_);
    const DomainSet managed = importer.managed_domains();
    std::string why_full = reason_for_full(storable_domains(managed));
    if (why_full.empty() && !sync_delta(importer, managed)) {
        why_full = "delta_reset";
    }
    if (!why_full.empty()) {
        spdlog::debug("tenant={} event=sync kind=full reason={}", tenant_.name, why_full);
        sync_full(importer, managed);
    }
}

// What a full sync would store: the managed domains except those another tenant owns
// (set_domains skips them). Comparing the managed domains themselves made every round full.
DomainSet TenantSync::storable_domains(const DomainSet& managed) const {
    DomainSet storable;
    store::Snapshot snap(store_);
    for (const auto& d : managed) {
        const auto owner = snap.tenant_of_domain(d);
        if (!owner || *owner == tenant_.name) {
            storable.insert(d);
        }
    }
    return storable;
}

std::string TenantSync::reason_for_full(const DomainSet& storable) const {
    if (options_.full) {
        return "requested";
    }
    if (runtime_.force_full) {
        return "settings_changed";
    }
    if (previous_.last_full_sync == 0 || previous_.delta_links.size() < 3) {
        return "no_delta_links";
    }
    if (now_ - previous_.last_full_sync >= cfg_.sync.full_every.count()) {
        return "full_every";
    }
    if (storable != stored_domains_) {
        return "domains_changed";
    }
    return "";
}

bool TenantSync::sync_delta(Importer& importer, const DomainSet& managed) {
    kind_ = SyncKind::delta;
    try {
        store::Writer w(store_);
        const ImportStats stats = importer.delta(w, managed, previous_.delta_links);
        publish(w, stats);
        return true;
    } catch (const DeltaReset& e) {
        spdlog::warn("tenant={} event=delta_reset reason={} note=\"full resync\"", tenant_.name,
                     log_value(e.what()));
        return false;
    }
}

// Pages go into a Rebuild as they arrive (bounded memory, nothing visible); one write
// transaction then switches the tenant to it, with domains and state.
void TenantSync::sync_full(Importer& importer, const DomainSet& managed) {
    kind_ = SyncKind::full;
    store::RebuildOptions rebuild_options;
    rebuild_options.max_spill_bytes = effective_max_spill_size(cfg_.sync, cfg_.store);
    store::Rebuild rebuild(store_, tenant_.name, rebuild_options);
    ImportStats stats = importer.full(rebuild, managed);
    rebuild.stage();
    spdlog::debug("tenant={} event=rebuild staged={} addresses={} objects={}", tenant_.name,
                  rebuild.in_place() ? "in_place" : "new_generation", rebuild.address_count(),
                  rebuild.object_count());
    {
        store::Writer w(store_);
        w.adopt(rebuild);
        const std::vector<std::string> domains(managed.begin(), managed.end());
        const std::vector<std::string> skipped = w.set_domains(tenant_.name, domains);
        for (const auto& d : skipped) {
            spdlog::warn(
                "tenant={} event=domain status=skipped domain={} reason=owned_by_other_tenant",
                tenant_.name, log_value(d));
        }
        stats.domains = domains.size() - skipped.size();
        publish(w, stats);
    }
    reclaim_quietly(store_);
}

void TenantSync::publish(store::Writer& w, const ImportStats& stats) {
    const std::uint64_t before = previous_.address_count;
    const std::uint64_t after = w.address_count(tenant_.name);
    result_.addresses_before = before;
    result_.addresses_after = after;
    check_shrink(before, after);
    record_success(w, stats, before, after);
    spdlog::info(
        "tenant={} event=sync kind={} status=ok addresses={} domains={} objects={} changes={} "
        "removed={} duration_ms={}",
        tenant_.name, sync_kind_text(kind_), after, stats.domains, state_.object_count, stats.items,
        stats.removed, elapsed_ms());
    send_alerts(state_);
}

void TenantSync::check_shrink(std::uint64_t before, std::uint64_t after) const {
    if (before == 0 || after >= before) {
        return;
    }
    const double drop = static_cast<double>(before - after) / static_cast<double>(before);
    if (!(drop > cfg_.sync.max_shrink)) {
        return;
    }
    if (options_.force) {
        spdlog::warn(
            "tenant={} event=shrink status=forced addresses_before={} addresses_after={} "
            "note=\"--force: applied\"",
            tenant_.name, before, after);
        return;
    }
    SyncResult r;
    r.error_kind = error_kind_text(ErrorKind::shrink);
    r.error_code = "max_shrink";
    r.message = "the " + std::string(sync_kind_text(kind_)) + " sync would drop " +
                std::to_string(before - after) + " of " + std::to_string(before) + " addresses (" +
                std::to_string(shrink_percent(before, after)) + "%), more than sync.max_shrink (" +
                std::to_string(fraction_percent(cfg_.sync.max_shrink)) +
                "%); not applied, the previous list stays (m365gate-sync --once --force "
                "applies it)";
    r.addresses_before = before;
    r.addresses_after = after;
    r.sync_kind = sync_kind_text(kind_);
    throw SyncError(r);
}

// Records success in the state and commits data + state at once.
void TenantSync::record_success(store::Writer& w, const ImportStats& stats, std::uint64_t before,
                                std::uint64_t after) {
    state_.last_success = now_;
    if (kind_ == SyncKind::full) {
        state_.last_full_sync = now_;
    }
    state_.last_sync_kind = sync_kind_text(kind_);
    state_.address_count = after;
    state_.object_count = w.object_count(tenant_.name);
    state_.domain_count = stats.domains;
    state_.delta_links = stats.delta_links;
    state_.last_error.clear();
    state_.last_error_kind.clear();
    state_.last_error_code.clear();
    state_.failing_since = 0;
    result_ = SyncResult{};
    result_.ok = true;
    result_.addresses_before = before;
    result_.addresses_after = after;
    w.put_state(tenant_.name, state_);
    w.commit();
    runtime_.force_full = false;
}

void TenantSync::fail_with(ErrorKind kind, std::string code, std::string message) {
    result_ = SyncResult{};
    result_.error_kind = error_kind_text(kind);
    result_.error_code = std::move(code);
    result_.message = std::move(message);
}

// The data transaction is gone (aborted) and a staged Rebuild unseen: the attempt is recorded
// on its own.
TenantOutcome TenantSync::record_failure() {
    result_.ok = false;
    log_failure(tenant_, kind_, result_, elapsed_ms());
    TenantState fs;
    {
        store::Writer w(store_);
        fs = w.tenant_state(tenant_.name).value_or(TenantState{});
        fs.last_attempt = now_;
        fs.secret_fingerprint = state_.secret_fingerprint;
        fs.secret_expires = state_.secret_expires;
        fs.secret_expires_source = state_.secret_expires_source;
        fs.secret_expires_local = state_.secret_expires_local;
        fs.secret_expires_local_source = state_.secret_expires_local_source;
        fs.last_token_success = state_.last_token_success;
        fs.last_error = result_.message;
        fs.last_error_kind = result_.error_kind;
        fs.last_error_code = result_.error_code;
        if (fs.failing_since == 0) {
            fs.failing_since = now_;
        }
        if (kind_ == SyncKind::delta && result_.error_code == "foreign_link" &&
            !fs.delta_links.empty()) {
            // A stored link (or one Graph sent in this round) points at another host: it is
            // never followed, and the next round gets fresh links from a full sync.
            fs.delta_links.clear();
            spdlog::warn(
                "tenant={} event=delta_links status=dropped reason=foreign_link "
                "note=\"the next sync is full\"",
                tenant_.name);
        }
        w.put_state(tenant_.name, fs);
        w.commit();
    }
    count_attempt(result_.error_kind, fs);
    send_alerts(fs);
    if (kind_ == SyncKind::full) {
        reclaim_quietly(store_);  // what the abandoned Rebuild staged
    }
    return TenantOutcome{tenant_.name, result_, sync_kind_text(kind_)};
}

// Alerts go out after the attempt is committed, with no write transaction open (sendmail and
// the webhook may take seconds); what was sent is recorded in a small transaction of its own.
// The Alerter changes nothing but alerts_sent.
void TenantSync::send_alerts(TenantState state) {
    const auto sent_before = state.alerts_sent;
    try {
        alerter_.after_attempt(cfg_, tenant_, result_, state, now_);
        alerter_.check_secret(cfg_, tenant_, state, now_);
    } catch (const std::exception& e) {
        spdlog::error("tenant={} event=alert status=error error={}", tenant_.name,
                      log_value(e.what()));
    }
    if (state.alerts_sent == sent_before) {
        return;
    }
    count_alerts(runtime_.metrics, tenant_.name, sent_before, state.alerts_sent);
    store::Writer w(store_);
    TenantState current = w.tenant_state(tenant_.name).value_or(state);
    current.alerts_sent = state.alerts_sent;
    w.put_state(tenant_.name, current);
    w.commit();
}

}  // namespace m365gate::sync
