// store_bench - figures for the store (Foundation issue): on a store of N addresses (default
// 1M), the time to publish them, bytes on disk per address, and random lookups per second on
// one thread with a fresh read transaction per lookup (as the milter does), hits and misses.
// Prints figures; not a pass/fail test.  Usage: store_bench [N] [DIR]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/store.h"

namespace fs = std::filesystem;
using namespace m365gate::store;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Realistic shapes: "firstname.lastname123@contoso-subsidiary.example", GUID object ids.
std::string address_of(int i) {
    static const char* first[] = {"alice", "bob",  "carol", "dave",    "erin", "frank",  "grace",
                                  "heidi", "ivan", "judy",  "mallory", "niaj", "olivia", "peggy"};
    static const char* domains[] = {"contoso.example", "fabrikam.example", "contoso.co.example"};
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s.user%07d@%s", first[i % 14], i, domains[i % 3]);
    return buf;
}

std::string guid_of(int i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012x", i * 2654435761u, i & 0xffff,
                  i & 0xfff, (i >> 12) & 0xfff, i);
    return buf;
}

// `full`: find() (builds the Recipient, as m365gatectl lookup needs); else contains().
double lookups_per_second(const Store& store, const std::vector<std::string>& keys,
                          std::size_t& found, bool full) {
    found = 0;
    const auto t0 = Clock::now();
    for (const auto& k : keys) {
        Snapshot snap(store);  // fresh read transaction per lookup, like the milter
        if (full ? snap.find("contoso", k).has_value() : snap.contains("contoso", k)) ++found;
    }
    return double(keys.size()) / seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 1000000;
    fs::path dir = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / "m365gate-bench";
    fs::remove_all(dir);

    TenantList list;
    list.tenant = "contoso";
    list.domains = {"contoso.example", "fabrikam.example", "contoso.co.example"};
    list.state.last_success = 1;
    list.objects.resize(n);
    for (int i = 0; i < n; ++i) {
        list.objects[i].id = guid_of(i);
        list.objects[i].addresses = {address_of(i)};
    }

    StoreOptions options;
    options.max_size = 8ull << 30;
    Store store(dir, options);
    auto t0 = Clock::now();
    publish(store, list);
    const double publish_s = seconds_since(t0);
    const auto first_size = store.file_size();

    // The daily full resync of a directory that changed a little: applied in place.
    for (int i = 0; i < 1000; ++i)
        list.objects[std::size_t(i) * 997 % n].addresses = {"renamed" + std::to_string(i) +
                                                            "@contoso.example"};
    t0 = Clock::now();
    publish(store, list);
    const double in_place_s = seconds_since(t0);
    const auto in_place_size = store.file_size();

    // A resync where everything changed: a new generation beside the old one, then reclaim().
    for (int i = 0; i < n; ++i) list.objects[i].addresses = {address_of(i)};
    for (int i = 0; i < n; i += 2) list.objects[i].id = guid_of(i + n);
    t0 = Clock::now();
    publish(store, list);
    const double republish_s = seconds_since(t0);
    const auto second_size = store.file_size();

    std::mt19937 rng(42);
    std::uniform_int_distribution<int> pick(0, n - 1);
    constexpr std::size_t lookups = 2000000;
    std::vector<std::string> hits, misses;
    hits.reserve(lookups);
    misses.reserve(lookups);
    for (std::size_t i = 0; i < lookups; ++i) {
        hits.push_back(address_of(pick(rng)));
        // A typo of a real address: spread over the whole key space like real misses
        // (a fixed prefix would land every miss on the same, always cached, page).
        std::string miss = address_of(pick(rng));
        miss.insert(miss.find('@'), "x");
        misses.push_back(std::move(miss));
    }
    std::size_t found_hits = 0, found_misses = 0, found_full = 0;
    const double hit_rate = lookups_per_second(store, hits, found_hits, false);
    const double miss_rate = lookups_per_second(store, misses, found_misses, false);
    const double full_rate = lookups_per_second(store, hits, found_full, true);

    std::printf("store_bench: %d addresses (one object each, GUID ids)\n", n);
    std::printf("  publish %d addresses (first):             %.2f s, %.0f bytes/address on disk\n",
                n, publish_s, double(first_size) / n);
    std::printf(
        "  full republish, 1,000 addresses changed (in place): %.2f s, %.0f bytes/address\n",
        in_place_s, double(in_place_size) / n);
    std::printf(
        "  full republish, every object changed (new generation + reclaim): %.2f s, %.0f "
        "bytes/address (data.mdb %.1f MiB: room for two copies, reused by the next one)\n",
        republish_s, double(second_size) / n, second_size / 1048576.0);
    std::printf(
        "  lookups/s, one thread, fresh read txn each: hits %.2fM/s (%zu/%zu found), "
        "misses %.2fM/s (%zu found)\n",
        hit_rate / 1e6, found_hits, lookups, miss_rate / 1e6, found_misses);
    std::printf("  with the directory object decoded (find): hits %.2fM/s\n", full_rate / 1e6);
    fs::remove_all(dir);
    return found_hits == lookups && found_full == lookups && found_misses == 0 ? 0 : 1;
}
