// milter/harvest.h - the directory-harvest defence: unknown recipients per client in a sliding
// window ([milter.harvest], common/config.h).
//
// A harvest run tries many made-up addresses from one client. Each RCPT the decision answers
// unknown_recipient is counted for its client; the client that reaches `threshold` within
// `window` crosses it once: the caller logs one `event=harvest` line, and with action "450" or
// "421" answers every later RCPT of that client so for `block_for`. In report mode (the
// default) nothing is refused, and a client still harvesting is logged again once per window.
//
// A client is an IPv4 address or the /64 of an IPv6 address (one host usually holds a whole
// /64); an IPv4-mapped IPv6 address counts as its IPv4 address. The window is kept as ten
// counters of window/10 seconds each: a count covers the last 9/10 to 10/10 of a window.
//
// Memory is bounded, never one entry per address seen: at most max_clients clients (about 150
// bytes each), spread over 16 shards with their own lock and least-recently-used order; the
// client seen least recently is forgotten first. The shards' hash is keyed with random bits per
// process, so a client choosing its addresses cannot aim them at one hash bucket. Thread safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/config.h"

namespace m365gate::milter {

// IPv4 as ::ffff:a.b.c.d, IPv6 with its low 64 bits zero.
struct ClientKey {
    std::array<std::uint8_t, 16> bytes{};
    bool operator==(const ClientKey& o) const noexcept { return bytes == o.bytes; }
};

// The key of a textual IPv4 or IPv6 address (as the MTA gives {client_addr}, an IPv6 one with
// or without Postfix's "IPv6:" prefix); nullopt for anything else ("", "local", junk): such
// clients are not counted.
std::optional<ClientKey> client_key(std::string_view address);
// "192.0.2.7", "2001:db8:1:2::/64".
std::string to_string(const ClientKey& key);

// Keyed with random bits per HarvestGuard (see above).
struct ClientKeyHash {
    std::uint64_t seed0 = 0;
    std::uint64_t seed1 = 0;
    std::size_t operator()(const ClientKey& key) const noexcept;
};

struct HarvestCrossing {
    std::uint32_t unknown = 0;       // unknown recipients within the window, this one included
    std::int64_t blocked_until = 0;  // Unix seconds; 0 when the client is only reported
};

class HarvestGuard {
public:
    HarvestGuard();
    HarvestGuard(const HarvestGuard&) = delete;
    HarvestGuard& operator=(const HarvestGuard&) = delete;

    // Whether `client` is blocked at `now` (it crossed with a blocking action less than
    // block_for ago). Keeps a blocked client among the recently seen.
    bool blocked(const ClientKey& client, std::int64_t now);

    // Counts one unknown recipient of `client`. Returns the crossing when this one makes the
    // client cross the threshold (at most once per window in report mode, once per block
    // otherwise); nullopt otherwise, and always when cfg.threshold is 0. `block`: whether a
    // crossing blocks (action "450"/"421" and the RCPT was decided in enforce mode).
    std::optional<HarvestCrossing> note_unknown(const ClientKey& client, const HarvestConfig& cfg,
                                                bool block, std::int64_t now);

    std::size_t size() const;  // clients tracked now

    static constexpr std::size_t shard_count = 16;
    static constexpr std::size_t window_steps = 10;

private:
    struct Entry {
        ClientKey key;
        std::int64_t newest_step = 0;  // the step (now / step width) of the newest counter
        std::array<std::uint32_t, window_steps> counts{};
        std::int64_t quiet_until = 0;    // no new crossing before
        std::int64_t blocked_until = 0;  // blocked while now < blocked_until
    };
    using Lru = std::list<Entry>;  // most recently seen first
    struct Shard {
        mutable std::mutex mu;
        Lru lru;
        std::unordered_map<ClientKey, Lru::iterator, ClientKeyHash> index;
        std::int64_t window = 0;  // the window the counts were kept for
    };

    Shard& shard_of(const ClientKey& key);

    ClientKeyHash hash_;
    std::array<Shard, shard_count> shards_;
};

}  // namespace m365gate::milter
