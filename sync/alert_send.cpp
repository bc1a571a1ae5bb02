// sync/alert_send.cpp - sendmail through fork/execv with a bounded wait; the webhook through
// HttpClient (sync/http.h), so it gets the same TLS, protocol, timeout and redirect rules as Graph.
#include "sync/alert_send.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/unique_fd.h"
#include "sync/http.h"

namespace m365gate::sync {
namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Writes to a pipe whose reader may be gone without dying of SIGPIPE: the signal is blocked in
// this thread for the write and a pending one is consumed.
ssize_t write_no_sigpipe(int fd, const char* data, std::size_t n) {
    sigset_t pipe_set, old_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    const ssize_t w = ::write(fd, data, n);
    const int saved = errno;
    if (w < 0 && saved == EPIPE) {
        const timespec zero{0, 0};
        while (sigtimedwait(&pipe_set, nullptr, &zero) == SIGPIPE) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
    errno = saved;
    return w;
}

int remaining_ms(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(std::min<long long>(left, 1000));
}

// One line of the child's stderr for the log (Postfix: "sendmail: fatal: ...").
std::string first_line(const std::string& text) {
    const auto nl = text.find('\n');
    return printable(text.substr(0, nl), 200);
}

// The running `sendmail -t -i`: its pid and this process's ends of its stdin and stderr.
struct SendmailChild {
    pid_t pid = -1;
    UniqueFd stdin_write;
    UniqueFd stderr_read;
};

// Forks and execs `path [-f envelope_from] -t -i`. Returns "" on success, else the error.
std::string start_sendmail(const std::string& path, const std::string& envelope_from,
                           SendmailChild& child) {
    int in_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0) {
        return errno_text("pipe");
    }
    UniqueFd in_read(in_pipe[0]);
    child.stdin_write.reset(in_pipe[1]);
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        return errno_text("pipe");
    }
    child.stderr_read.reset(err_pipe[0]);
    UniqueFd err_write(err_pipe[1]);
    UniqueFd null_fd(::open("/dev/null", O_WRONLY | O_CLOEXEC));

    // Everything the child needs is prepared before fork(): after it, only async-signal-safe
    // calls (dup2, close_range, execv, _exit) in a process that may have other threads.
    std::vector<char*> argv{const_cast<char*>(path.c_str())};
    if (!envelope_from.empty()) {
        argv.push_back(const_cast<char*>("-f"));
        argv.push_back(const_cast<char*>(envelope_from.c_str()));
    }
    argv.push_back(const_cast<char*>("-t"));
    argv.push_back(const_cast<char*>("-i"));
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
        return errno_text("fork");
    }
    if (pid == 0) {
        if (dup2(in_read.get(), 0) < 0 || dup2(null_fd.get() >= 0 ? null_fd.get() : 2, 1) < 0 ||
            dup2(err_write.get(), 2) < 0) {
            _exit(127);
        }
        syscall(SYS_close_range, 3u, ~0u, 0u);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    child.pid = pid;
    fcntl(child.stdin_write.get(), F_SETFL, O_NONBLOCK);
    fcntl(child.stderr_read.get(), F_SETFL, O_NONBLOCK);
    return {};
}

// What feeding the message to the child left behind.
struct Feeding {
    std::size_t written = 0;
    bool write_failed = false;
    bool timed_out = false;
    std::string child_stderr;  // the first 4 KiB or so
};

// One write of the rest of the message; closes stdin once all is written (EOF ends the
// message) or when the child stopped reading.
void write_some(UniqueFd& stdin_write, std::string_view message, Feeding& feeding) {
    const ssize_t w =
        write_no_sigpipe(stdin_write.get(), message.data() + feeding.written,
                         std::min<std::size_t>(message.size() - feeding.written, 65536));
    if (w > 0) {
        feeding.written += static_cast<std::size_t>(w);
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        feeding.write_failed = true;
        stdin_write.reset();
        return;
    }
    if (feeding.written == message.size()) {
        stdin_write.reset();
    }
}

// One read of the child's stderr; closes it at EOF or on an error.
void read_some(UniqueFd& stderr_read, Feeding& feeding) {
    char buf[1024];
    const ssize_t got = ::read(stderr_read.get(), buf, sizeof buf);
    if (got > 0) {
        if (feeding.child_stderr.size() < 4096) {
            feeding.child_stderr.append(buf, static_cast<std::size_t>(got));
        }
    } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        stderr_read.reset();
    }
}

// Writes the message to the child's stdin and collects its stderr until both pipes are
// closed or the deadline passes; both pipes are closed on return.
Feeding feed_child(SendmailChild& child, std::string_view message, Clock::time_point deadline) {
    Feeding feeding;
    while (child.stdin_write.get() >= 0 || child.stderr_read.get() >= 0) {
        if (Clock::now() >= deadline) {
            feeding.timed_out = true;
            break;
        }
        pollfd fds[2];
        nfds_t n = 0;
        if (child.stdin_write.get() >= 0) {
            fds[n++] = {child.stdin_write.get(), POLLOUT, 0};
        }
        if (child.stderr_read.get() >= 0) {
            fds[n++] = {child.stderr_read.get(), POLLIN, 0};
        }
        const int r = poll(fds, n, remaining_ms(deadline));
        if (r < 0 && errno != EINTR) {
            break;
        }
        for (nfds_t k = 0; k < n && r > 0; ++k) {
            if (fds[k].revents == 0) {
                continue;
            }
            if (fds[k].fd == child.stdin_write.get()) {
                write_some(child.stdin_write, message, feeding);
            } else {
                read_some(child.stderr_read, feeding);
            }
        }
    }
    child.stdin_write.reset();
    child.stderr_read.reset();
    return feeding;
}

