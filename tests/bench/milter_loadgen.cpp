// tests/bench/milter_loadgen.cpp - m365gate-milter-loadgen: a small client of the milter
// protocol (the MTA side; libmilter is server-only), for the benchmark and for tests that must
// see the exact reply text, which miltertest cannot show at RCPT time.
//
//   probe: m365gate-milter-loadgen --socket unix:/p --probe [--from A] --rcpt A [--rcpt B...]
//          one connection, one message; prints one line per RCPT:
//            <a@x> continue | reject | tempfail | accept | reply 550 5.1.1 <text>
//   bench: m365gate-milter-loadgen --socket unix:/p --users N --domain D
//          [--connections 1,8,64] [--seconds 5] [--rcpts 10] [--unknown-reply "550 5.1.1"]
//          recipients user<n>@D (n < N: known) and nouser<n>@D (unknown), alternating;
//          prints RCPT/s and p50/p99 latency per connection count, and checks every answer:
//          a known recipient must get continue, an unknown one a reply starting with
//          --unknown-reply. Wrong answers are counted and reported (the first few on stderr);
//          the exit status is 1 when there was any wrong answer or failed connection.
//
// The protocol client itself is tests/tools/milter_client.h (shared with the fault tools).
#include <libmilter/mfdef.h>
#include <sysexits.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../tools/milter_client.h"

