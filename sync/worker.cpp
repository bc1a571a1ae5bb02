// sync/worker.cpp - rounds over the tenants, config reloads, the credentials.
#include "sync/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "common/certificate.h"
#include "common/credentials.h"
#include "common/log.h"
#include "sync/credential_check.h"
#include "sync/graph.h"
#include "sync/postfix_tables.h"
#include "sync/sync_error.h"
#include "sync/tenant_sync.h"

namespace m365gate::sync {

namespace {

using store::TenantState;

// The settings that decide what a full sync imports: a change needs a full resync.
bool import_settings_changed(const TenantConfig& a, const TenantConfig& b) {
    return a.tenant_id != b.tenant_id || a.client_id != b.client_id ||
           a.graph_endpoint != b.graph_endpoint || a.login_endpoint != b.login_endpoint ||
           a.include_upn != b.include_upn || a.domains != b.domains;
}

}  // namespace

Worker::Worker(store::Store& store, Alerter& alerter, const std::atomic<bool>* stop)
    : store_(store), alerter_(alerter), stop_(stop) {}

Worker::~Worker() = default;

void Worker::set_config(std::shared_ptr<const Config> cfg, bool reload) {
    cfg_ = std::move(cfg);
    if (metrics_writer_ != nullptr) {
        metrics_writer_->configure(cfg_->metrics);
    }
    std::vector<std::string> changed;
    for (const auto& t : cfg_->tenants) {
        if (t.enabled && adopt_tenant(t, reload)) {
            changed.push_back(t.name);
        }
    }
    // A tenant removed or disabled loses its token and credential; enabled again, it starts
    // afresh (its stored list and delta links are kept).
    for (auto it = runtime_.begin(); it != runtime_.end();) {
        const TenantConfig* t = cfg_->find_tenant(it->first);
        it = t == nullptr || !t->enabled ? runtime_.erase(it) : std::next(it);
    }

    // After a reload that changed a secret, ask for a token at once and say whether the new
    // secret works.
    for (const auto& name : changed) {
        if (!check_new_secret(*cfg_->find_tenant(name), *runtime_[name])) {
            return;  // stopped
        }
    }
}

void Worker::set_metrics(SyncMetrics* metrics, metrics::TextfileWriter* writer) {
    metrics_ = metrics;
    metrics_writer_ = writer;
    if (metrics_writer_ != nullptr && cfg_) {
        metrics_writer_->configure(cfg_->metrics);
    }
    for (auto& [name, rt] : runtime_) {
        rt->metrics = metrics;
    }
}

bool Worker::adopt_tenant(const TenantConfig& t, bool reload) {
    auto& slot = runtime_[t.name];
    const bool existed = slot != nullptr;
    if (!slot) {
        slot = std::make_unique<TenantRuntime>();
    }
    TenantRuntime& rt = *slot;
    if (existed && import_settings_changed(rt.config, t)) {
        rt.force_full = true;
        rt.tokens.invalidate();
        spdlog::info("tenant={} event=reload note=\"import settings changed, next sync is full\"",
                     t.name);
    }
    rt.config = t;
    rt.metrics = metrics_;
    try {
        Credential cred = load_tenant_credential(t);
        const bool secret_changed =
            reload && (!rt.credential || rt.credential->secret != cred.secret);
        rt.credential = std::move(cred);
        rt.credential_error.clear();
        return secret_changed;
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
    return false;
}

bool Worker::check_new_secret(const TenantConfig& t, TenantRuntime& rt) {
    SyncResult result;
    try {
        HttpOptions http_opts = http_options(*cfg_);
        http_opts.metrics = metrics_;
        HttpClient http(http_opts, stop_);
        GraphClient graph(http, rt.tokens, t, rt.credential->secret, retry_policy(*cfg_), stop_);
        rt.tokens.invalidate();
        graph.ensure_token();
        result.ok = true;
    } catch (const SyncError& e) {
        result = e.result();
    } catch (const SyncStopped&) {
        return false;
    }
    const std::string fp = secret_fingerprint(rt.credential->secret);
    if (result.ok) {
        spdlog::info("tenant={} event=secret_changed status=ok fingerprint={}", t.name, fp);
        forget_previous_credential(t, *rt.credential);
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
        if (result.ok) {
            st.last_token_success = now_seconds();
        }
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
        spdlog::error("tenant={} event=state status=error error={}", t.name, log_value(e.what()));
    }
    return true;
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
            outcome.result.error_kind = error_kind_text(ErrorKind::store);
            outcome.result.message = e.what();
            outcomes.push_back(std::move(outcome));
        }
        return outcomes;
    }
    if (lock->waited()) {
        spdlog::info("event=round note=\"waited for another m365gate-sync to finish its round\"");
    }
    reclaim_quietly(store_);  // what a killed or failed earlier run left behind
    const bool removed = options.tenants.empty() && remove_unconfigured_tenants();
    for (const auto& t : cfg->tenants) {
        if (!options.tenants.empty() && std::find(options.tenants.begin(), options.tenants.end(),
                                                  t.name) == options.tenants.end()) {
            continue;
        }
        if (!t.enabled) {
            continue;  // enabled = false: configured, its list kept, not synced
        }
        if (stop_ != nullptr && stop_->load()) {
            break;
        }
        TenantOutcome outcome;
        try {
            outcome =
                TenantSync(store_, alerter_, stop_, *cfg, t, *runtime_.at(t.name), options).run();
        } catch (const std::exception& e) {
            // Recording the failure itself failed (store): say so and go on with the others.
            outcome.tenant = t.name;
            outcome.result.error_kind = error_kind_text(ErrorKind::store);
            outcome.result.message = e.what();
            spdlog::error("tenant={} event=sync status=error error_kind=store error={}", t.name,
                          log_value(e.what()));
        }
        outcomes.push_back(std::move(outcome));
    }
    // [postfix] export_dir: the tables follow each round that published a list or removed a
    // tenant; a failed or refused sync published nothing, so it leaves them as they were.
    if (removed || std::any_of(outcomes.begin(), outcomes.end(),
                               [](const TenantOutcome& o) { return o.result.ok; })) {
        const bool ok = export_postfix_tables(*cfg, store_);
        if (metrics_ != nullptr && !cfg->postfix.export_dir.empty()) {
            metrics_->postfix_tables(ok, now_seconds());
        }
    }
    return outcomes;
}

bool Worker::remove_unconfigured_tenants() {
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
        return removed;
    } catch (const store::StoreError& e) {
        spdlog::error("event=tenant_removed status=error error={}", log_value(e.what()));
    }
    return false;
}

}  // namespace m365gate::sync
