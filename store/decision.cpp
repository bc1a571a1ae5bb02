// store/decision.cpp - the recipient decision of DESIGN.md, steps 1-8.
//
// Pure: the only reads are through the Snapshot, the only inputs are the arguments. Every
// return names the DESIGN step that decided, so a reviewer can check each line against the
// spec, and a fixed reason token that logs and reports group on.
#include "store/decision.h"

#include <algorithm>

#include "store/address.h"

namespace m365gate::store {
namespace {

// "<>" (possibly with blanks) is the null path: a bounce address, never a recipient of ours.
bool is_null_path(std::string_view raw) {
    std::string_view s = raw;
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s.empty() || s == "<>";
}

const TenantPolicy* policy_by_domain(const std::vector<TenantPolicy>& tenants,
                                     std::string_view domain) {
    for (const auto& t : tenants) {
        if (std::find(t.domains.begin(), t.domains.end(), domain) != t.domains.end()) {
            return &t;
        }
    }
    return nullptr;
}

const TenantPolicy* policy_by_name(const std::vector<TenantPolicy>& tenants,
                                   std::string_view name) {
    for (const auto& t : tenants) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// Step 5 for one candidate address: the directory first, then the config's extra recipients.
// Returns the reason token, or nullptr when the address is not a recipient.
const char* find_recipient(std::string_view key, const std::string& tenant,
                           const TenantPolicy* policy, const Snapshot& snapshot,
                           bool describe_object, std::optional<Recipient>& recipient) {
    if (describe_object) {
        recipient = snapshot.find(tenant, key);
        if (recipient) {
            return "known";
        }
    } else if (snapshot.contains(tenant, key)) {
        return "known";
    }
    if (policy != nullptr && contains(policy->extra_recipients, key)) {
        return "extra_recipient";
    }
    return nullptr;
}

Decision make(Verdict verdict, const char* reason, int step) {
    Decision d;
    d.verdict = verdict;
    d.would_be = verdict;
    d.reason = reason;
    d.step = step;
    return d;
}

Decision decide_enforced(std::string_view rcpt, const DecisionSettings& settings,
                         const std::vector<TenantPolicy>& tenants, const Snapshot* snapshot,
                         std::int64_t now, bool describe_object) {
    // 1. Strip <>, drop a source route, split at the last '@' (parse_rcpt does all three).
    if (is_null_path(rcpt)) {
        return make(Verdict::accept, "null_sender_rcpt", 1);
    }
    const auto addr = parse_rcpt(rcpt);
    if (!addr) {
        return make(Verdict::accept, "unparseable", 1);
    }
    std::string key = canonical_key(*addr);

    // 2. Managed domain? (parse_rcpt lowercased the domain and removed one trailing dot.)
    //    Exact match only: a subdomain of a managed domain is not managed.
    std::string tenant;
    const TenantPolicy* policy = nullptr;
    if (snapshot != nullptr) {
        if (auto owner = snapshot->tenant_of_domain(addr->domain)) {
            tenant = std::move(*owner);
            policy = policy_by_name(tenants, tenant);
        }
    }
    if (tenant.empty()) {
        policy = policy_by_domain(tenants, addr->domain);
        if (policy != nullptr) {
            tenant = policy->name;
        }
    }
    if (tenant.empty()) {
        Decision d = make(Verdict::accept, "unmanaged_domain", 2);
        d.address = std::move(key);
        return d;
    }

    // 3. No usable data for the owning tenant: no store, never synced, or no state at all.
    std::optional<std::int64_t> last_success;
    if (snapshot != nullptr) {
        last_success = snapshot->last_success(tenant);
    }
    if (!last_success || *last_success == 0) {
        Decision d = make(settings.on_cache_unavailable, "cache_unavailable", 3);
        d.tenant = std::move(tenant);
        d.address = std::move(key);
        return d;
    }

    Decision d;
    d.tenant = std::move(tenant);

    // 4. Role addresses every domain must accept (RFC 5321 postmaster, abuse).
    if (contains(settings.always_accept, addr->local)) {
        d.reason = "always_accept";
        d.step = 4;
        d.address = std::move(key);
        return d;
    }

    // 5. The whole address is a known recipient or an extra recipient of the tenant.
    if (const char* reason =
            find_recipient(key, d.tenant, policy, *snapshot, describe_object, d.recipient)) {
        d.reason = reason;
        d.step = 5;
        d.address = std::move(key);
        return d;
    }

    // 6. Subaddress: strip from the first delimiter of the local part and retry step 5.
    //    A delimiter in first position leaves no base address: nothing to retry.
    const auto cut = settings.subaddress_delimiters.empty()
                         ? std::string::npos
                         : addr->local.find_first_of(settings.subaddress_delimiters);
    if (cut != std::string::npos && cut > 0) {
        const std::string base = addr->local.substr(0, cut) + '@' + addr->domain;
        if (find_recipient(base, d.tenant, policy, *snapshot, describe_object, d.recipient) !=
            nullptr) {
            d.reason = "known_subaddress";
            d.step = 6;
            d.address = std::move(key);
            return d;
        }
    }

    d.address = std::move(key);
    // 7. Stale list: the last good list is still the best answer (default reject).
    if (now - *last_success > static_cast<std::int64_t>(settings.stale_after.count())) {
        d.verdict = d.would_be = settings.on_stale;
        d.reason = "stale";
        d.step = 7;
        return d;
    }

    // 8. Unknown.
    d.verdict = d.would_be = Verdict::reject;
    d.reason = "unknown_recipient";
    d.step = 8;
    return d;
}

}  // namespace

Decision decide(std::string_view rcpt, const DecisionSettings& settings,
                const std::vector<TenantPolicy>& tenants, const Snapshot* snapshot,
                std::int64_t now, bool describe_object) {
    Decision d = decide_enforced(rcpt, settings, tenants, snapshot, now, describe_object);
    d.would_be = d.verdict;
    // Report mode: nothing is refused; the caller logs would_be as a would-reject/tempfail.
    if (settings.mode == MilterMode::report) {
        d.verdict = Verdict::accept;
    }
    return d;
}

std::vector<TenantPolicy> tenant_policies(const Config& cfg) {
    std::vector<TenantPolicy> out;
    out.reserve(cfg.tenants.size());
    for (const auto& t : cfg.tenants) {
        TenantPolicy p;
        p.name = t.name;
        for (const auto& domain : t.domains) {
            std::string canonical = canonical_domain(domain);
            if (!canonical.empty() && !contains(p.domains, canonical)) {
                p.domains.push_back(std::move(canonical));
            }
        }
        for (const auto& extra : t.extra_recipients) {
            if (auto canonical = canonical_address(extra)) {
                if (!contains(p.extra_recipients, *canonical)) {
                    p.extra_recipients.push_back(std::move(*canonical));
                }
            }
        }
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace m365gate::store
