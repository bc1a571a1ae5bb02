// tests/tools/milter_faults.cpp - m365gate-milter-faults: the MTA side of the milter fault
// tests (tests/integration/fault_*.sh).
//
//   watch: m365gate-milter-faults watch --socket S --expect FILE --phase FILE --stop-file FILE
//              [--status-file FILE] [--pause-ms 2] [--timeout-ms 10000] [--per-connection 20]
//          Asks the milter about every address of FILE, message after message, until the stop
//          file exists, and checks each answer against the list in force. FILE: one address
//          per line, then STATE=ANSWER words (ANSWER: continue, reject = a "550 5.1.1" reply,
//          tempfail = a "451 4.3.0" reply), e.g. "user7@gen.example none=tempfail A=continue
//          B=continue". The phase file holds the states the store may be in right now
//          ("A,B"); it is read before each RCPT and after its answer, and the answer must be
//          the expected one of a state in either read (the script widens the phase file before
//          a change and narrows it only once the store is known to be in one state, so the
//          state at the moment of the decision is always in one of the two reads). A failed
//          connection, a timeout or a closed connection is a failure; a wrong answer is
//          printed (the first 10) and counted. Prints one "watch:" line at the end; exit 1
//          when there was any failure or wrong answer.
//   probe: m365gate-milter-faults probe --socket S --rcpt A [--rcpt B...]
//          one message; one line per RCPT: "<a@x> continue" or "<a@x> reply 550 5.1.1 <text>".
//   drop:  m365gate-milter-faults drop --socket S --sessions N [--seed 1] [--threads 4]
//          N sessions that each break off at another point of a transaction (before and after
//          negotiation, after connect, after MAIL, after some RCPTs, inside a packet, after an
//          abort, with a reset instead of a close). Exit 1 when the milter refused a session
//          or failed to answer a step that should have been answered.
#include <fcntl.h>
#include <libmilter/mfdef.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "milter_client.h"

namespace {

using m365gate::testing::describe;
using m365gate::testing::MilterClient;
using m365gate::testing::MilterReply;
using Clock = std::chrono::steady_clock;

enum class Answer { cont, reject, tempfail };

const char* answer_name(Answer a) {
    switch (a) {
        case Answer::cont:
            return "continue";
        case Answer::reject:
            return "reject";
        case Answer::tempfail:
            return "tempfail";
    }
    return "?";
}

std::optional<Answer> classify(const MilterReply& r) {
    if (r.command == SMFIR_CONTINUE) {
        return Answer::cont;
    }
    if (r.command == SMFIR_REPLYCODE) {
        if (r.data.rfind("550 5.1.1", 0) == 0) {
            return Answer::reject;
        }
        if (r.data.rfind("451 4.3.0", 0) == 0) {
            return Answer::tempfail;
        }
    }
    return std::nullopt;
}

struct Probe {
    std::string address;
    std::map<std::string, Answer> by_state;
};

std::vector<Probe> read_expect(const std::string& file) {
    std::ifstream in(file);
    if (!in) {
        throw std::runtime_error("cannot read " + file);
    }
    std::vector<Probe> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream words(line);
        Probe p;
        words >> p.address;
        std::string w;
        while (words >> w) {
            const auto eq = w.find('=');
            if (eq == std::string::npos) {
                throw std::runtime_error(file + ": bad word " + w);
            }
            const std::string a = w.substr(eq + 1);
            Answer ans = a == "continue"   ? Answer::cont
                         : a == "reject"   ? Answer::reject
                         : a == "tempfail" ? Answer::tempfail
                                           : throw std::runtime_error(file + ": bad answer " + a);
            p.by_state[w.substr(0, eq)] = ans;
        }
        out.push_back(std::move(p));
    }
    if (out.empty()) {
        throw std::runtime_error(file + ": no addresses");
    }
    return out;
}

// The phase file: "A,B". Read whole each time (it is replaced by rename).
std::set<std::string> read_phase(const std::string& file) {
    std::ifstream in(file);
    std::string text;
    std::getline(in, text);
    std::set<std::string> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (!item.empty()) {
            out.insert(item);
        }
    }
    return out;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

std::string join(const std::set<std::string>& s) {
    std::string out;
    for (const auto& x : s) {
        out += out.empty() ? x : "," + x;
    }
    return out;
}

double now_s() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void write_status(const std::string& file, const std::string& text) {
    if (file.empty()) {
        return;
    }
    const std::string tmp = file + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text << "\n";
    }
    ::rename(tmp.c_str(), file.c_str());
}

