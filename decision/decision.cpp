// decision/decision.cpp - the recipient decision of DESIGN.md, steps 1-8.
//
// Pure: the only reads are through the Snapshot, the only inputs are the arguments. Every
// return names the DESIGN step that decided, so a reviewer can check each line against the
// spec, and a fixed reason token that logs and reports group on.
#include "decision/decision.h"

#include <algorithm>

#include "common/address.h"

namespace m365gate::decision {

using store::Recipient;
using store::Snapshot;

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

// Step 6's cut positions: every delimiter after the first byte of the local part, leftmost
// first, at most max_subaddress_cuts of them. A quoted local part (not a dot-atom) is not cut.
std::vector<std::size_t> cut_positions(const Address& addr, std::string_view delimiters) {
    std::vector<std::size_t> cuts;
    if (addr.quoted || delimiters.empty()) {
        return cuts;
    }
    for (std::size_t i = 1; i < addr.local.size() && cuts.size() < max_subaddress_cuts; ++i) {
        if (delimiters.find(addr.local[i]) != std::string_view::npos) {
            cuts.push_back(i);
        }
    }
    return cuts;
}

Decision decide_enforced(std::string_view rcpt, const DecisionSettings& settings,
                         const std::vector<TenantPolicy>& tenants, const Snapshot* snapshot,
                         std::int64_t now, bool describe_object) {
    // 1. Strip <>, drop a source route, split at the last '@', unquote a quoted dot-atom local
    //    part (parse_rcpt does all of it, length bound first).
    if (is_null_path(rcpt)) {
        return make(Verdict::accept, "null_sender_rcpt", 1);
    }
    const auto addr = parse_rcpt(rcpt);
    if (!addr) {
        return make(Verdict::accept, "unparseable", 1);
    }
    std::string key = canonical_key(*addr);

    // 2. Managed domain? parse_rcpt gave the domain in the store's canonical form: trailing
    //    dot removed, U-labels as A-labels, ASCII lowercased. Exact match only: a subdomain of
    //    a managed domain is not managed.
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

    Decision d;
    d.tenant = std::move(tenant);
    const std::vector<std::size_t> cuts = cut_positions(*addr, settings.subaddress_delimiters);

    // 3. Role addresses every domain must accept (RFC 5321 4.5.1 postmaster, abuse), also with
    //    a subaddress cut off, whatever the state of the store.
    bool role = contains(settings.always_accept, addr->local);
    for (std::size_t i = 0; i < cuts.size() && !role; ++i) {
        role = contains(settings.always_accept, std::string_view(addr->local).substr(0, cuts[i]));
    }
    if (role) {
        d.reason = "always_accept";
        d.step = 3;
        d.address = std::move(key);
        return d;
    }

    // 4. No usable data for the owning tenant: no store, never synced, or no state at all.
    std::optional<std::int64_t> last_success;
    if (snapshot != nullptr) {
        last_success = snapshot->last_success(d.tenant);
    }
    if (!last_success || *last_success == 0) {
        d.verdict = d.would_be = settings.on_cache_unavailable;
        d.reason = "cache_unavailable";
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

    // 6. Subaddress: cut at each delimiter position in turn, leftmost first, and retry step 5
    //    ("mary-jane+news" finds "mary-jane" with delimiters "+-").
    std::string base;
    for (const std::size_t cut : cuts) {
        base.assign(addr->local, 0, cut).append(1, '@').append(addr->domain);
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
        TenantPolicy p;  // the config already holds A-labels; canonicalised again all the same
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

}  // namespace m365gate::decision
