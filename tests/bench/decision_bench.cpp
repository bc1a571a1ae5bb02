// tests/bench/decision_bench.cpp - decisions per second, in process, one thread, on a store of
// 1,000,000 addresses (DESIGN "The recipient decision"; the issue wants >= 1M/s).
//
//   decision_bench [--addresses N] [--seconds S] [--store DIR]
//
// Fills a store in a temporary directory (or reuses DIR when it already holds the tenant), then
// runs decide() on a mix of half known, half unknown recipients, in the form Postfix sends them
// ("<User0001234@Bench.Example>"): once with one Snapshot per decision, as the milter does,
// and once with one Snapshot for the whole run (the lookups alone).
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/config.h"
#include "decision/decision.h"
#include "store/store.h"

namespace {

using namespace m365gate;
using Clock = std::chrono::steady_clock;

std::string user(std::uint64_t n, const char* prefix) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%07llu@bench.example", prefix,
                  static_cast<unsigned long long>(n));
    return buf;
}

void fill(store::Store& st, std::uint64_t count, std::int64_t now) {
    store::TenantList list;
    list.tenant = "bench";
    list.domains = {"bench.example"};
    list.objects.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
        list.objects.push_back(
            {store::ObjectKind::user, "u" + std::to_string(i), {user(i, "user")}});
    }
    list.state.last_attempt = now;
    list.state.last_success = now;
    list.state.address_count = count;
    list.state.object_count = count;
    list.state.domain_count = 1;
    store::publish(st, list);
}

struct Result {
    std::uint64_t decisions = 0;
    std::uint64_t rejected = 0;
    double seconds = 0;
};

template <typename Decide>
Result run(const std::vector<std::string>& queries, double seconds, Decide&& decide_one) {
    Result r;
    const auto start = Clock::now();
    const auto until = start + std::chrono::duration<double>(seconds);
    std::size_t i = 0;
    while (true) {
        for (int k = 0; k < 4096; ++k) {
            if (decide_one(queries[i]).verdict != Verdict::accept) {
                ++r.rejected;
            }
            ++r.decisions;
            if (++i == queries.size()) {
                i = 0;
            }
        }
        if (Clock::now() >= until) {
            break;
        }
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return r;
}

void print(const char* label, const Result& r) {
    std::printf(
        "%-36s %10llu decisions in %5.2f s = %9.0f decisions/s (%.0f ns each), %llu rejected\n",
        label, static_cast<unsigned long long>(r.decisions), r.seconds,
        static_cast<double>(r.decisions) / r.seconds,
        r.seconds * 1e9 / static_cast<double>(r.decisions),
        static_cast<unsigned long long>(r.rejected));
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t count = 1000000;
    double seconds = 3;
    std::filesystem::path dir;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--addresses") {
            count = std::stoull(argv[i + 1]);
        } else if (flag == "--seconds") {
            seconds = std::stod(argv[i + 1]);
        } else if (flag == "--store") {
            dir = argv[i + 1];
        } else {
            std::cerr << "usage: decision_bench [--addresses N] [--seconds S] [--store DIR]\n";
            return 64;
        }
    }
    bool temporary = false;
    if (dir.empty()) {
        std::string pattern = (std::filesystem::temp_directory_path() / "dbench.XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            std::perror("mkdtemp");
            return 1;
        }
        dir = std::filesystem::path(pattern) / "store";
        temporary = true;
    }
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    try {
        store::StoreOptions options;
        options.max_size = 4ull << 30;
        {
            store::Store writer(dir, options);
            const bool have = [&] {
                store::Snapshot s(writer);
                return s.address_count("bench") == count;
            }();
            if (!have) {
                const auto t0 = Clock::now();
                fill(writer, count, now);
                std::printf("filled %llu addresses in %.2f s, data.mdb %llu bytes\n",
                            static_cast<unsigned long long>(count),
                            std::chrono::duration<double>(Clock::now() - t0).count(),
                            static_cast<unsigned long long>(writer.file_size()));
            }
        }
        options.read_only = true;
        options.create = false;
        const store::Store reader(dir, options);

        // Half known, half unknown, in Postfix's argv form with mixed case.
        std::mt19937_64 rng(42);
        std::uniform_int_distribution<std::uint64_t> pick(0, count - 1);
        std::vector<std::string> queries;
        queries.reserve(1 << 20);
        for (std::size_t i = 0; i < (1u << 20); ++i) {
            std::string a = user(pick(rng), i % 2 == 0 ? "User" : "NoUser");
            a[a.find('@') + 1] = 'B';
            queries.push_back("<" + a + ">");
        }

        DecisionSettings settings;
        Config cfg;
        TenantConfig t;
        t.name = "bench";
        t.domains = {"bench.example"};
        cfg.tenants.push_back(t);
        const auto policies = decision::tenant_policies(cfg);

        // As the milter calls it: a Snapshot per RCPT, no directory object decoded.
        constexpr bool describe_object = false;
        print("snapshot per decision (as the milter)",
              run(queries, seconds, [&](const std::string& q) {
                  const store::Snapshot snap(reader);
                  return decision::decide(q, settings, policies, &snap, now, describe_object);
              }));
        {
            const store::Snapshot snap(reader);
            print("one snapshot for the run", run(queries, seconds, [&](const std::string& q) {
                      return decision::decide(q, settings, policies, &snap, now, describe_object);
                  }));
        }
    } catch (const std::exception& e) {
        std::cerr << "decision_bench: " << e.what() << "\n";
        return 1;
    }
    if (temporary) {
        std::error_code ec;
        std::filesystem::remove_all(dir.parent_path(), ec);
    }
    return 0;
}
