// sync/worker.cpp - rounds, per-tenant attempts, state recording, secret expiry, alerts.
#include "sync/worker.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>

#include "common/log.h"
#include "sync/alert_message.h"
#include "sync/graph.h"
#include "sync/http.h"
#include "sync/importer.h"
#include "sync/sync_error.h"

namespace m365gate::sync {

struct Worker::TenantRuntime {
    TenantConfig config;  // as of the last set_config, to notice what a reload changed
    std::optional<Credential> credential;
    std::string credential_error;
    TokenClient tokens;
    bool force_full = false;
    // Secret expiry from Graph (/applications): cached per secret for a while; a 403 there is
    // logged once per process and the lookup skipped afterwards.
    bool applications_forbidden = false;
    std::string graph_expiry_fingerprint;
    std::int64_t graph_expiry = 0;
    std::int64_t graph_expiry_checked = 0;
};

namespace {

using json = nlohmann::json;
using store::TenantState;
constexpr std::int64_t graph_expiry_refresh_s = 6 * 3600;

std::int64_t to_unix(SysTime t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
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

// The bounds of one tenant's round, from its start (sync.max_pages, max_objects,
// round_budget; the budget is at most 365 days, so the deadline cannot overflow).
RoundLimits round_limits(const Config& cfg, std::chrono::steady_clock::time_point started) {
    RoundLimits l;
    l.max_pages = effective_max_pages(cfg.sync);
    l.max_objects = cfg.sync.max_objects;
    l.deadline = started + cfg.sync.round_budget;
    return l;
}

// The settings that decide what a full sync imports: a change needs a full resync.
bool import_settings_changed(const TenantConfig& a, const TenantConfig& b) {
    return a.tenant_id != b.tenant_id || a.client_id != b.client_id ||
           a.graph_endpoint != b.graph_endpoint || a.login_endpoint != b.login_endpoint ||
           a.include_upn != b.include_upn || a.domains != b.domains;
}

// Secret fingerprint and the expiry known without Graph (credential file, then config).
void apply_secret_fields(TenantState& st, const TenantConfig& t, const Credential& cred) {
    const std::string fp = secret_fingerprint(cred.secret);
    if (st.secret_fingerprint != fp && st.secret_expires_source == "graph") {
        st.secret_expires = 0;  // belonged to the previous secret
        st.secret_expires_source.clear();
    }
    st.secret_fingerprint = fp;
    if (cred.expires) {
        st.secret_expires = to_unix(*cred.expires);
        st.secret_expires_source = "credential_file";
    } else if (t.client_secret_expires) {
        st.secret_expires = to_unix(*t.client_secret_expires);
        st.secret_expires_source = "config";
    } else if (st.secret_expires_source != "graph") {
        st.secret_expires = 0;
        st.secret_expires_source.clear();
    }
}

void log_failure(const TenantConfig& t, const std::string& kind, const SyncResult& r,
                 std::int64_t duration_ms) {
    spdlog::error(
        "tenant={} event=sync kind={} status=error error_kind={} error_code={}{}{} error={} "
        "duration_ms={}",
        t.name, kind.empty() ? "none" : kind, r.error_kind, log_value(r.error_code, 80),
        r.missing_permission.empty() ? "" : " permission=", log_value(r.missing_permission, 80),
        log_value(r.message, 400), duration_ms);
}

// Secret expiry from Graph: passwordCredentials of the application whose appId is the client
// id, matched by hint (first 3 characters of the secret). Never fails the sync: a 403 is
// logged once per process and the lookup skipped from then on; other errors are logged.
void lookup_secret_expiry(GraphClient& graph, HttpClient& http, const TenantConfig& t,
                          Worker::TenantRuntime& rt, const Secret& secret, TenantState& st,
                          std::int64_t now) {
    const std::string fp = secret_fingerprint(secret);
    auto apply_cached = [&] {
        if (rt.graph_expiry_fingerprint == fp && rt.graph_expiry != 0) {
            st.secret_expires = rt.graph_expiry;
            st.secret_expires_source = "graph";
        }
    };
    if (rt.applications_forbidden) {
        apply_cached();
        return;
    }
    if (rt.graph_expiry_fingerprint == fp && rt.graph_expiry_checked != 0 &&
        now - rt.graph_expiry_checked < graph_expiry_refresh_s && now >= rt.graph_expiry_checked) {
        apply_cached();
        return;
    }
    const std::string hint = secret.reveal().substr(0, 3);
    int matches = 0;
    std::optional<SysTime> earliest;
    try {
        const std::string url =
            graph.url("/applications?$filter=appId%20eq%20'" + http.escape(t.client_id) +
                      "'&$select=id,appId,displayName,passwordCredentials");
        graph.for_each_page(url, [&](const json& items) {
            for (const auto& app : items) {
                if (!app.is_object()) {
                    continue;
                }
                const auto app_id = app.find("appId");
                const auto creds = app.find("passwordCredentials");
                if (app_id == app.end() || !app_id->is_string() ||
                    app_id->get_ref<const std::string&>() != t.client_id || creds == app.end() ||
                    !creds->is_array()) {
                    continue;
                }
                for (const auto& pc : *creds) {
                    const auto h = pc.is_object() ? pc.find("hint") : pc.end();
                    const auto end = pc.is_object() ? pc.find("endDateTime") : pc.end();
                    if (h == pc.end() || !h->is_string() ||
                        h->get_ref<const std::string&>() != hint || end == pc.end() ||
                        !end->is_string()) {
                        continue;
                    }
                    const auto when = parse_graph_end_date(end->get_ref<const std::string&>());
                    if (!when) {
                        continue;
                    }
                    ++matches;
                    if (!earliest || *when < *earliest) {
                        earliest = *when;
                    }
                }
            }
        });
    } catch (const SyncError& e) {
        if (e.result().error_kind == "consent") {
            rt.applications_forbidden = true;
            spdlog::warn(
                "tenant={} event=secret_expiry source=graph status=forbidden permission={} "
                "note=\"grant it, or set expires in the credential file or client_secret_expires; "
                "not asked again until restart\"",
                t.name, permission_for("applications"));
        } else {
            spdlog::warn(
                "tenant={} event=secret_expiry source=graph status=error error_kind={} "
                "error_code={}",
                t.name, e.result().error_kind, log_value(e.result().error_code, 80));
        }
        apply_cached();
        return;
    } catch (const DeltaReset&) {
        apply_cached();
        return;
    }
    rt.graph_expiry_checked = now;
    rt.graph_expiry_fingerprint = fp;
    if (!earliest) {
        rt.graph_expiry = 0;
        spdlog::warn(
            "tenant={} event=secret_expiry source=graph status=no_match "
            "note=\"no passwordCredential of the app matches the secret in use\"",
            t.name);
        if (st.secret_expires_source == "graph") {
            st.secret_expires = 0;
            st.secret_expires_source.clear();
        }
        return;
    }
    rt.graph_expiry = to_unix(*earliest);
    st.secret_expires = rt.graph_expiry;
    st.secret_expires_source = "graph";
    if (matches > 1) {
        spdlog::info(
            "tenant={} event=secret_expiry source=graph expires={} matches={} "
            "note=\"several secrets share the hint; the earliest expiry is used\"",
            t.name, format_datetime_utc(*earliest), matches);
    } else {
        spdlog::debug("tenant={} event=secret_expiry source=graph expires={}", t.name,
                      format_datetime_utc(*earliest));
    }
}

}  // namespace

std::optional<SysTime> parse_graph_end_date(std::string_view text) {
    if (auto t = parse_datetime(text)) {
        return t;
    }
    if (text.size() < 20 || text.size() > 40 || text[4] != '-') {
        return std::nullopt;
    }
    int year = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return std::nullopt;
        }
        year = year * 10 + (text[i] - '0');
    }
    // Only a year beyond SysTime's range is clamped; the rest of the text must be well formed
    // (checked on the same text with an in-range year).
    if (year < 2262 || !parse_datetime("2000" + std::string(text.substr(4)))) {
        return std::nullopt;
    }
    return parse_datetime("2261-12-31T23:59:59Z");
}