int watch(const std::string& socket, const std::string& expect_file, const std::string& phase_file,
          const std::string& stop_file, const std::string& status_file, int pause_ms,
          int timeout_ms, int per_connection) {
    const std::vector<Probe> probes = read_expect(expect_file);
    std::uint64_t rcpts = 0, messages = 0, connections = 0, failures = 0, wrong = 0;
    std::map<std::string, std::uint64_t> answers;
    int reported = 0;
    auto last_status = Clock::now();
    auto status = [&] {
        std::ostringstream o;
        o << "rcpts=" << rcpts << " messages=" << messages << " connections=" << connections
          << " failures=" << failures << " wrong=" << wrong;
        return o.str();
    };
    while (!exists(stop_file)) {
        try {
            MilterClient client(socket, timeout_ms);
            ++connections;
            client.connect_info("probe.example", "192.0.2.9");
            for (int m = 0; m < per_connection && !exists(stop_file); ++m) {
                client.mail("probe@outside.example");
                for (const Probe& p : probes) {
                    const auto before = read_phase(phase_file);
                    const MilterReply reply = client.rcpt(p.address);
                    const auto after = read_phase(phase_file);
                    ++rcpts;
                    const auto got = classify(reply);
                    answers[got ? answer_name(*got) : "other"]++;
                    bool right = false;
                    for (const auto* phase : {&before, &after}) {
                        for (const auto& state : *phase) {
                            const auto it = p.by_state.find(state);
                            if (got && it != p.by_state.end() && it->second == *got) {
                                right = true;
                            }
                        }
                    }
                    if (!right) {
                        ++wrong;
                        if (reported++ < 10) {
                            std::cerr << std::fixed << now_s() << " wrong answer: <" << p.address
                                      << "> got " << describe(reply) << " in phase " << join(before)
                                      << " / " << join(after) << "\n";
                        }
                    }
                }
                client.abort_message();
                ++messages;
                if (Clock::now() - last_status > std::chrono::milliseconds(200)) {
                    write_status(status_file, status());
                    last_status = Clock::now();
                }
                if (pause_ms > 0) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
                }
            }
        } catch (const std::exception& e) {
            ++failures;
            if (reported++ < 10) {
                std::cerr << std::fixed << now_s() << " failure: " << e.what() << "\n";
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    write_status(status_file, status());
    std::cout << "watch: " << status();
    for (const auto& [name, n] : answers) {
        std::cout << " " << name << "=" << n;
    }
    std::cout << "\n";
    return failures == 0 && wrong == 0 && rcpts > 0 ? EX_OK : 1;
}

// The points at which a session breaks off.
enum Mode : int {
    before_negotiate,
    after_negotiate,
    after_connect,
    after_mail,
    after_rcpts,
    partial_header,
    partial_packet,
    after_abort,
    reset_after_rcpts,
    after_macro,
    mode_count
};

const char* mode_name(int m) {
    static const char* names[] = {
        "before_negotiate", "after_negotiate", "after_connect", "after_mail",        "after_rcpts",
        "partial_header",   "partial_packet",  "after_abort",   "reset_after_rcpts", "after_macro"};
    return m >= 0 && m < mode_count ? names[m] : "?";
}

int drop(const std::string& socket, int sessions, unsigned seed, int threads,
         const std::string& domain) {
    std::atomic<int> next{0};
    std::atomic<std::uint64_t> errors{0};
    std::vector<std::atomic<std::uint64_t>> per_mode(mode_count);
    std::mutex err_mu;
    int reported = 0;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::mt19937 rng(seed * 1000 + static_cast<unsigned>(t));
            for (int i = next++; i < sessions; i = next++) {
                const int mode = i % mode_count;
                try {
                    MilterClient c(socket, 10000, mode != before_negotiate);
                    if (mode == before_negotiate) {
                        c.drop(false);
                        ++per_mode[mode];
                        continue;
                    }
                    if (mode == after_negotiate) {
                        c.drop(false);
                        ++per_mode[mode];
                        continue;
                    }
                    c.connect_info("dropper.example", "192.0.2.66");
                    if (mode == after_connect) {
                        c.drop(false);
                        ++per_mode[mode];
                        continue;
                    }
                    c.mail("dropper@outside.example");
                    if (mode == after_mail) {
                        c.drop(false);
                        ++per_mode[mode];
                        continue;
                    }
                    if (mode == partial_packet) {
                        // A RCPT packet that claims 1000 bytes and brings 10.
                        std::string p =
                            m365gate::testing::wire::packet(SMFIC_RCPT, std::string(999, 'x'));
                        c.send_raw(p.substr(0, 10));
                        c.drop(false);
                        ++per_mode[mode];
                        continue;
                    }
                    const int n = 1 + static_cast<int>(rng() % 5);
                    for (int r = 0; r < n; ++r) {
                        const std::string rcpt = (r % 2 == 0 ? "user" : "nouser") +
                                                 std::to_string(rng() % 1000) + "@" + domain;
                        (void)c.rcpt(rcpt);
                    }
                    switch (mode) {
                        case partial_header:
                            c.send_raw(std::string("\0\0", 2));
                            c.drop(false);
                            break;
                        case after_abort:
                            c.abort_message();
                            c.drop(false);
                            break;
                        case reset_after_rcpts:
                            c.drop(true);
                            break;
                        case after_macro: {
                            std::string macro(1, SMFIC_RCPT);
                            macro += "{rcpt_addr}";
                            macro.push_back('\0');
                            macro += "late@" + domain;
                            macro.push_back('\0');
                            c.send_packet(SMFIC_MACRO, macro);
                            c.drop(false);
                            break;
                        }
                        default:  // after_rcpts
                            c.drop(false);
                            break;
                    }
                    ++per_mode[mode];
                } catch (const std::exception& e) {
                    ++errors;
                    std::lock_guard<std::mutex> lock(err_mu);
                    if (reported++ < 10) {
                        std::cerr << "session " << i << " (" << mode_name(mode) << "): " << e.what()
                                  << "\n";
                    }
                }
            }
        });
    }
    for (auto& th : pool) {
        th.join();
    }
    std::cout << "drop: sessions=" << sessions << " errors=" << errors.load();
    for (int m = 0; m < mode_count; ++m) {
        std::cout << " " << mode_name(m) << "=" << per_mode[m].load();
    }
    std::cout << "\n";
    return errors.load() == 0 ? EX_OK : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"m365gate-milter-faults: milter client for the fault tests"};
    cli.require_subcommand(1);
    std::string socket;

    auto* w = cli.add_subcommand("watch", "probe continuously, check every answer");
    std::string expect_file, phase_file, stop_file, status_file;
    int pause_ms = 2, timeout_ms = 10000, per_connection = 20;
    w->add_option("--socket", socket)->required();
    w->add_option("--expect", expect_file)->required();
    w->add_option("--phase", phase_file)->required();
    w->add_option("--stop-file", stop_file)->required();
    w->add_option("--status-file", status_file);
    w->add_option("--pause-ms", pause_ms)->capture_default_str();
    w->add_option("--timeout-ms", timeout_ms)->capture_default_str();
    w->add_option("--per-connection", per_connection)->capture_default_str();

    auto* p = cli.add_subcommand("probe", "one message, print each RCPT answer");
    std::vector<std::string> rcpts;
    p->add_option("--socket", socket)->required();
    p->add_option("--rcpt", rcpts)->required();

    auto* d = cli.add_subcommand("drop", "sessions that break off mid-transaction");
    int sessions = 1000, threads = 4;
    unsigned seed = 1;
    std::string domain = "gen.example";
    d->add_option("--socket", socket)->required();
    d->add_option("--sessions", sessions)->capture_default_str();
    d->add_option("--seed", seed)->capture_default_str();
    d->add_option("--threads", threads)->capture_default_str();
    d->add_option("--domain", domain)->capture_default_str();
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? EX_OK : EX_USAGE;
    }
    try {
        if (w->parsed()) {
            return watch(socket, expect_file, phase_file, stop_file, status_file, pause_ms,
                         timeout_ms, per_connection);
        }
        if (p->parsed()) {
            MilterClient client(socket, 10000);
            client.connect_info("probe.example", "192.0.2.9");
            client.mail("s@outside.example");
            for (const auto& r : rcpts) {
                std::cout << "<" << r << "> " << describe(client.rcpt(r)) << "\n";
            }
            client.abort_message();
            return EX_OK;
        }
        return drop(socket, sessions, seed, threads, domain);
    } catch (const std::exception& e) {
        std::cerr << "m365gate-milter-faults: " << e.what() << "\n";
        return EX_SOFTWARE;
    }
}
