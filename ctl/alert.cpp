// ctl/alert.cpp - m365gatectl alert test: a test alert through every configured channel.
//
// m365gatectl links no sync/ code (DESIGN.md: the CLI never holds the HTTP client or the
// alert texts), so it runs the sync worker's own binary, `m365gate-sync --alert-test --tenant
// NAME`, which builds the alert exactly as the daemon would, sends it by mail and webhook, and
// says per channel what happened. Run as root, m365gate-sync drops to sync.user first, so the
// test goes out as the daemon's would. Its output is passed on; its status is ours.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "common/text.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

int run_alert_test(const Config& cfg, const AlertTestOptions& options, std::ostream& out,
                   std::ostream& err) {
    if (cfg.find_tenant(options.tenant) == nullptr) {
        err << "m365gatectl: alert test: no tenant \"" << printable(options.tenant) << "\" in "
            << options.config_file << "\n";
        return exit_usage;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        err << "m365gatectl: alert test: pipe: " << std::strerror(errno) << "\n";
        return exit_failure;
    }
    const std::string program = options.sync_program.string();
    std::vector<std::string> args = {program,        "--config", options.config_file,
                                     "--alert-test", "--tenant", options.tenant};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
        err << "m365gatectl: alert test: fork: " << std::strerror(errno) << "\n";
        close(fds[0]);
        close(fds[1]);
        return exit_failure;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        execv(program.c_str(), argv.data());
        const std::string why = "cannot run " + program + ": " + std::strerror(errno) + "\n";
        (void)!write(STDERR_FILENO, why.data(), why.size());
        _exit(127);
    }
    close(fds[1]);
    char buffer[4096];
    ssize_t n = 0;
    while ((n = read(fds[0], buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) {
            out.write(buffer, n);
        }
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status)) {
        err << "m365gatectl: alert test: " << program << " was killed\n";
        return exit_failure;
    }
    const int code = WEXITSTATUS(status);
    if (code == 1) {
        err << "m365gatectl: alert test: not every channel delivered the test alert\n";
    } else if (code == 127) {
        err << "m365gatectl: alert test: " << program
            << " did not run (--sync names the m365gate-sync binary)\n";
        return exit_failure;
    }
    return code;
}

}  // namespace m365gate::ctl