std::string secret_fingerprint(const Secret& secret) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(secret.reveal().data(), secret.reveal().size(), digest, &length, EVP_sha256(),
                   nullptr) != 1) {
        throw std::runtime_error("EVP_Digest(sha256) failed");
    }
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < 4 && i < length; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 0xf]);
    }
    return out;
}

Worker::Worker(store::Store& store, Alerter& alerter, const std::atomic<bool>* stop)
    : store_(store), alerter_(alerter), stop_(stop) {}

Worker::~Worker() = default;

void Worker::set_config(std::shared_ptr<const Config> cfg, bool reload) {
    cfg_ = std::move(cfg);
    std::vector<std::string> changed;
    for (const auto& t : cfg_->tenants) {
        auto& slot = runtime_[t.name];
        const bool existed = slot != nullptr;
        if (!slot) {
            slot = std::make_unique<TenantRuntime>();
        }
        TenantRuntime& rt = *slot;
        if (existed && import_settings_changed(rt.config, t)) {
            rt.force_full = true;
            rt.tokens.invalidate();
            spdlog::info(
                "tenant={} event=reload note=\"import settings changed, next sync is full\"",
                t.name);
        }
        rt.config = t;
        try {
            Credential cred = load_credential(t.client_secret_file);
            const bool secret_changed =
                reload && (!rt.credential || rt.credential->secret != cred.secret);
            rt.credential = std::move(cred);
            rt.credential_error.clear();
            if (secret_changed) {
                changed.push_back(t.name);
            }
        } catch (const ConfigError& e) {
            if (reload && rt.credential) {
                spdlog::error("tenant={} event=credential status=error keeping=previous error={}",
                              t.name, log_value(e.what()));
            } else {
                rt.credential.reset();
                rt.credential_error = e.what();
                spdlog::error("tenant={} event=credential status=error error={}", t.name,
                              log_value(e.what()));
            }
        }
    }
    for (auto it = runtime_.begin(); it != runtime_.end();) {
        it = cfg_->find_tenant(it->first) == nullptr ? runtime_.erase(it) : std::next(it);
    }

    // DESIGN "Configuration": after a reload that changed a secret, ask for a token at once
    // and say whether the new secret works.
    for (const auto& name : changed) {
        const TenantConfig& t = *cfg_->find_tenant(name);
        TenantRuntime& rt = *runtime_[name];
        SyncResult result;
        try {
            HttpClient http(http_options(*cfg_), stop_);
            GraphClient graph(http, rt.tokens, t, rt.credential->secret, retry_policy(*cfg_),
                              stop_);
            rt.tokens.invalidate();
            graph.ensure_token();
            result.ok = true;
        } catch (const SyncError& e) {
            result = e.result();
        } catch (const SyncStopped&) {
            return;
        }
        const std::string fp = secret_fingerprint(rt.credential->secret);
        if (result.ok) {
            spdlog::info("tenant={} event=secret_changed status=ok fingerprint={}", t.name, fp);
        } else {
            spdlog::error(
                "tenant={} event=secret_changed status=error fingerprint={} error_kind={} "
                "error_code={} error={}",
                t.name, fp, result.error_kind, log_value(result.error_code, 80),
                log_value(result.message));
        }
        try {
            TenantState st;
            {
                store::Snapshot snap(store_);
                st = snap.tenant_state(t.name).value_or(TenantState{});
            }
            apply_secret_fields(st, t, *rt.credential);
            try {  // no transaction open while mail and webhook go out
                alerter_.secret_changed(*cfg_, t, result, st, now_seconds());
            } catch (const std::exception& e) {
                spdlog::error("tenant={} event=alert status=error error={}", t.name,
                              log_value(e.what()));
            }
            store::Writer w(store_);
            w.put_state(t.name, st);
            w.commit();
        } catch (const store::StoreError& e) {
            spdlog::error("tenant={} event=state status=error error={}", t.name,
                          log_value(e.what()));
        }
    }
}

