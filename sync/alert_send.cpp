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
#include "sync/http.h"

namespace m365gate::sync {
namespace {

using Clock = std::chrono::steady_clock;

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const noexcept { return fd_; }
    void reset() noexcept {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

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
    int in_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0) {
        result.error = errno_text("pipe");
        return result;
    }
    Fd in_read(in_pipe[0]), in_write(in_pipe[1]);
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        result.error = errno_text("pipe");
        return result;
    }
    Fd err_read(err_pipe[0]), err_write(err_pipe[1]);
    const int dev_null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    Fd null_fd(dev_null);

    // Everything the child needs is prepared before fork(): after it, only async-signal-safe
    // calls (dup2, close_range, execv, _exit) in a process that may have other threads.
    const std::string path = sendmail.string();
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
        result.error = errno_text("fork");
        return result;
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
    in_read.reset();
    err_write.reset();
    null_fd.reset();
    fcntl(in_write.get(), F_SETFL, O_NONBLOCK);
    fcntl(err_read.get(), F_SETFL, O_NONBLOCK);

    const auto deadline = Clock::now() + timeout;
    std::size_t written = 0;
    std::string child_err;
    bool write_failed = false;
    bool timed_out = false;
    while (in_write.get() >= 0 || err_read.get() >= 0) {
        if (Clock::now() >= deadline) {
            timed_out = true;
            break;
        }
        pollfd fds[2];
        nfds_t n = 0;
        if (in_write.get() >= 0) {
            fds[n++] = {in_write.get(), POLLOUT, 0};
        }
        if (err_read.get() >= 0) {
            fds[n++] = {err_read.get(), POLLIN, 0};
        }
        const int r = poll(fds, n, remaining_ms(deadline));
        if (r < 0 && errno != EINTR) {
            break;
        }
        for (nfds_t k = 0; k < n && r > 0; ++k) {
            if (fds[k].revents == 0) {
                continue;
            }
            if (fds[k].fd == in_write.get()) {
                const ssize_t w =
                    write_no_sigpipe(in_write.get(), message.data() + written,
                                     std::min<std::size_t>(message.size() - written, 65536));
                if (w > 0) {
                    written += static_cast<std::size_t>(w);
                } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    write_failed = true;
                    in_write.reset();
                    continue;
                }
                if (written == message.size()) {
                    in_write.reset();  // EOF on the child's stdin ends the message
                }
            } else {
                char buf[1024];
                const ssize_t got = ::read(err_read.get(), buf, sizeof buf);
                if (got > 0) {
                    if (child_err.size() < 4096) {
                        child_err.append(buf, static_cast<std::size_t>(got));
                    }
                } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    err_read.reset();
                }
            }
        }
    }
    in_write.reset();
    err_read.reset();

    int status = 0;
    pid_t waited = 0;
    while (!timed_out) {
        waited = waitpid(pid, &status, WNOHANG);
        if (waited == pid || (waited < 0 && errno != EINTR)) {
            break;
        }
        if (Clock::now() >= deadline) {
            timed_out = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (timed_out) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        result.error = "sendmail " + printable(path) + " did not finish within " +
                       std::to_string(timeout.count()) + " ms; killed";
        return result;
    }
    if (waited != pid) {
        result.error = errno_text("waitpid");
        return result;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !write_failed &&
        written == message.size()) {
        result.ok = true;
        return result;
    }
    if (WIFEXITED(status)) {
        result.error = "sendmail " + printable(path) + " exited with status " +
                       std::to_string(WEXITSTATUS(status)) +
                       (WEXITSTATUS(status) == 127 ? " (cannot execute)" : "");
    } else if (WIFSIGNALED(status)) {
        result.error =
            "sendmail " + printable(path) + " killed by signal " + std::to_string(WTERMSIG(status));
    } else {
        result.error = "sendmail " + printable(path) + " did not read the whole message";
    }
    if (!child_err.empty()) {
        result.error += ": " + first_line(child_err);
    }
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
