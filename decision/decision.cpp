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

// The step that decided, and its verdict before report mode (decide() applies that).
void settle(Decision& d, Verdict verdict, const char* reason, int step) {
    d.verdict = verdict;
    d.reason = reason;
    d.step = step;
}

// Step 2: the tenant that owns `domain`, by the store first, else by the config's domains.
// Its name goes to `tenant` (left empty when no tenant owns the domain); returns its policy,
// null when the config does not know it.
const TenantPolicy* owning_tenant(std::string_view domain, const std::vector<TenantPolicy>& tenants,
                                  const Snapshot* snapshot, std::string& tenant) {
    const TenantPolicy* policy = nullptr;
    if (snapshot != nullptr) {
        if (auto owner = snapshot->tenant_of_domain(domain)) {
            tenant = std::move(*owner);
            policy = policy_by_name(tenants, tenant);
        }
    }
    if (tenant.empty()) {
        policy = policy_by_domain(tenants, domain);
        if (policy != nullptr) {
            tenant = policy->name;
        }
    }
    return policy;
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

// Step 3: the local part, whole or cut at one of `cuts`, is in always_accept.
bool is_role_address(std::string_view local, const std::vector<std::size_t>& cuts,
                     const std::vector<std::string>& always_accept) {
    bool role = contains(always_accept, local);
    for (std::size_t i = 0; i < cuts.size() && !role; ++i) {
        role = contains(always_accept, local.substr(0, cuts[i]));
    }
    return role;
}

// Step 4: the tenant's last successful sync; 0 when it has no usable data (no store, never
// synced, or no state at all).
std::int64_t last_success_of(const Snapshot* snapshot, const std::string& tenant) {
    return snapshot != nullptr ? snapshot->last_success(tenant).value_or(0) : 0;
}

// Step 6: step 5 for the address cut at each of `cuts` in turn, leftmost first.
bool find_subaddress(const Address& addr, const std::vector<std::size_t>& cuts,
                     const std::string& tenant, const TenantPolicy* policy,
                     const Snapshot& snapshot, bool describe_object,
                     std::optional<Recipient>& recipient) {
    std::string base;
    for (const std::size_t cut : cuts) {
        base.assign(addr.local, 0, cut).append(1, '@').append(addr.domain);
        if (find_recipient(base, tenant, policy, snapshot, describe_object, recipient) != nullptr) {
            return true;
        }
    }
    return false;
}

// Steps 1-8 in order, into `d`: the first step that decides ends the walk.
// `owner` receives the policy of the tenant that owns the domain, when the config has one.
void decide_enforced(std::string_view rcpt, const DecisionSettings& settings,
                     const std::vector<TenantPolicy>& tenants, const Snapshot* snapshot,
                     std::int64_t now, bool describe_object, Decision& d,
                     const TenantPolicy*& owner) {
    // 1. Strip <>, drop a source route, split at the last '@', unquote a quoted dot-atom local
    //    part (parse_rcpt does all of it, length bound first).
    if (is_null_path(rcpt)) {
        settle(d, Verdict::accept, "null_sender_rcpt", 1);
        return;
    }
    const auto addr = parse_rcpt(rcpt);
    if (!addr) {
        settle(d, Verdict::accept, "unparseable", 1);
        return;
    }
    d.address = canonical_key(*addr);

    // 2. Managed domain? parse_rcpt gave the domain in the store's canonical form: trailing
    //    dot removed, U-labels as A-labels, ASCII lowercased. Exact match only: a subdomain of
    //    a managed domain is not managed.
    const TenantPolicy* policy = owning_tenant(addr->domain, tenants, snapshot, d.tenant);
    owner = policy;
    if (d.tenant.empty()) {
        settle(d, Verdict::accept, "unmanaged_domain", 2);
        return;
    }
    //    A tenant configured with enabled = false is not enforced: its domains are answered
    //    as unmanaged (the reason tells them apart in a lookup).
    if (policy != nullptr && !policy->enabled) {
        settle(d, Verdict::accept, "tenant_disabled", 2);
        return;
    }

    // 3. Role addresses every domain must accept (RFC 5321 4.5.1 postmaster, abuse), also with
    //    a subaddress cut off, whatever the state of the store.
    const std::vector<std::size_t> cuts = cut_positions(*addr, settings.subaddress_delimiters);
    if (is_role_address(addr->local, cuts, settings.always_accept)) {
        settle(d, Verdict::accept, "always_accept", 3);
        return;
    }

    // 4. No usable data for the owning tenant. Past this step there is a snapshot.
    const std::int64_t last_success = last_success_of(snapshot, d.tenant);
    if (last_success == 0) {
        settle(d, settings.on_cache_unavailable, "cache_unavailable", 4);
        return;
    }

    // 5. The whole address is a known recipient or an extra recipient of the tenant.
    if (const char* reason =
            find_recipient(d.address, d.tenant, policy, *snapshot, describe_object, d.recipient)) {
        settle(d, Verdict::accept, reason, 5);
        return;
    }

    // 6. Subaddress: cut at each delimiter position in turn, leftmost first, and retry step 5
    //    ("mary-jane+news" finds "mary-jane" with delimiters "+-").
    if (find_subaddress(*addr, cuts, d.tenant, policy, *snapshot, describe_object, d.recipient)) {
        settle(d, Verdict::accept, "known_subaddress", 6);
        return;
    }

    // 7. Stale list: the last good list is still the best answer (default reject).
    if (now - last_success > static_cast<std::int64_t>(settings.stale_after.count())) {
        settle(d, settings.on_stale, "stale", 7);
        return;
    }

    // 8. Unknown.
    settle(d, Verdict::reject, "unknown_recipient", 8);
}

}  // namespace

Decision decide(std::string_view rcpt, const DecisionSettings& settings,
                const std::vector<TenantPolicy>& tenants, const Snapshot* snapshot,
                std::int64_t now, bool describe_object) {
    Decision d;  // the one Decision of this RCPT: every step writes into it, none copies it
    const TenantPolicy* owner = nullptr;
    decide_enforced(rcpt, settings, tenants, snapshot, now, describe_object, d, owner);
    d.would_be = d.verdict;
    // Report mode, the owning tenant's or else [milter]'s: nothing is refused; the caller logs
    // would_be as a would-reject/tempfail.
    d.mode = owner != nullptr && owner->mode ? *owner->mode : settings.mode;
    if (d.mode == MilterMode::report) {
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
        p.mode = t.mode;
        p.enabled = t.enabled;
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
