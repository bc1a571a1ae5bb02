// milter/milter_metrics.h - the milter's counters and their exposition (m365gate_milter.prom).
//
// The RCPT path counts without a lock or an allocation: each tenant has a RcptCounters, a fixed
// array of relaxed atomics indexed by (verdict, reason); the Rules of a config hold the tables of
// its tenants in the config's order (resolved once per config load), so an RCPT finds its table
// by the tenant's position. Tables are kept per tenant name for the life of the process: a
// reload keeps the counts of the tenants it keeps (a tenant removed is no longer written; added
// back, it goes on from its old counts). Decision latency goes into one LatencyHistogram.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/metrics.h"
#include "decision/decision.h"

namespace m365gate::milter {

class App;

// What the MTA was told, as the rejection log names it: continue, reject, tempfail, and in
// report mode would_reject, would_tempfail.
enum class RcptVerdict : std::uint8_t { continue_, reject, tempfail, would_reject, would_tempfail };
inline constexpr std::size_t rcpt_verdict_count = 5;
const char* to_string(RcptVerdict v);
RcptVerdict rcpt_verdict_of(const decision::Decision& d);

// Decision::reason's tokens (decision.h) and harvest_blocked, in this order; "other" for a token
// added later and not listed here.
inline constexpr std::array<std::string_view, 13> rcpt_reasons = {"unparseable",
                                                                  "null_sender_rcpt",
                                                                  "unmanaged_domain",
                                                                  "tenant_disabled",
                                                                  "cache_unavailable",
                                                                  "always_accept",
                                                                  "known",
                                                                  "extra_recipient",
                                                                  "known_subaddress",
                                                                  "stale",
                                                                  "unknown_recipient",
                                                                  "harvest_blocked",
                                                                  "other"};
std::size_t rcpt_reason_index(std::string_view reason) noexcept;

struct RcptCounters {
    std::array<std::atomic<std::uint64_t>, rcpt_verdict_count * rcpt_reasons.size()> counts{};
    void add(RcptVerdict verdict, std::size_t reason) noexcept {
        counts[static_cast<std::size_t>(verdict) * rcpt_reasons.size() + reason].fetch_add(
            1, std::memory_order_relaxed);
    }
    std::uint64_t get(RcptVerdict verdict, std::size_t reason) const noexcept {
        return counts[static_cast<std::size_t>(verdict) * rcpt_reasons.size() + reason].load(
            std::memory_order_relaxed);
    }
};

class MilterMetrics {
public:
    MilterMetrics();

    // The tables of `tenants`, in their order (found or created by name). Takes a lock: once
    // per config, never per RCPT.
    std::vector<std::shared_ptr<RcptCounters>> tables_for(
        const std::vector<decision::TenantPolicy>& tenants);
    // RCPTs of no tenant (unparseable, unmanaged domains...).
    RcptCounters& no_tenant() noexcept { return no_tenant_; }
    metrics::LatencyHistogram& decision_latency() noexcept { return latency_; }
    // A client crossed the harvest threshold; `action` is harvest_action_name().
    void harvest_crossing(HarvestAction action) noexcept;
    // A callback failed with an exception (glue.cpp's guarded(): the MTA got its fallback).
    void internal_error() noexcept { internal_errors_.fetch_add(1, std::memory_order_relaxed); }

    // The whole file: every table of `tenants`, the histogram, the harvest and store figures.
    // `store_ok`: a store is open; `states` the tenants' state read from it now.
    struct TenantStore {
        std::string name;
        std::int64_t last_success = 0;  // 0: never
        std::uint64_t addresses = 0;
    };
    std::string render(const std::vector<decision::TenantPolicy>& tenants, bool store_ok,
                       const std::vector<TenantStore>& states, std::size_t harvest_clients,
                       std::int64_t now) const;

private:
    void render_rcpts(metrics::Exposition& out,
                      const std::vector<decision::TenantPolicy>& tenants) const;

    mutable std::mutex mu_;  // tables_ only
    std::map<std::string, std::shared_ptr<RcptCounters>, std::less<>> tables_;
    RcptCounters no_tenant_;
    metrics::LatencyHistogram latency_;
    std::array<std::atomic<std::uint64_t>, 3> harvest_crossings_{};  // report, 450, 421
    std::atomic<std::uint64_t> internal_errors_{0};
    const std::int64_t started_;
};

// The text of m365gate_milter.prom for `app` now (the writer thread).
std::string render_milter_metrics(App& app);

}  // namespace m365gate::milter
