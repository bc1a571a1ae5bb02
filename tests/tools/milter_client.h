// tests/tools/milter_client.h - the MTA side of the milter protocol (libmilter is server-only),
// for the load generator (tests/bench/milter_loadgen.cpp) and the fault tools
// (tests/tools/milter_faults.cpp). Header-only; one MilterClient per thread.
//
// Wire format: milter_wire.h; strings are NUL-terminated. Every failure (connect,
// read, write, a closed connection, a reply timeout) throws std::runtime_error.
#pragma once

#include <arpa/inet.h>
#include <libmilter/mfapi.h>  // SMFIF_SETSYMLIST
#include <libmilter/mfdef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "milter_wire.h"

namespace m365gate::testing {

struct MilterReply {
    char command = 0;
    std::string data;
};

class MilterClient {
public:
    // Connects and negotiates. `timeout_ms` > 0 bounds every read and write.
    // `negotiate_now` false: the caller sends nothing yet (a client that drops at once).
    explicit MilterClient(const std::string& spec, int timeout_ms = 0, bool negotiate_now = true) {
        fd_ = open_socket(spec);
        if (timeout_ms > 0) {
            timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
            setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        }
        if (negotiate_now) {
            negotiate();
        }
    }
    ~MilterClient() {
        if (fd_ >= 0) {
            try {
                send(SMFIC_QUIT, "");
            } catch (const std::exception&) {
            }
            ::close(fd_);
        }
    }
    MilterClient(const MilterClient&) = delete;
    MilterClient& operator=(const MilterClient&) = delete;

    // When the filter negotiated the connect or MAIL step away, nothing is sent here: like
    // Postfix, the client and the sender then go with each RCPT, as the macros the filter
    // asked for (SMFIF_SETSYMLIST).
    void connect_info(const std::string& host, const std::string& addr) {
        client_name_ = host;
        client_addr_ = addr;
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
        sender_ = from;
        if (protocol_ & SMFIP_NOMAIL) {
            return;
        }
        send(SMFIC_MAIL, "<" + from + ">" + std::string(1, '\0'));
        if (!(protocol_ & SMFIP_NR_MAIL)) {
            expect_continue("mail", read_reply());
        }
    }

    // Sends {rcpt_addr} like Postfix (and the client and sender when the filter asked for
    // them at RCPT), then RCPT; returns the filter's reply.
    MilterReply rcpt(const std::string& address) {
        std::string macro(1, SMFIC_RCPT);
        auto add = [&macro](const char* name, const std::string& value) {
            macro += name;
            macro.push_back('\0');
            macro += value;
            macro.push_back('\0');
        };
        add("{rcpt_addr}", address);
        if (actions_ & SMFIF_SETSYMLIST) {
            add("{client_addr}", client_addr_);
            add("{client_name}", client_name_);
            add("{mail_addr}", sender_);
        }
        send(SMFIC_MACRO, macro);
        send(SMFIC_RCPT, "<" + address + ">" + std::string(1, '\0'));
        return read_reply();
    }

    void abort_message() { send(SMFIC_ABORT, ""); }

    unsigned long protocol() const { return protocol_; }

    // For fault injection: raw bytes, and a close without QUIT (optionally as a TCP/unix
    // reset: SO_LINGER 0), after which the object only releases nothing.
    void send_raw(const std::string& bytes) { write_all(bytes); }
    void send_packet(char command, const std::string& data) { send(command, data); }
    void drop(bool reset) {
        if (fd_ < 0) {
            return;
        }
        if (reset) {
            linger lg{1, 0};
            setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        ::close(fd_);
        fd_ = -1;
    }

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
                const int err = errno;
                if (fd >= 0) {
                    ::close(fd);
                }
                throw std::runtime_error("connect " + spec + ": " + std::strerror(err));
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
                const int err = errno;
                if (fd >= 0) {
                    ::close(fd);
                }
                throw std::runtime_error("connect " + spec + ": " + std::strerror(err));
            }
            const int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        throw std::runtime_error("unsupported socket: " + spec);
    }

    void write_all(const std::string& bytes) {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                throw std::runtime_error(std::string("write: ") + std::strerror(errno));
            }
            done += static_cast<std::size_t>(n);
        }
    }

    void send(char command, const std::string& data) { write_all(wire::packet(command, data)); }

    void read_exact(char* buf, std::size_t len) {
        std::size_t done = 0;
        while (done < len) {
            const ssize_t n = ::read(fd_, buf + done, len - done);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                    throw std::runtime_error("no reply from the milter within the timeout");
                }
                throw std::runtime_error(n == 0 ? "milter closed the connection"
                                                : std::string("read: ") + std::strerror(errno));
            }
            done += static_cast<std::size_t>(n);
        }
    }

    MilterReply read_reply() {
        while (true) {
            char header[4];
            read_exact(header, 4);
            const std::uint32_t len = wire::get32(std::string_view(header, 4), 0);
            if (len == 0 || len > (1u << 20)) {
                throw std::runtime_error("bad reply length");
            }
            std::string body(len, '\0');
            read_exact(body.data(), len);
            MilterReply r{body[0], body.substr(1)};
            if (r.command != SMFIR_PROGRESS) {
                return r;
            }
        }
    }

    static void expect_continue(const char* what, const MilterReply& r) {
        if (r.command != SMFIR_CONTINUE) {
            throw std::runtime_error(std::string(what) + ": unexpected reply '" + r.command + "'");
        }
    }

    void negotiate() {
        std::string data;
        wire::put32(data, SMFI_PROT_VERSION);
        wire::put32(data, 0x1ff);     // actions offered (as Postfix 3.7)
        wire::put32(data, 0x1fffff);  // protocol steps offered (as Postfix 3.7)
        send(SMFIC_OPTNEG, data);
        const MilterReply r = read_reply();
        if (r.command != SMFIC_OPTNEG || r.data.size() < 12) {
            throw std::runtime_error("bad option negotiation reply");
        }
        actions_ = wire::get32(r.data, 4);
        protocol_ = wire::get32(r.data, 8);
    }

    int fd_ = -1;
    unsigned long actions_ = 0;
    unsigned long protocol_ = 0;
    std::string client_name_, client_addr_, sender_;
};

// "continue", "reject", "tempfail", "accept", "discard", "reply 550 5.1.1 <text>".
inline std::string describe(const MilterReply& r) {
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

}  // namespace m365gate::testing
