// decision/decision.h - the recipient decision of DESIGN.md ("The recipient decision", steps 1-8).
//
// A pure function of (address, settings, read view, now): no I/O beyond the snapshot's reads,
// no clock, no logging. The milter calls it for every RCPT and `m365gatectl lookup` calls the
// very same function, so what the admin sees is what the milter does. It lives beside the
// store (the read side of the cache) because nothing may depend on milter/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "store/store.h"

namespace m365gate::decision {

// The tenants the config knows: with no readable store, the config's `domains` decide which
// mail is ours (step 4), and extra_recipients count as known (step 5).
struct TenantPolicy {
    std::string name;
    std::vector<std::string> domains;           // canonical
    std::vector<std::string> extra_recipients;  // canonical
    std::optional<MilterMode> mode;             // the tenant's own; none: [milter] mode
    bool enabled = true;                        // false: its domains are not managed
};

struct Decision {
    Verdict verdict = Verdict::accept;      // what the MTA is told (after report mode)
    Verdict would_be = Verdict::accept;     // the verdict before report mode
    MilterMode mode = MilterMode::enforce;  // the mode applied: the owning tenant's or [milter]'s
    // Fixed tokens, grouped on by logs and reports: unparseable, null_sender_rcpt (for "<>"),
    // unmanaged_domain, tenant_disabled, cache_unavailable, always_accept, known, extra_recipient,
    // known_subaddress, stale, unknown_recipient; the milter adds harvest_blocked (its harvest
    // defence, not a step of the decision). Always a string literal: no allocation per RCPT.
    std::string_view reason;
    std::string tenant;   // "" when the domain is not managed
    std::string address;  // canonical form that was decided on ("" when unparseable)
    std::optional<store::Recipient> recipient;  // the directory object that holds it, when known
    int step = 0;                               // DESIGN.md step that decided (1-8)
};

// Step 6 (and step 3's role check) tries at most this many delimiter positions of one local
// part, leftmost first: a local part of 1,000 '+' costs 16 lookups, not 1,000.
inline constexpr std::size_t max_subaddress_cuts = 16;

// `snapshot` is null when the store is missing or unreadable. `now` is Unix seconds.
// `describe_object`: fill Decision::recipient (m365gatectl lookup); the milter needs only the
// verdict and skips decoding the directory object.
Decision decide(std::string_view rcpt, const DecisionSettings& settings,
                const std::vector<TenantPolicy>& tenants, const store::Snapshot* snapshot,
                std::int64_t now, bool describe_object = true);

// TenantPolicy list from the config (canonicalised once per config load).
std::vector<TenantPolicy> tenant_policies(const Config& cfg);

}  // namespace m365gate::decision
