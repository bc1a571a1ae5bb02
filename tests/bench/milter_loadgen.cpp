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
// Wire format (libmilter mfdef.h): every packet is a 32-bit big-endian length (command byte
// included), a command byte, then the data; strings are NUL-terminated.
#include <arpa/inet.h>
#include <libmilter/mfdef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

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

namespace {

using Clock = std::chrono::steady_clock;

struct Reply {
    char command = 0;
    std::string data;
};

class MilterClient {
public:
    explicit MilterClient(const std::string& spec) {
        fd_ = open_socket(spec);
        negotiate();
    }
    ~MilterClient() {
        if (fd_ >= 0) {
            send(SMFIC_QUIT, "");
            ::close(fd_);
        }
    }
    MilterClient(const MilterClient&) = delete;
    MilterClient& operator=(const MilterClient&) = delete;

    void connect_info(const std::string& host, const std::string& addr) {
        if (protocol_ & SMFIP_NOCONNECT) {
            return;
        }
        std::string data = host;
        data.push_back('\0');
        data.push_back(SMFIA_INET);
        data.push_back(char(0x63));  // port 25000, big endian
        data.push_back(char(0xa8));
        data += addr;
        data.push_back('\0');
        send(SMFIC_CONNECT, data);
        if (!(protocol_ & SMFIP_NR_CONN)) {
            expect_continue("connect", read_reply());
        }
    }

    void mail(const std::string& from) {
        if (protocol_ & SMFIP_NOMAIL) {
            return;
        }
        send(SMFIC_MAIL, "<" + from + ">" + std::string(1, '\0'));
        if (!(protocol_ & SMFIP_NR_MAIL)) {
            expect_continue("mail", read_reply());
        }
    }

    // Sends {rcpt_addr} like Postfix, then RCPT; returns the filter's reply.
    Reply rcpt(const std::string& address) {
        std::string macro(1, SMFIC_RCPT);
        macro += "{rcpt_addr}";
        macro.push_back('\0');
        macro += address;
        macro.push_back('\0');
        send(SMFIC_MACRO, macro);
        send(SMFIC_RCPT, "<" + address + ">" + std::string(1, '\0'));
        return read_reply();
    }

    void abort_message() { send(SMFIC_ABORT, ""); }

    unsigned long protocol() const { return protocol_; }

private:
    static int open_socket(const std::string& spec) {
        if (spec.rfind("unix:", 0) == 0 || spec.rfind("local:", 0) == 0) {
            const std::string path = spec.substr(spec.find(':') + 1);
            sockaddr_un sa{};
            sa.sun_family = AF_UNIX;
            if (path.size() >= sizeof sa.sun_path) {
                throw std::runtime_error("socket path too long");
            }
            std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
            const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
                throw std::runtime_error("connect " + spec + ": " + std::strerror(errno));
            }
            return fd;
        }
        if (spec.rfind("inet:", 0) == 0) {  // inet:PORT@127.0.0.1
            const auto at = spec.find('@');
            const int port = std::stoi(spec.substr(5, at - 5));
            const std::string host = at == std::string::npos ? "127.0.0.1" : spec.substr(at + 1);
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_port = htons(static_cast<std::uint16_t>(port));
            if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
                throw std::runtime_error("not an IPv4 address: " + host);
            }
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
                throw std::runtime_error("connect " + spec + ": " + std::strerror(errno));
            }
            const int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        throw std::runtime_error("unsupported socket: " + spec);
    }

    static void put32(std::string& out, std::uint32_t v) {
        const std::uint32_t be = htonl(v);
        out.append(reinterpret_cast<const char*>(&be), 4);
    }
    static std::uint32_t get32(const std::string& in, std::size_t at) {
        std::uint32_t be = 0;
        std::memcpy(&be, in.data() + at, 4);
        return ntohl(be);
    }

    void send(char command, const std::string& data) {
        std::string packet;
        packet.reserve(data.size() + 5);
        put32(packet, static_cast<std::uint32_t>(data.size() + 1));
        packet.push_back(command);
        packet += data;
        std::size_t done = 0;
        while (done < packet.size()) {
            const ssize_t n = ::write(fd_, packet.data() + done, packet.size() - done);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                throw std::runtime_error(std::string("write: ") + std::strerror(errno));
            }
            done += static_cast<std::size_t>(n);
        }
    }

    void read_exact(char* buf, std::size_t len) {
        std::size_t done = 0;
        while (done < len) {
            const ssize_t n = ::read(fd_, buf + done, len - done);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                throw std::runtime_error(n == 0 ? "milter closed the connection"
                                                : std::string("read: ") + std::strerror(errno));
            }
            done += static_cast<std::size_t>(n);
        }
    }

    Reply read_reply() {
        while (true) {
            char header[4];
            read_exact(header, 4);
            std::uint32_t be = 0;
            std::memcpy(&be, header, 4);
            const std::uint32_t len = ntohl(be);
            if (len == 0 || len > (1u << 20)) {
                throw std::runtime_error("bad reply length");
            }
            std::string body(len, '\0');
            read_exact(body.data(), len);
            Reply r{body[0], body.substr(1)};
            if (r.command != SMFIR_PROGRESS) {
                return r;
            }
        }
    }

    static void expect_continue(const char* what, const Reply& r) {
        if (r.command != SMFIR_CONTINUE) {
            throw std::runtime_error(std::string(what) + ": unexpected reply '" + r.command + "'");
        }
    }

    void negotiate() {
        std::string data;
        put32(data, SMFI_PROT_VERSION);
        put32(data, 0x1ff);     // actions offered (as Postfix 3.7)
        put32(data, 0x1fffff);  // protocol steps offered (as Postfix 3.7)
        send(SMFIC_OPTNEG, data);
        const Reply r = read_reply();
        if (r.command != SMFIC_OPTNEG || r.data.size() < 12) {
            throw std::runtime_error("bad option negotiation reply");
        }
        actions_ = get32(r.data, 4);
        protocol_ = get32(r.data, 8);
    }

    int fd_ = -1;
    unsigned long actions_ = 0;
    unsigned long protocol_ = 0;
};

std::string describe(const Reply& r) {
    switch (r.command) {
        case SMFIR_CONTINUE:
            return "continue";
        case SMFIR_REJECT:
            return "reject";
        case SMFIR_TEMPFAIL:
            return "tempfail";
        case SMFIR_ACCEPT:
            return "accept";
        case SMFIR_DISCARD:
            return "discard";
        case SMFIR_REPLYCODE: {
            std::string text = r.data;
            while (!text.empty() && text.back() == '\0') {
                text.pop_back();
            }
            return "reply " + text;
        }
        default:
            return std::string("other ") + r.command;
    }
}

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