std::vector<TenantOutcome> Worker::run_round(const RoundOptions& options) {
    std::vector<TenantOutcome> outcomes;
    const std::shared_ptr<const Config> cfg = cfg_;  // this round's config, whatever happens
    // One writing process at a time (a --once next to the daemon waits for its round), so a
    // Rebuild in progress is never reclaimed under its feet.
    std::optional<store::WriterLock> lock;
    try {
        lock.emplace(store_);
    } catch (const store::StoreError& e) {
        spdlog::error("event=round status=error error={}", log_value(e.what()));
        for (const auto& t : cfg->tenants) {
            TenantOutcome outcome;
            outcome.tenant = t.name;
            outcome.result.error_kind = "store";
            outcome.result.message = e.what();
            outcomes.push_back(std::move(outcome));
        }
        return outcomes;
    }
    if (lock->waited()) {
        spdlog::info("event=round note=\"waited for another m365gate-sync to finish its round\"");
    }
    reclaim_quietly();  // what a killed or failed earlier run left behind
    if (options.tenants.empty()) {
        remove_unconfigured_tenants();
    }
    for (const auto& t : cfg->tenants) {
        if (!options.tenants.empty() && std::find(options.tenants.begin(), options.tenants.end(),
                                                  t.name) == options.tenants.end()) {
            continue;
        }
        if (stop_ != nullptr && stop_->load()) {
            break;
        }
        TenantOutcome outcome;
        try {
            outcome = sync_tenant(t, *runtime_.at(t.name), options);
        } catch (const std::exception& e) {
            // Recording the failure itself failed (store): say so and go on with the others.
            outcome.tenant = t.name;
            outcome.result.error_kind = "store";
            outcome.result.message = e.what();
            spdlog::error("tenant={} event=sync status=error error_kind=store error={}", t.name,
                          log_value(e.what()));
        }
        outcomes.push_back(std::move(outcome));
    }
    return outcomes;
}

