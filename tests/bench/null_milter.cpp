// tests/bench/null_milter.cpp - m365gate-null-milter: the cheapest milter there can be, for
// one measurement only: what Postfix's own side of the milter protocol costs per SMTP session.
// postfix_compare.sh runs it as a third variant next to Postfix native and m365gate-milter.
//
//   m365gate-null-milter --socket PATH --known FILE
//
// One thread, one epoll loop, no libmilter: it speaks the wire format of libmilter/mfdef.h
// itself, negotiates away the same steps m365gate-milter does (HELO, DATA, headers, EOH,
// body, unknown commands; connect and MAIL too, asking for the same macros at RCPT, when the
// MTA offers a macro list), answers every RCPT from a hash set of the addresses in FILE (one
// per line, compared as given, lowercase), `550 5.1.1` for the others, and continue to
// everything else. No logging, no store, no policy: a benchmark tool, not a product.
#include <fcntl.h>
#include <libmilter/mfdef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "../tools/milter_wire.h"

namespace {

constexpr std::uint32_t max_packet = 1 << 20;  // larger than anything Postfix sends us here

struct Conn {
    std::string in;  // bytes read, not yet a whole packet
};

using m365gate::testing::wire::get32;
using m365gate::testing::wire::packet;
using m365gate::testing::wire::put32;

std::string lower_bare(std::string_view addr) {
    if (addr.size() >= 2 && addr.front() == '<' && addr.back() == '>')
        addr = addr.substr(1, addr.size() - 2);
    std::string out(addr);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// The reply to one command, empty for commands that get none. false: close the connection.
bool answer(char cmd, std::string_view data, const std::unordered_set<std::string>& known,
            std::string& reply) {
    switch (cmd) {
        case SMFIC_OPTNEG: {
            if (data.size() < 12) return false;
            const std::uint32_t actions = get32(data, 4);
            const std::uint32_t offered = get32(data, 8);
            std::uint32_t skip = SMFIP_NOHELO | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY |
                                 SMFIP_NOUNKNOWN | SMFIP_NODATA;
            // As m365gate-milter: with a macro list (SMFIF_SETSYMLIST, mfapi.h 0x100), no
            // connect and MAIL steps; the same macros at RCPT (stage SMFIM_ENVRCPT, 2).
            constexpr std::uint32_t setsymlist = 0x100;
            constexpr std::uint32_t session = SMFIP_NOCONNECT | SMFIP_NOMAIL;
            const bool macros = (actions & setsymlist) != 0 && (offered & session) == session;
            if (macros) skip |= session;
            std::string optneg;
            put32(optneg, 6);                        // protocol version
            put32(optneg, macros ? setsymlist : 0);  // actions
            put32(optneg, skip & offered);
            if (macros) {
                put32(optneg, 2);
                optneg += "i {rcpt_addr} {client_addr} {client_name} {mail_addr}";
                optneg.push_back('\0');
            }
            reply = packet(SMFIC_OPTNEG, optneg);
            return true;
        }
        case SMFIC_MACRO:
        case SMFIC_ABORT:
            return true;
        case SMFIC_QUIT:
        case SMFIC_QUIT_NC:
            return false;
        case SMFIC_RCPT: {
            const std::string_view arg = data.substr(0, data.find('\0'));
            if (known.count(lower_bare(arg)) != 0) {
                reply = packet(SMFIR_CONTINUE, {});
            } else {
                std::string text = "550 5.1.1 ";
                text.append(arg);
                text.append(": Recipient address rejected: user unknown");
                text.push_back('\0');
                reply = packet(SMFIR_REPLYCODE, text);
            }
            return true;
        }
        default:
            reply = packet(SMFIR_CONTINUE, {});
            return true;
    }
}

// Reads what is there, answers every whole packet. false: close.
bool serve(int fd, Conn& c, const std::unordered_set<std::string>& known) {
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n == 0) return false;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return false;
        }
        c.in.append(buf, static_cast<std::size_t>(n));
    }
    std::string out;
    std::size_t at = 0;
    while (c.in.size() - at >= 4) {
        const std::uint32_t len = get32(c.in, at);
        if (len == 0 || len > max_packet) return false;
        if (c.in.size() - at - 4 < len) break;
        std::string reply;
        const bool keep =
            answer(c.in[at + 4], std::string_view(c.in).substr(at + 5, len - 1), known, reply);
        out += reply;
        at += 4 + len;
        if (!keep) {
            if (!out.empty()) (void)!::write(fd, out.data(), out.size());
            return false;
        }
    }
    c.in.erase(0, at);
    // Replies are a few dozen bytes and the MTA waits for each: the socket buffer takes them.
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::string socket_path, known_file;
    CLI::App cli{"m365gate-null-milter: a one-thread epoll milter without libmilter (benchmark)"};
    cli.add_option("--socket", socket_path, "unix socket path to listen on")->required();
    cli.add_option("--known", known_file, "file of known addresses, one per line")->required();
    CLI11_PARSE(cli, argc, argv);

    std::unordered_set<std::string> known;
    {
        std::ifstream in(known_file);
        if (!in) {
            std::cerr << "m365gate-null-milter: cannot read " << known_file << "\n";
            return EX_NOINPUT;
        }
        for (std::string line; std::getline(in, line);)
            if (!line.empty()) known.insert(lower_bare(line));
    }
    std::signal(SIGPIPE, SIG_IGN);

    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof sa.sun_path) {
        std::cerr << "m365gate-null-milter: socket path too long\n";
        return EX_USAGE;
    }
    std::memcpy(sa.sun_path, socket_path.c_str(), socket_path.size() + 1);
    const int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::unlink(socket_path.c_str());
    if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(lfd, 256) != 0) {
        std::cerr << "m365gate-null-milter: " << socket_path << ": " << std::strerror(errno)
                  << "\n";
        return EX_OSERR;
    }
    ::chmod(socket_path.c_str(), 0666);

    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    std::unordered_map<int, Conn> conns;
    epoll_event events[64];
    for (;;) {
        const int n = ::epoll_wait(ep, events, 64, -1);
        if (n < 0 && errno != EINTR) return EX_OSERR;
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == lfd) {
                for (int c;
                     (c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
                    epoll_event cev{};
                    cev.events = EPOLLIN | EPOLLRDHUP;
                    cev.data.fd = c;
                    ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    conns[c] = Conn{};
                }
                continue;
            }
            if (!serve(fd, conns[fd], known)) {
                ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
                ::close(fd);
                conns.erase(fd);
            }
        }
    }
}