enum class ExitWait { exited, timed_out, failed };

// Polls waitpid() until the child exits or the deadline passes. `failed`: waitpid() itself
// failed, errno says why.
ExitWait wait_for_exit(pid_t pid, Clock::time_point deadline, int& status) {
    for (;;) {
        const pid_t waited = waitpid(pid, &status, WNOHANG);
        if (waited == pid) {
            return ExitWait::exited;
        }
        if (waited < 0 && errno != EINTR) {
            return ExitWait::failed;
        }
        if (Clock::now() >= deadline) {
            return ExitWait::timed_out;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// Why a sendmail run that ended did not take the message, for the log.
std::string describe_failure(const std::string& path, int status, const std::string& child_stderr) {
    std::string error;
    if (WIFEXITED(status)) {
        error = "sendmail " + printable(path) + " exited with status " +
                std::to_string(WEXITSTATUS(status)) +
                (WEXITSTATUS(status) == 127 ? " (cannot execute)" : "");
    } else if (WIFSIGNALED(status)) {
        error =
            "sendmail " + printable(path) + " killed by signal " + std::to_string(WTERMSIG(status));
    } else {
        error = "sendmail " + printable(path) + " did not read the whole message";
    }
    if (!child_stderr.empty()) {
        error += ": " + first_line(child_stderr);
    }
    return error;
}

}  // namespace

SendResult send_mail(const std::filesystem::path& sendmail, const std::string& envelope_from,
                     std::string_view message, std::chrono::milliseconds timeout) {
    SendResult result;
    if (!sendmail.is_absolute()) {
        result.error = "alerts.sendmail must be an absolute path";
        return result;
    }
    if (!envelope_from.empty() && envelope_from.front() == '-') {
        result.error = "alerts.mail_from must not start with '-'";
        return result;
    }
    const std::string path = sendmail.string();
    SendmailChild child;
    result.error = start_sendmail(path, envelope_from, child);
    if (!result.error.empty()) {
        return result;
    }

    const auto deadline = Clock::now() + timeout;
    const Feeding feeding = feed_child(child, message, deadline);
    int status = 0;
    const ExitWait exit =
        feeding.timed_out ? ExitWait::timed_out : wait_for_exit(child.pid, deadline, status);
    if (exit == ExitWait::timed_out) {
        kill(child.pid, SIGKILL);
        while (waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
        }
        result.error = "sendmail " + printable(path) + " did not finish within " +
                       std::to_string(timeout.count()) + " ms; killed";
        return result;
    }
    if (exit == ExitWait::failed) {
        result.error = errno_text("waitpid");
        return result;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !feeding.write_failed &&
        feeding.written == message.size()) {
        result.ok = true;
        return result;
    }
    result.error = describe_failure(path, status, feeding.child_stderr);
    return result;
}

std::string url_origin_for_log(std::string_view url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        return "(not a URL)";
    }
    auto rest = url.substr(scheme_end + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    const auto at = rest.rfind('@');  // never log userinfo
    if (at != std::string_view::npos) {
        rest = rest.substr(at + 1);
    }
    return printable(url.substr(0, scheme_end + 3), 16) + printable(rest, 200);
}

namespace {

// The receiver's answer is not needed; at most this much of it is read, so a hostile receiver
// cannot fill memory. A 2xx whose body goes over it still counts as delivered.
constexpr std::size_t webhook_answer_limit = 64u << 10;

// A certificate that does not verify will not verify on the next try either, nor will a URL
// that libcurl refuses.
bool worth_retrying(CURLcode failure) {
    return failure != CURLE_PEER_FAILED_VERIFICATION && failure != CURLE_SSL_CACERT_BADFILE &&
           failure != CURLE_UNSUPPORTED_PROTOCOL && failure != CURLE_URL_MALFORMAT;
}

}  // namespace

SendResult post_webhook(const std::string& url, const std::string& json,
                        const WebhookOptions& options) {
    SendResult result;
    const std::string origin = url_origin_for_log(url);
    if (url.rfind("https://", 0) != 0) {
        result.error = "alerts.webhook must be an https:// URL";
        return result;
    }
    HttpOptions http;
    http.ca_file = options.ca_file;
    http.connect_timeout = options.connect_timeout;
    http.request_timeout = options.request_timeout;
    http.body_limit = webhook_answer_limit;
    std::optional<HttpClient> client;
    try {
        client.emplace(std::move(http), nullptr);
    } catch (const std::exception&) {
        result.error = "curl_easy_init failed";
        return result;
    }

    auto backoff = options.first_backoff;
    for (int attempt = 0;; ++attempt) {
        const HttpResponse r = client->post_json(url, json);
        bool retry = false;
        if (r.error == TransportError::none ||
            (r.error == TransportError::too_large && r.status != 0)) {
            if (r.status >= 200 && r.status < 300) {
                result.ok = true;
                result.error.clear();
                return result;
            }
            result.error = "webhook " + origin + " answered HTTP " + std::to_string(r.status);
            retry = r.status == 408 || r.status == 429 || r.status >= 500;
        } else {
            result.error = "webhook " + origin + ": " + printable(r.error_message, 200);
            retry = worth_retrying(r.curl_code);
        }
        if (!retry || attempt >= options.retries) {
            if (attempt > 0) {
                result.error += " (after " + std::to_string(attempt + 1) + " attempts)";
            }
            return result;
        }
        std::this_thread::sleep_for(backoff);
        backoff *= 2;
    }
}

}  // namespace m365gate::sync
