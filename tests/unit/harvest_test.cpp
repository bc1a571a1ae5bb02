// The harvest defence's counting (milter/harvest.h): client keys, the sliding window, one
// crossing per episode, blocks, and the memory bound.
#include "milter/harvest.h"

#include <catch2/catch.hpp>
#include <string>

using namespace m365gate;
using namespace m365gate::milter;

namespace {

HarvestConfig config(int threshold, std::int64_t window, std::int64_t block_for = 1800,
                     std::uint64_t max_clients = 50'000) {
    HarvestConfig cfg;
    cfg.threshold = threshold;
    cfg.window = Seconds(window);
    cfg.block_for = Seconds(block_for);
    cfg.max_clients = max_clients;
    return cfg;
}

ClientKey key(const std::string& address) {
    const auto k = client_key(address);
    REQUIRE(k);
    return *k;
}

// Sends `n` unknown recipients from `client` at `now`; returns the crossings seen.
int send_unknown(HarvestGuard& guard, const ClientKey& client, const HarvestConfig& cfg, int n,
                 std::int64_t now, bool block = false) {
    int crossings = 0;
    for (int i = 0; i < n; ++i) {
        if (guard.note_unknown(client, cfg, block, now)) {
            ++crossings;
        }
    }
    return crossings;
}

}  // namespace

