// ctl/credential_verify.cpp - a new credential tried with a real token request before it is
// installed (`secret set`; `cert set` can use the same function).
//
// m365gatectl does not link sync/ code (docs/architecture.md: nothing outside sync/ includes
// it, and the HTTPS and token code stays in the one process that holds the tenant secrets at
// run time), so the request is made by `m365gate-sync --check-credential --tenant NAME`: the
// same binary, HttpClient (TLS settings, sync.ca_file) and TokenClient the daemon uses, run as
// sync.user (it drops privileges when started as root). The credential goes to it on a pipe,
// never on its command line or in a file; its answer is one key=value line
// (sync/credential_check.h). The program is found next to this one: ./m365gate-sync,
// ../sbin/m365gate-sync (installed: /usr/bin and /usr/sbin), ../sync/m365gate-sync (the build
// tree).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/text.h"
#include "common/unique_fd.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

namespace {

constexpr std::size_t max_answer_octets = 256u << 10;

// The value of `key` in a key=value line whose values may be "quoted" (no quotes inside);
// the keys come in a fixed order, error last, so text inside error="..." is never a key.
std::string field(const std::string& line, const std::string& key) {
    const std::string prefix = key + "=";
    std::size_t at = line.find(" " + prefix);  // the first: error="..." comes last
    at = line.compare(0, prefix.size(), prefix) == 0 ? 0 : (at == std::string::npos ? at : at + 1);
    if (at == std::string::npos) {
        return "";
    }
    const std::size_t start = at + prefix.size();
    if (start < line.size() && line[start] == '"') {
        const std::size_t end = line.find('"', start + 1);
        return line.substr(start + 1, end == std::string::npos ? end : end - start - 1);
    }
    return line.substr(start, line.find(' ', start) - start);
}

// Writes `text` to the child's stdin and closes it; reads everything it prints (stdout and
// stderr together) until it exits. The credential fits in the pipe's buffer (max 64 KiB).
std::string talk_to(int to_child, int from_child, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(to_child, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;  // the child is gone; its answer says why
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(to_child);
    std::string answer;
    std::array<char, 4096> buf{};
    for (;;) {
        const ssize_t n = ::read(from_child, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        if (answer.size() < max_answer_octets) {
            answer.append(buf.data(), static_cast<std::size_t>(n));
        }
    }
    return answer;
}

CredentialVerdict unavailable(std::string message) {
    CredentialVerdict v;
    v.status = CredentialCheck::unavailable;
    v.message = std::move(message);
    return v;
}

// The verdict from the child's exit status and its status= line; the other lines (its log)
// are kept as detail.
CredentialVerdict read_answer(const std::string& answer, int wait_status) {
    CredentialVerdict v;
    std::string line;
    for (std::size_t pos = 0; pos < answer.size();) {
        const std::size_t end = answer.find('\n', pos);
        const std::string l = answer.substr(pos, end == std::string::npos ? end : end - pos);
        pos = end == std::string::npos ? answer.size() : end + 1;
        if (l.compare(0, 7, "status=") == 0) {
            line = l;
        } else if (!l.empty()) {
            v.detail += printable(l) + "\n";
        }
    }
    const int code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
    v.code = field(line, "code");
    v.message = field(line, "error");
    if (code == 0 && field(line, "status") == "accepted") {
        v.status = CredentialCheck::accepted;
    } else if (code == 1 && field(line, "status") == "refused") {
        v.status = CredentialCheck::refused;
    } else {
        v.status = CredentialCheck::unavailable;
        if (v.message.empty()) {
            v.message = "m365gate-sync --check-credential ended with " +
                        (code >= 0 ? "exit status " + std::to_string(code) : "a signal") +
                        " and no answer";
        }
    }
    return v;
}

}  // namespace

std::filesystem::path sync_program() {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) {
        return {};
    }
    const auto dir = self.parent_path();
    for (const auto& candidate : {dir / "m365gate-sync", dir / ".." / "sbin" / "m365gate-sync",
                                  dir / ".." / "sync" / "m365gate-sync"}) {
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.lexically_normal();
        }
    }
    return {};
}

CredentialVerdict verify_credential(const Config& cfg, const TenantConfig& tenant,
                                    const std::string& credential_text) {
    const std::filesystem::path program = sync_program();
    if (program.empty()) {
        return unavailable("m365gate-sync was not found next to m365gatectl");
    }
    int in_pipe[2];
    int out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
        return unavailable(std::string("pipe: ") + std::strerror(errno));
    }
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        ::close(in_pipe[0]);
        ::close(in_pipe[1]);
        return unavailable(std::string("pipe: ") + std::strerror(errno));
    }
    const std::string config = cfg.file.string();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in_pipe[0], STDIN_FILENO);
        ::dup2(out_pipe[1], STDOUT_FILENO);
        ::dup2(out_pipe[1], STDERR_FILENO);
        ::execl(program.c_str(), "m365gate-sync", "--config", config.c_str(), "--check-credential",
                "--tenant", tenant.name.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (pid < 0) {
        ::close(in_pipe[1]);
        ::close(out_pipe[0]);
        return unavailable(std::string("fork: ") + std::strerror(errno));
    }
    // A child that exits early must not kill us with SIGPIPE while we write.
    struct sigaction ignore {};
    struct sigaction saved {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &saved);
    const std::string answer = talk_to(in_pipe[1], out_pipe[0], credential_text);
    ::sigaction(SIGPIPE, &saved, nullptr);
    ::close(out_pipe[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return read_answer(answer, status);
}

}  // namespace m365gate::ctl