namespace {

using Clock = std::chrono::steady_clock;

using Reply = m365gate::testing::MilterReply;
using m365gate::testing::describe;
using m365gate::testing::MilterClient;

int probe(const std::string& socket, const std::string& from,
          const std::vector<std::string>& rcpts) {
    MilterClient client(socket);
    std::cout << "negotiated protocol=0x" << std::hex << client.protocol() << std::dec << "\n";
    client.connect_info("client.example", "192.0.2.7");
    client.mail(from);
    for (const auto& r : rcpts) {
        std::cout << "<" << r << "> " << describe(client.rcpt(r)) << "\n";
    }
    client.abort_message();
    return EX_OK;
}

struct LevelResult {
    int connections = 0;
    std::uint64_t rcpts = 0;
    std::uint64_t rejected = 0;  // answers other than continue
    std::uint64_t wrong = 0;     // known not continued, or unknown without the expected reply
    double seconds = 0;
    double p50_us = 0;
    double p99_us = 0;
    std::uint64_t errors = 0;  // connections that failed
};

// What each connection counts; merged after the run.
struct ConnectionCounts {
    std::vector<float> latencies;  // microseconds, one per RCPT
    std::uint64_t rejected = 0;
    std::uint64_t wrong = 0;
};

// A known recipient must be continued (never accepted: that would accept the whole message);
// an unknown one must get a reply code starting with `unknown_reply` (e.g. "550 5.1.1").
bool answer_is_right(bool known, const Reply& reply, const std::string& unknown_reply) {
    if (known) {
        return reply.command == SMFIR_CONTINUE;
    }
    return reply.command == SMFIR_REPLYCODE &&
           reply.data.compare(0, unknown_reply.size(), unknown_reply) == 0;
}

std::atomic<int> wrong_reported{0};
constexpr int max_wrong_reported = 5;

void report_wrong(const std::string& rcpt, bool known, const Reply& reply) {
    if (wrong_reported.fetch_add(1) < max_wrong_reported) {
        std::cerr << "wrong answer: <" << rcpt << "> (" << (known ? "known" : "unknown") << ") got "
                  << describe(reply) << "\n";
    }
}

LevelResult run_level(const std::string& socket, int connections, double seconds, int per_message,
                      std::uint64_t users, const std::string& domain,
                      const std::string& unknown_reply) {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> errors{0};
    std::vector<ConnectionCounts> counts(static_cast<std::size_t>(connections));
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (int i = 0; i < connections; ++i) {
        threads.emplace_back([&, i] {
            std::mt19937_64 rng(static_cast<std::uint64_t>(i) * 7919 + 1);
            std::uniform_int_distribution<std::uint64_t> pick(0, users - 1);
            ConnectionCounts& mine = counts[static_cast<std::size_t>(i)];
            mine.latencies.reserve(1 << 16);
            try {
                MilterClient client(socket);
                client.connect_info("client.example", "192.0.2.7");
                char name[64];
                while (!stop.load(std::memory_order_relaxed)) {
                    client.mail("bench@client.example");
                    for (int r = 0; r < per_message; ++r) {
                        const bool known = (r % 2) == 0;
                        std::snprintf(name, sizeof name, "%s%07llu@", known ? "user" : "nouser",
                                      static_cast<unsigned long long>(pick(rng)));
                        const std::string rcpt = name + domain;
                        const auto t0 = Clock::now();
                        const Reply reply = client.rcpt(rcpt);
                        const auto t1 = Clock::now();
                        mine.latencies.push_back(
                            std::chrono::duration<float, std::micro>(t1 - t0).count());
                        if (reply.command != SMFIR_CONTINUE) {
                            ++mine.rejected;
                        }
                        if (!answer_is_right(known, reply, unknown_reply)) {
                            ++mine.wrong;
                            report_wrong(rcpt, known, reply);
                        }
                    }
                    client.abort_message();
                }
            } catch (const std::exception& e) {
                if (errors.fetch_add(1) == 0) {
                    std::cerr << "connection " << i << ": " << e.what() << "\n";
                }
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
    for (auto& t : threads) {
        t.join();
    }
    LevelResult result;
    result.connections = connections;
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<float> all;
    for (const ConnectionCounts& c : counts) {
        all.insert(all.end(), c.latencies.begin(), c.latencies.end());
        result.rejected += c.rejected;
        result.wrong += c.wrong;
    }
    result.rcpts = all.size();
    result.errors = errors.load();
    if (!all.empty()) {
        const auto at = [&](double q) {
            auto k = static_cast<std::size_t>(q * static_cast<double>(all.size() - 1));
            std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
            return static_cast<double>(all[k]);
        };
        result.p50_us = at(0.50);
        result.p99_us = at(0.99);
    }
    return result;
}

std::vector<int> parse_levels(const std::string& text) {
    std::vector<int> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        out.push_back(std::stoi(item));
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"m365gate-milter-loadgen: milter-protocol client (probe and benchmark)"};
    std::string socket;
    bool probe_mode = false;
    std::string from = "sender@client.example";
    std::vector<std::string> rcpts;
    std::string levels = "1,8,64";
    double seconds = 5;
    int per_message = 10;
    std::uint64_t users = 1000000;
    std::string domain = "bench.example";
    std::string unknown_reply = "550 5.1.1";
    cli.add_option("--socket", socket, "unix:/path or inet:PORT@127.0.0.1")->required();
    cli.add_flag("--probe", probe_mode, "one message, print each RCPT reply");
    cli.add_option("--from", from, "envelope sender (probe)");
    cli.add_option("--rcpt", rcpts, "recipient (probe, repeatable)");
    cli.add_option("--connections", levels, "concurrent connections per run")
        ->capture_default_str();
    cli.add_option("--seconds", seconds, "duration of each run")->capture_default_str();
    cli.add_option("--rcpts", per_message, "recipients per message")->capture_default_str();
    cli.add_option("--users", users, "known users user0000000..")->capture_default_str();
    cli.add_option("--domain", domain, "recipient domain")->capture_default_str();
    cli.add_option("--unknown-reply", unknown_reply,
                   "the reply an unknown recipient must get (prefix of code, status, text)")
        ->capture_default_str();
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? EX_OK : EX_USAGE;
    }
    try {
        if (probe_mode) {
            return probe(socket, from, rcpts);
        }
        if (users == 0 || per_message <= 0 || seconds <= 0) {
            std::cerr << "m365gate-milter-loadgen: --users, --rcpts and --seconds must be > 0\n";
            return EX_USAGE;
        }
        // Columns: scripts read the second (rcpts) and the last (errors) by position.
        std::cout << "connections  rcpts      seconds  rcpt/s     p50_us   p99_us   rejected  "
                     "wrong     errors\n";
        bool clean = true;
        for (int level : parse_levels(levels)) {
            const LevelResult r =
                run_level(socket, level, seconds, per_message, users, domain, unknown_reply);
            std::cout << std::left << std::setw(13) << r.connections << std::setw(11) << r.rcpts
                      << std::setw(9) << std::fixed << std::setprecision(2) << r.seconds
                      << std::setw(11) << std::setprecision(0)
                      << static_cast<double>(r.rcpts) / r.seconds << std::setw(9)
                      << std::setprecision(0) << r.p50_us << std::setw(9) << r.p99_us
                      << std::setw(10) << r.rejected << std::setw(10) << r.wrong << r.errors
                      << std::endl;
            clean = clean && r.wrong == 0 && r.errors == 0 && r.rcpts > 0;
        }
        return clean ? EX_OK : 1;
    } catch (const std::exception& e) {
        std::cerr << "m365gate-milter-loadgen: " << e.what() << "\n";
        return EX_UNAVAILABLE;
    }
}
