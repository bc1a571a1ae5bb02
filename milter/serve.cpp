// milter/serve.cpp - libmilter's listener on its own thread, the signals on the main thread.
//
// Why not libmilter's own signal handling alone: its listener holds a mutex while it waits in
// poll() on the listening socket, five seconds at a time (MI_CHK_TIME in libmilter's
// listener.c), and smfi_stop() - which its signal thread calls at SIGTERM - needs that mutex
// to close the socket. A stop therefore took up to five seconds, during which the MTA's new
// connections still queued on the socket. Here the main thread waits for the stop signals
// itself (Linux offers a process-directed signal to the main thread first when it is waiting
// for it, so libmilter's signal thread, which waits for the same ones, is not needed; if it
// does take one, it stops the listener itself and only the knock is missed), calls
// smfi_stop() on a helper thread, and knocks on the listening socket - a connection that is
// closed at once - so that the poll returns, the stop is seen, and the socket closes at once.
// The knocked connection is an ordinary libmilter session that ends before any command: only
// the close callback runs, with no connection data.
#include "milter/serve.h"

#include <libmilter/mfapi.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "common/unique_fd.h"

namespace m365gate::milter {

namespace {

// How often the socket is knocked on until the listener has returned, and for how long: the
// first knock can come before smfi_stop() has set its flag (the listener then simply waits
// again), and libmilter's own five-second poll ends the listener anyway.
constexpr auto knock_interval = std::chrono::milliseconds(20);
constexpr int knock_attempts = 300;

// Connects to the listening unix socket or TCP port without blocking, and closes again.
void connect_and_close(int family, const sockaddr* addr, socklen_t len) {
    const UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() >= 0) {
        static_cast<void>(::connect(fd.get(), addr, len));
    }
}

// libmilter's "inet:PORT@HOST" / "inet6:PORT@HOST" (HOST a name, an address, "[address]", or
// empty for every address): a loopback address stands for the wildcard ones.
void knock_inet(const std::string& spec) {
    const bool v6 = spec.rfind("inet6:", 0) == 0;
    if (!v6 && spec.rfind("inet:", 0) != 0) {
        return;
    }
    const std::string rest = spec.substr(v6 ? 6 : 5);
    const auto at = rest.find('@');
    const std::string port = rest.substr(0, at);
    std::string host = at == std::string::npos ? std::string() : rest.substr(at + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.empty() || host == "0.0.0.0" || host == "::" || host == "INADDR_ANY") {
        host = v6 ? "::1" : "127.0.0.1";
    }
    addrinfo hints{};
    hints.ai_family = v6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
        return;
    }
    connect_and_close(found->ai_family, found->ai_addr, found->ai_addrlen);
    ::freeaddrinfo(found);
}

void knock(const std::string& spec) {
    const auto path = unix_socket_path(spec);
    if (!path) {
        knock_inet(spec);
        return;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path->size() >= sizeof addr.sun_path) {
        return;
    }
    std::memcpy(addr.sun_path, path->data(), path->size());
    connect_and_close(AF_UNIX, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
}

const char* signal_name(int sig) {
    switch (sig) {
        case SIGTERM:
            return "TERM";
        case SIGINT:
            return "INT";
        case SIGHUP:
            return "HUP";
        default:
            return "?";
    }
}

// smfi_stop() on a helper thread (it waits for the listener's mutex), the knocks here.
void stop_listener(const std::string& spec, const std::atomic<bool>& listener_done) {
    std::thread stopper([] { smfi_stop(); });
    for (int i = 0; i < knock_attempts && !listener_done.load(); ++i) {
        std::this_thread::sleep_for(i == 0 ? std::chrono::milliseconds(1) : knock_interval);
        if (!listener_done.load()) {
            knock(spec);
        }
    }
    stopper.join();
}

}  // namespace

std::optional<std::string> unix_socket_path(const std::string& spec) {
    for (const char* prefix : {"unix:", "local:"}) {
        const std::string p(prefix);
        if (spec.compare(0, p.size(), p) == 0) {
            return spec.substr(p.size());
        }
    }
    if (spec.find(':') == std::string::npos && !spec.empty() && spec.front() == '/') {
        return spec;  // libmilter takes a bare path as a unix socket
    }
    return std::nullopt;
}

Served serve(const std::string& socket_spec, const std::function<void()>& reload) {
    std::atomic<bool> listener_done{false};
    Served served;
    int rc = MI_FAILURE;
    const pthread_t main_thread = ::pthread_self();
    std::thread listener([&] {
        rc = smfi_main();
        listener_done.store(true);
        ::pthread_kill(main_thread, SIGUSR1);  // ends the wait below
    });

    sigset_t signals;
    sigemptyset(&signals);
    for (int sig : {SIGUSR1, SIGTERM, SIGINT, SIGHUP}) {
        sigaddset(&signals, sig);
    }
    while (!listener_done.load()) {
        int sig = 0;
        if (sigwait(&signals, &sig) != 0 || listener_done.load()) {
            continue;
        }
        if (sig == SIGUSR1) {
            reload();
            continue;
        }
        served.signal = signal_name(sig);
        stop_listener(socket_spec, listener_done);
        break;
    }
    listener.join();
    served.rc = rc;
    return served;
}

}  // namespace m365gate::milter
