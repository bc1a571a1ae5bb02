// milter/harvest.cpp - the directory-harvest defence (harvest.h).
#include "milter/harvest.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace m365gate::milter {
namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix = {0, 0, 0, 0, 0,    0,
                                                           0, 0, 0, 0, 0xff, 0xff};
constexpr std::size_t max_address_text = 64;

bool is_v4_mapped(const ClientKey& key) {
    return std::equal(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), key.bytes.begin());
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) {
        return false;
    }
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
        if (c != prefix[i]) {
            return false;
        }
    }
    return true;
}

std::uint64_t load64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// splitmix64's finaliser.
std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

// The step number of `now` for a window of `window` seconds (window_steps steps).
std::int64_t step_of(std::int64_t now, std::int64_t window) {
    const std::int64_t width =
        std::max<std::int64_t>(1, window / std::int64_t(HarvestGuard::window_steps));
    return now / width;
}

}  // namespace

std::optional<ClientKey> client_key(std::string_view address) {
    if (starts_with_nocase(address, "ipv6:")) {
        address.remove_prefix(5);  // Postfix writes IPv6 client addresses so in some places
    }
    if (address.empty() || address.size() > max_address_text) {
        return std::nullopt;
    }
    const std::string text(address);  // inet_pton needs a terminated string
    ClientKey key;
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        std::copy(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), key.bytes.begin());
        std::memcpy(key.bytes.data() + 12, &v4, 4);
        return key;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) {
        return std::nullopt;
    }
    std::memcpy(key.bytes.data(), &v6, 16);
    if (!is_v4_mapped(key)) {
        std::fill(key.bytes.begin() + 8, key.bytes.end(), std::uint8_t{0});  // its /64
    }
    return key;
}

std::string to_string(const ClientKey& key) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_v4_mapped(key)) {
        inet_ntop(AF_INET, key.bytes.data() + 12, buf, sizeof buf);
        return buf;
    }
    inet_ntop(AF_INET6, key.bytes.data(), buf, sizeof buf);
    return std::string(buf) + "/64";
}

std::size_t ClientKeyHash::operator()(const ClientKey& key) const noexcept {
    const std::uint64_t a = load64(key.bytes.data());
    const std::uint64_t b = load64(key.bytes.data() + 8);
    return static_cast<std::size_t>(mix(mix(a ^ seed0) ^ b ^ seed1));
}

HarvestGuard::HarvestGuard() {
    std::random_device random;
    hash_.seed0 = (std::uint64_t(random()) << 32) ^ random();
    hash_.seed1 = (std::uint64_t(random()) << 32) ^ random();
    for (Shard& shard : shards_) {
        shard.index = decltype(shard.index)(64, hash_);
    }
}

HarvestGuard::Shard& HarvestGuard::shard_of(const ClientKey& key) {
    // The hash's top bits pick the shard; the map uses all of them (its bucket is a modulus).
    return shards_[hash_(key) >> 60 & (shard_count - 1)];
}

bool HarvestGuard::blocked(const ClientKey& client, std::int64_t now) {
    Shard& shard = shard_of(client);
    std::lock_guard<std::mutex> lock(shard.mu);
    const auto it = shard.index.find(client);
    if (it == shard.index.end() || now >= it->second->blocked_until) {
        return false;
    }
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return true;
}

std::optional<HarvestCrossing> HarvestGuard::note_unknown(const ClientKey& client,
                                                          const HarvestConfig& cfg, bool block,
                                                          std::int64_t now) {
    if (cfg.threshold <= 0) {
        return std::nullopt;
    }
    const std::int64_t window = cfg.window.count();
    const std::size_t capacity =
        std::max<std::size_t>(1, static_cast<std::size_t>(cfg.max_clients) / shard_count);
    Shard& shard = shard_of(client);
    std::lock_guard<std::mutex> lock(shard.mu);
    if (shard.window != window) {  // a reload changed the window: the old counts mean nothing
        shard.index.clear();
        shard.lru.clear();
        shard.window = window;
    }
    const std::int64_t step = step_of(now, window);
    auto it = shard.index.find(client);
    if (it == shard.index.end()) {
        while (shard.lru.size() >= capacity) {  // also after a reload lowered max_clients
            shard.index.erase(shard.lru.back().key);
            shard.lru.pop_back();
        }
        shard.lru.push_front(Entry{client, step, {}, 0, 0});
        it = shard.index.emplace(client, shard.lru.begin()).first;
    } else {
        shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    }
    Entry& entry = *it->second;

    // Slide: counters of the steps between the newest and now start from zero. A clock that
    // went back counts into the newest counter.
    if (step > entry.newest_step) {
        const std::int64_t gap = std::min<std::int64_t>(step - entry.newest_step, window_steps);
        for (std::int64_t s = 1; s <= gap; ++s) {
            entry.counts[static_cast<std::size_t>((entry.newest_step + s) % window_steps)] = 0;
        }
        entry.newest_step = step;
    }
    std::uint32_t& newest =
        entry.counts[static_cast<std::size_t>(entry.newest_step % window_steps)];
    newest = newest == UINT32_MAX ? newest : newest + 1;
    std::uint64_t total = 0;
    for (std::uint32_t count : entry.counts) {
        total += count;
    }
    if (total < static_cast<std::uint64_t>(cfg.threshold) || now < entry.quiet_until) {
        return std::nullopt;
    }
    HarvestCrossing crossing;
    crossing.unknown = static_cast<std::uint32_t>(std::min<std::uint64_t>(total, UINT32_MAX));
    if (block) {
        // Blocked RCPTs are not decided, so not counted: after the block, counting starts anew.
        crossing.blocked_until = now + cfg.block_for.count();
        entry.blocked_until = crossing.blocked_until;
        entry.quiet_until = crossing.blocked_until;
        entry.counts.fill(0);
    } else {
        entry.quiet_until = now + window;  // one line per window while it keeps harvesting
    }
    return crossing;
}

std::size_t HarvestGuard::size() const {
    std::size_t total = 0;
    for (const Shard& shard : shards_) {
        std::lock_guard<std::mutex> lock(shard.mu);
        total += shard.lru.size();
    }
    return total;
}

}  // namespace m365gate::milter
