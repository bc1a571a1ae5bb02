// milter/milter_metrics.cpp - the milter's counters and m365gate_milter.prom (see
// milter_metrics.h; the names are listed in docs/metrics.md).
#include "milter/milter_metrics.h"

#include <ctime>

#include "milter/glue.h"

namespace m365gate::milter {

const char* to_string(RcptVerdict v) {
    switch (v) {
        case RcptVerdict::reject:
            return "reject";
        case RcptVerdict::tempfail:
            return "tempfail";
        case RcptVerdict::would_reject:
            return "would_reject";
        case RcptVerdict::would_tempfail:
            return "would_tempfail";
        case RcptVerdict::continue_:
            break;
    }
    return "continue";
}

RcptVerdict rcpt_verdict_of(const decision::Decision& d) {
    if (d.verdict == Verdict::reject) {
        return RcptVerdict::reject;
    }
    if (d.verdict == Verdict::tempfail) {
        return RcptVerdict::tempfail;
    }
    if (d.would_be == Verdict::reject) {
        return RcptVerdict::would_reject;
    }
    if (d.would_be == Verdict::tempfail) {
        return RcptVerdict::would_tempfail;
    }
    return RcptVerdict::continue_;
}

std::size_t rcpt_reason_index(std::string_view reason) noexcept {
    for (std::size_t i = 0; i + 1 < rcpt_reasons.size(); ++i) {
        if (rcpt_reasons[i] == reason) {
            return i;
        }
    }
    return rcpt_reasons.size() - 1;
}

MilterMetrics::MilterMetrics() : started_(static_cast<std::int64_t>(std::time(nullptr))) {}

std::vector<std::shared_ptr<RcptCounters>> MilterMetrics::tables_for(
    const std::vector<decision::TenantPolicy>& tenants) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::shared_ptr<RcptCounters>> out;
    out.reserve(tenants.size());
    for (const auto& t : tenants) {
        auto& slot = tables_[t.name];
        if (!slot) {
            slot = std::make_shared<RcptCounters>();
        }
        out.push_back(slot);
    }
    return out;
}

void MilterMetrics::harvest_crossing(HarvestAction action) noexcept {
    harvest_crossings_[static_cast<std::size_t>(action)].fetch_add(1, std::memory_order_relaxed);
}

void MilterMetrics::render_rcpts(metrics::Exposition& out,
                                 const std::vector<decision::TenantPolicy>& tenants) const {
    constexpr const char* name = "m365gate_milter_rcpt_total";
    out.family(name, "counter",
               "RCPT commands answered, by verdict (as the MTA was told; would_* in report "
               "mode), reason and tenant (\"\" when no tenant owns the domain).");
    std::vector<std::pair<std::string, std::shared_ptr<RcptCounters>>> tables;
    {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& t : tenants) {
            const auto it = tables_.find(t.name);
            if (it != tables_.end()) {
                tables.emplace_back(t.name, it->second);
            }
        }
    }
    const auto emit = [&](const std::string& tenant, const RcptCounters& c) {
        for (std::size_t v = 0; v < rcpt_verdict_count; ++v) {
            for (std::size_t r = 0; r < rcpt_reasons.size(); ++r) {
                const auto verdict = static_cast<RcptVerdict>(v);
                if (const std::uint64_t n = c.get(verdict, r); n != 0) {
                    out.sample(name,
                               {{"verdict", to_string(verdict)},
                                {"reason", rcpt_reasons[r]},
                                {"tenant", tenant}},
                               n);
                }
            }
        }
    };
    emit("", no_tenant_);
    for (const auto& [tenant, table] : tables) {
        emit(tenant, *table);
    }
}

std::string MilterMetrics::render(const std::vector<decision::TenantPolicy>& tenants, bool store_ok,
                                  const std::vector<TenantStore>& states,
                                  std::size_t harvest_clients, std::int64_t now) const {
    metrics::Exposition out;
    render_rcpts(out, tenants);
    out.family("m365gate_milter_decision_duration_seconds", "histogram",
               "Time to decide one RCPT: store snapshot and the recipient decision.");
    latency_.render(out, "m365gate_milter_decision_duration_seconds");
    out.family(
        "m365gate_milter_harvest_crossings_total", "counter",
        "Clients that crossed the [milter.harvest] threshold, by action (report, 450, 421).");
    for (HarvestAction a :
         {HarvestAction::report, HarvestAction::tempfail, HarvestAction::disconnect}) {
        out.sample("m365gate_milter_harvest_crossings_total", {{"action", harvest_action_name(a)}},
                   harvest_crossings_[static_cast<std::size_t>(a)].load(std::memory_order_relaxed));
    }
    out.family("m365gate_milter_internal_errors_total", "counter",
               "Callbacks that failed with an internal error (the MTA got the fallback answer, "
               "a tempfail for RCPT).");
    out.sample("m365gate_milter_internal_errors_total", {},
               internal_errors_.load(std::memory_order_relaxed));
    out.family("m365gate_milter_harvest_clients", "gauge",
               "Clients the harvest defence keeps track of now.");
    out.sample("m365gate_milter_harvest_clients", {}, std::uint64_t{harvest_clients});
    out.family("m365gate_milter_store_available", "gauge",
               "1 when the milter has the store open, 0 when it answers on_cache_unavailable.");
    out.sample("m365gate_milter_store_available", {}, std::uint64_t{store_ok ? 1u : 0u});
    out.family("m365gate_milter_store_last_success_timestamp_seconds", "gauge",
               "Unix time of the tenant's last successful sync, as the milter reads the store.");
    for (const auto& s : states) {
        if (s.last_success != 0) {
            out.sample("m365gate_milter_store_last_success_timestamp_seconds", {{"tenant", s.name}},
                       static_cast<double>(s.last_success));
        }
    }
    out.family("m365gate_milter_store_age_seconds", "gauge",
               "Seconds since the tenant's last successful sync (the age of its list).");
    for (const auto& s : states) {
        if (s.last_success != 0) {
            out.sample("m365gate_milter_store_age_seconds", {{"tenant", s.name}},
                       static_cast<double>(now - s.last_success));
        }
    }
    out.family("m365gate_milter_store_addresses", "gauge", "Addresses in the tenant's list.");
    for (const auto& s : states) {
        out.sample("m365gate_milter_store_addresses", {{"tenant", s.name}}, s.addresses);
    }
    out.family("m365gate_milter_start_time_seconds", "gauge", "Unix time the milter started.");
    out.sample("m365gate_milter_start_time_seconds", {}, static_cast<double>(started_));
    return out.text();
}

std::string render_milter_metrics(App& app) {
    const std::shared_ptr<const Rules> rules = app.rules();
    std::vector<MilterMetrics::TenantStore> states;
    const auto st = app.store().get();
    if (st) {
        try {
            const store::Snapshot snapshot(*st);
            for (const auto& t : rules->policies) {
                MilterMetrics::TenantStore s;
                s.name = t.name;
                if (const auto state = snapshot.tenant_state(t.name)) {
                    s.last_success = state->last_success;
                    s.addresses = state->address_count;
                }
                states.push_back(std::move(s));
            }
        } catch (const std::exception&) {
            states.clear();  // the RCPT path notices and logs a broken store
        }
    }
    return app.metrics().render(rules->policies, st != nullptr, states, app.harvest().size(),
                                static_cast<std::int64_t>(std::time(nullptr)));
}

}  // namespace m365gate::milter