void Worker::remove_unconfigured_tenants() {
    try {
        store::Writer w(store_);
        bool removed = false;
        for (const auto& name : w.tenants()) {
            if (cfg_->find_tenant(name) == nullptr) {
                w.remove_tenant(name);
                removed = true;
                spdlog::info("tenant={} event=tenant_removed note=\"no longer in the config\"",
                             log_value(name, 80));
            }
        }
        if (removed) {
            w.commit();
        }
    } catch (const store::StoreError& e) {
        spdlog::error("event=tenant_removed status=error error={}", log_value(e.what()));
    }
}

TenantOutcome Worker::sync_tenant(const TenantConfig& t, TenantRuntime& rt,
                                  const RoundOptions& options) {
    const Config& cfg = *cfg_;
    const std::int64_t now = now_seconds();
    const auto started = std::chrono::steady_clock::now();
    auto elapsed_ms = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
            .count();
    };

    TenantState prev;
    DomainSet stored_domains;
    {
        store::Snapshot snap(store_);
        if (auto s = snap.tenant_state(t.name)) {
            prev = std::move(*s);
        }
        for (auto& d : snap.domains(t.name)) {
            stored_domains.insert(std::move(d));
        }
    }
    TenantState st = prev;
    st.last_attempt = now;

    TenantOutcome outcome;
    outcome.tenant = t.name;
    SyncResult& result = outcome.result;
    // Alerts go out after the attempt is committed, with no write transaction open (sendmail
    // and the webhook may take seconds); what was sent is recorded in a small transaction of
    // its own. The Alerter changes nothing but alerts_sent.
    auto send_alerts = [&](TenantState state) {
        const auto sent_before = state.alerts_sent;
        try {
            alerter_.after_attempt(cfg, t, result, state, now);
            alerter_.check_secret(cfg, t, state, now);
        } catch (const std::exception& e) {
            spdlog::error("tenant={} event=alert status=error error={}", t.name,
                          log_value(e.what()));
        }
        if (state.alerts_sent == sent_before) {
            return;
        }
        store::Writer w(store_);
        TenantState current = w.tenant_state(t.name).value_or(state);
        current.alerts_sent = state.alerts_sent;
        w.put_state(t.name, current);
        w.commit();
    };

    // Checks the shrink guard, records success in the state and commits data + state at once.
    auto publish = [&](store::Writer& w, const ImportStats& stats, const std::string& kind) {
        const std::uint64_t before = prev.address_count;
        const std::uint64_t after = w.address_count(t.name);
        result.addresses_before = before;
        result.addresses_after = after;
        if (before > 0 && after < before) {
            const double drop = static_cast<double>(before - after) / static_cast<double>(before);
            if (drop > cfg.sync.max_shrink) {
                const std::string what =
                    "the " + kind + " sync would drop " + std::to_string(before - after) + " of " +
                    std::to_string(before) + " addresses (" +
                    std::to_string(shrink_percent(before, after)) +
                    "%), more than sync.max_shrink (" +
                    std::to_string(fraction_percent(cfg.sync.max_shrink)) + "%)";
                if (!options.force) {
                    SyncResult r;
                    r.error_kind = "shrink";
                    r.error_code = "max_shrink";
                    r.message = what +
                                "; not applied, the previous list stays (m365gate-sync "
                                "--once --force applies it)";
                    r.addresses_before = before;
                    r.addresses_after = after;
                    r.sync_kind = kind;
                    throw SyncError(r);
                }
                spdlog::warn(
                    "tenant={} event=shrink status=forced addresses_before={} "
                    "addresses_after={} note=\"--force: applied\"",
                    t.name, before, after);
            }
        }
        st.last_success = now;
        if (kind == "full") {
            st.last_full_sync = now;
        }
        st.last_sync_kind = kind;
        st.address_count = after;
        st.object_count = w.object_count(t.name);
        st.domain_count = stats.domains;
        st.delta_links = stats.delta_links;
        st.last_error.clear();
        st.last_error_kind.clear();
        st.last_error_code.clear();
        st.failing_since = 0;
        result = SyncResult{};
        result.ok = true;
        result.addresses_before = before;
        result.addresses_after = after;
        w.put_state(t.name, st);
        w.commit();
        rt.force_full = false;
        outcome.kind = kind;
        spdlog::info(
            "tenant={} event=sync kind={} status=ok addresses={} domains={} objects={} changes={} "
            "removed={} duration_ms={}",
            t.name, kind, after, stats.domains, st.object_count, stats.items, stats.removed,
            elapsed_ms());
        send_alerts(st);
    };

    std::string kind;
    try {
        if (!rt.credential) {
            throw sync_error("config", "credential", rt.credential_error);
        }
        const Credential& cred = *rt.credential;
        apply_secret_fields(st, t, cred);

        HttpClient http(http_options(cfg), stop_);
        GraphClient graph(http, rt.tokens, t, cred.secret, retry_policy(cfg), stop_);
        graph.set_limits(round_limits(cfg, started));
        graph.ensure_token();
        if (st.secret_expires_source.empty() || st.secret_expires_source == "graph") {
            lookup_secret_expiry(graph, http, t, rt, cred.secret, st, now);
        }

        Importer importer(graph, t, stop_);
        const DomainSet managed = importer.managed_domains();
        // What a full sync would store: the managed domains except those another tenant
        // owns (set_domains skips them). Comparing `managed` itself made every round full.
        DomainSet storable;
        {
            store::Snapshot snap(store_);
            for (const auto& d : managed) {
                const auto owner = snap.tenant_of_domain(d);
                if (!owner || *owner == t.name) {
                    storable.insert(d);
                }
            }
        }
        std::string why_full;
        if (options.full) {
            why_full = "requested";
        } else if (rt.force_full) {
            why_full = "settings_changed";
        } else if (prev.last_full_sync == 0 || prev.delta_links.size() < 3) {
            why_full = "no_delta_links";
        } else if (now - prev.last_full_sync >= cfg.sync.full_every.count()) {
            why_full = "full_every";
        } else if (storable != stored_domains) {
            why_full = "domains_changed";
        }
        if (why_full.empty()) {
            kind = "delta";
            try {
                store::Writer w(store_);
                const ImportStats stats = importer.delta(w, managed, prev.delta_links);
                publish(w, stats, kind);
            } catch (const DeltaReset& e) {
                why_full = "delta_reset";
                spdlog::warn("tenant={} event=delta_reset reason={} note=\"full resync\"", t.name,
                             log_value(e.what()));
            }
        }
        if (!why_full.empty()) {
            kind = "full";
            spdlog::debug("tenant={} event=sync kind=full reason={}", t.name, why_full);
            // Pages go into a Rebuild as they arrive (bounded memory, nothing visible); one
            // write transaction then switches the tenant to it, with domains and state.
            store::RebuildOptions rebuild_options;
            rebuild_options.max_spill_bytes = effective_max_spill_size(cfg.sync, cfg.store);
            store::Rebuild rebuild(store_, t.name, rebuild_options);
            ImportStats stats = importer.full(rebuild, managed);
            rebuild.stage();
            spdlog::debug("tenant={} event=rebuild staged={} addresses={} objects={}", t.name,
                          rebuild.in_place() ? "in_place" : "new_generation",
                          rebuild.address_count(), rebuild.object_count());
            {
                store::Writer w(store_);
                w.adopt(rebuild);
                const std::vector<std::string> domains(managed.begin(), managed.end());
                const std::vector<std::string> skipped = w.set_domains(t.name, domains);
                for (const auto& d : skipped) {
                    spdlog::warn(
                        "tenant={} event=domain status=skipped domain={} "
                        "reason=owned_by_other_tenant",
                        t.name, log_value(d));
                }
                stats.domains = domains.size() - skipped.size();
                publish(w, stats, kind);
            }
            reclaim_quietly();
        }
        return outcome;
    } catch (const SyncError& e) {
        result = e.result();
    } catch (const SyncStopped&) {
        spdlog::info("tenant={} event=sync kind={} status=stopped note=\"nothing published\"",
                     t.name, kind.empty() ? "none" : kind);
        result.error_kind = "stopped";
        result.message = "stopped";
        return outcome;
    } catch (const store::StoreError& e) {
        result = SyncResult{};
        if (e.kind() == store::StoreError::Kind::limit) {
            // The full enumeration outgrew sync.max_spill_size: Graph sent more than any list
            // the store could hold.
            result.error_kind = "limit";
            result.error_code = "max_spill_size";
            result.message = std::string("Graph sent more than sync.max_spill_size allows: ") +
                             e.what() +
                             "; this round of the tenant is given up, its last good "
                             "list stays";
        } else {
            result.error_kind = "store";
            result.message = std::string("store: ") + e.what();
        }
    } catch (const DeltaReset& e) {
        result = SyncResult{};
        result.error_kind = "graph";
        result.error_code = "syncStateNotFound";
        result.message = e.what();
    } catch (const std::exception& e) {
        result = SyncResult{};
        result.error_kind = "graph";
        result.error_code = "internal";
        result.message = std::string("internal error: ") + e.what();
    }

    // Failure: the data transaction is gone (aborted) and a staged Rebuild unseen; record the
    // attempt on its own.
    result.ok = false;
    outcome.kind = kind;
    log_failure(t, kind, result, elapsed_ms());
    TenantState fs;
    {
        store::Writer w(store_);
        fs = w.tenant_state(t.name).value_or(TenantState{});
        fs.last_attempt = now;
        fs.secret_fingerprint = st.secret_fingerprint;
        fs.secret_expires = st.secret_expires;
        fs.secret_expires_source = st.secret_expires_source;
        fs.last_error = result.message;
        fs.last_error_kind = result.error_kind;
        fs.last_error_code = result.error_code;
        if (fs.failing_since == 0) {
            fs.failing_since = now;
        }
        if (kind == "delta" && result.error_code == "foreign_link" && !fs.delta_links.empty()) {
            // A stored link (or one Graph sent in this round) points at another host: it is
            // never followed, and the next round gets fresh links from a full sync.
            fs.delta_links.clear();
            spdlog::warn(
                "tenant={} event=delta_links status=dropped reason=foreign_link "
                "note=\"the next sync is full\"",
                t.name);
        }
        w.put_state(t.name, fs);
        w.commit();
    }
    send_alerts(fs);
    if (kind == "full") {
        reclaim_quietly();  // what the abandoned Rebuild staged
    }
    return outcome;
}

void Worker::reclaim_quietly() {
    try {
        if (const std::uint64_t n = store::reclaim(store_); n != 0) {
            spdlog::debug("event=reclaim keys={}", n);
        }
    } catch (const store::StoreError& e) {
        spdlog::error("event=reclaim status=error error={}", log_value(e.what()));
    }
}

}  // namespace m365gate::sync
