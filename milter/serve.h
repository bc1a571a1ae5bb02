// milter/serve.h - runs libmilter's listener and answers the process's signals.
//
// serve() runs smfi_main() on a thread of its own while the calling thread - the process's
// main thread - waits for signals: SIGUSR1 calls `reload`; SIGTERM, SIGINT and SIGHUP (the
// signals libmilter stops on) stop the listener at once. Left to itself, libmilter notices a
// stop only when its listener's poll() times out, up to five seconds later (see serve.cpp).
// The caller blocks SIGUSR1, SIGTERM, SIGINT and SIGHUP in every thread before starting any.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace m365gate::milter {

// "unix:/path", "local:/path" or a bare "/path" -> "/path"; nullopt for inet: and inet6:.
std::optional<std::string> unix_socket_path(const std::string& spec);

struct Served {
    int rc = 0;                   // smfi_main()'s result: MI_SUCCESS or MI_FAILURE
    const char* signal = "none";  // the stop signal the main thread took: "TERM", "INT", "HUP"
};

// Returns once the listener has stopped. It writes no log line: a stop must not wait for a
// log that does not take lines (a stalled syslog or relay).
Served serve(const std::string& socket_spec, const std::function<void()>& reload);

}  // namespace m365gate::milter