TEST_CASE("client keys: IPv4 as is, IPv6 by /64, mapped IPv4 as IPv4, junk not counted",
          "[harvest]") {
    CHECK(to_string(key("192.0.2.7")) == "192.0.2.7");
    CHECK(to_string(key("::ffff:192.0.2.7")) == "192.0.2.7");
    CHECK(key("::ffff:192.0.2.7") == key("192.0.2.7"));
    CHECK(to_string(key("2001:db8:1:2:a:b:c:d")) == "2001:db8:1:2::/64");
    CHECK(key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    CHECK_FALSE(key("2001:db8:1:2::1") == key("2001:db8:1:3::1"));
    CHECK(key("IPv6:2001:db8::1") == key("2001:db8::5"));  // Postfix's prefix
    CHECK_FALSE(key("192.0.2.7") == key("192.0.2.8"));
    for (const char* junk : {"", "local", "unknown", "192.0.2", "192.0.2.7.1", "mx.example",
                             "192.0.2.7 ", "::g", "IPv6:", "1.2.3.4/24"}) {
        CAPTURE(junk);
        CHECK_FALSE(client_key(junk));
    }
    CHECK_FALSE(client_key(std::string(100, '1')));
}

TEST_CASE("50 unknown recipients cross the threshold once, and another client is not affected",
          "[harvest]") {
    HarvestGuard guard;
    const auto cfg = config(20, 600);
    const ClientKey harvester = key("192.0.2.7");
    const ClientKey other = key("198.51.100.9");
    const std::int64_t t0 = 1'800'000'000;

    // The 20th crosses, with the count it reached; none of the next 30 crosses again.
    CHECK(send_unknown(guard, harvester, cfg, 19, t0) == 0);
    const auto crossing = guard.note_unknown(harvester, cfg, false, t0 + 1);
    REQUIRE(crossing);
    CHECK(crossing->unknown == 20);
    CHECK(crossing->blocked_until == 0);
    CHECK(send_unknown(guard, harvester, cfg, 30, t0 + 2) == 0);
    CHECK_FALSE(guard.blocked(harvester, t0 + 2));  // report only

    CHECK(send_unknown(guard, other, cfg, 19, t0 + 3) == 0);
    CHECK_FALSE(guard.blocked(other, t0 + 3));

    // Still harvesting a window later: reported again, once.
    CHECK(send_unknown(guard, harvester, cfg, 50, t0 + 601) == 1);
}

TEST_CASE("the window slides: unknown recipients spread thinner than the threshold never cross",
          "[harvest]") {
    HarvestGuard guard;
    const auto cfg = config(20, 600);
    const ClientKey client = key("2001:db8::7");
    const std::int64_t t0 = 1'800'000'000;
    for (int i = 0; i < 30; ++i) {
        // Bursts 11 minutes apart: never two in one window.
        CHECK(send_unknown(guard, client, cfg, 19, t0 + i * 660) == 0);
    }
    // 19 and, five minutes later, 1 more: 20 within the window.
    CHECK(send_unknown(guard, client, cfg, 1, t0 + 29 * 660 + 300) == 1);
    // A clock that goes back counts into the newest step, and crashes nothing.
    CHECK(send_unknown(guard, client, cfg, 5, t0) == 0);
}

TEST_CASE("a blocking crossing blocks for block_for, then counting starts anew", "[harvest]") {
    HarvestGuard guard;
    const auto cfg = config(20, 600, 1800);
    const ClientKey client = key("203.0.113.5");
    const ClientKey neighbour = key("203.0.113.6");
    const std::int64_t t0 = 1'800'000'000;
    CHECK(send_unknown(guard, client, cfg, 19, t0, true) == 0);
    CHECK_FALSE(guard.blocked(client, t0));
    const auto crossing = guard.note_unknown(client, cfg, true, t0 + 10);
    REQUIRE(crossing);
    CHECK(crossing->blocked_until == t0 + 10 + 1800);
    CHECK(guard.blocked(client, t0 + 10));
    CHECK(guard.blocked(client, t0 + 1809));
    CHECK_FALSE(guard.blocked(neighbour, t0 + 10));
    CHECK_FALSE(guard.blocked(client, t0 + 1810));
    // The block's crossing emptied the counts: 19 more do not cross, the 20th does.
    CHECK(send_unknown(guard, client, cfg, 19, t0 + 1811, true) == 0);
    CHECK(send_unknown(guard, client, cfg, 1, t0 + 1812, true) == 1);
}

TEST_CASE("threshold 0 is off", "[harvest]") {
    HarvestGuard guard;
    const ClientKey client = key("192.0.2.1");
    CHECK(send_unknown(guard, client, config(0, 600), 1000, 1'800'000'000, true) == 0);
    CHECK_FALSE(guard.blocked(client, 1'800'000'000));
    CHECK(guard.size() == 0);
}

TEST_CASE("memory stays bounded with 100k distinct clients, and the recently seen are kept",
          "[harvest]") {
    HarvestGuard guard;
    const auto cfg = config(3, 600, 1800, 16'000);
    const std::int64_t t0 = 1'800'000'000;
    // A blocked harvester that keeps trying stays blocked through the flood.
    const ClientKey harvester = key("192.0.2.200");
    CHECK(send_unknown(guard, harvester, cfg, 3, t0, true) == 1);
    for (int i = 0; i < 100'000; ++i) {
        // 100k distinct IPv6 /64s, each with one unknown recipient.
        char address[64];
        std::snprintf(address, sizeof address, "2001:db8:%x:%x::1", i >> 16, i & 0xffff);
        CHECK(send_unknown(guard, key(address), cfg, 1, t0 + 1) == 0);
        if (i % 1000 == 0) {
            CHECK(guard.blocked(harvester, t0 + 1));
        }
        if (i % 10'000 == 0) {
            CHECK(guard.size() <= 16'000);
        }
    }
    CHECK(guard.size() <= 16'000);
    CHECK(guard.size() > 8'000);  // bounded, not emptied
    CHECK(guard.blocked(harvester, t0 + 2));
    // The oldest of the flood were forgotten, the newest are kept.
    CHECK(send_unknown(guard, key("2001:db8:1:869f::1"), cfg, 2, t0 + 3) == 1);  // i = 99,999
}

TEST_CASE("a reload that changes the window forgets the counts", "[harvest]") {
    HarvestGuard guard;
    const ClientKey client = key("192.0.2.9");
    const std::int64_t t0 = 1'800'000'000;
    CHECK(send_unknown(guard, client, config(20, 600), 19, t0) == 0);
    CHECK(send_unknown(guard, client, config(20, 300), 19, t0) == 0);
    CHECK(send_unknown(guard, client, config(20, 300), 1, t0) == 1);
}
