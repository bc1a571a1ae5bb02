// tests/tools/fs_race.cpp - m365gate-fs-race: the attacker of tests/integration/fs_socket_race.sh.
// Run as the owner of a directory (the milter's user), it watches NAME in DIR and, each time a
// unix socket appears there, at once renames a prepared symlink to TARGET over it: a daemon that
// chmod()s or chown()s the socket by path after binding it then changes TARGET instead.
//
//   m365gate-fs-race --dir DIR --name NAME --target TARGET --seconds N
// Stops after N seconds or at SIGTERM; prints "swaps=K" (how many sockets it replaced).
#include <signal.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <string>

namespace {
volatile sig_atomic_t stop = 0;
void on_term(int /*sig*/) { stop = 1; }
}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"m365gate-fs-race: replace a freshly bound socket with a symlink (tests only)"};
    std::string dir, name, target;
    double seconds = 10;
    cli.add_option("--dir", dir)->required();
    cli.add_option("--name", name)->required();
    cli.add_option("--target", target)->required();
    cli.add_option("--seconds", seconds);
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? EX_OK : EX_USAGE;
    }
    ::signal(SIGTERM, on_term);
    const std::string path = dir + "/" + name;
    const std::string link = dir + "/.race-link";
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(seconds));
    long swaps = 0;
    bool prepared = false;
    for (long round = 0;; ++round) {
        if (stop != 0 || ((round & 0xfff) == 0 && std::chrono::steady_clock::now() >= deadline)) {
            break;
        }
        if (!prepared) {
            ::unlink(link.c_str());
            prepared = ::symlink(target.c_str(), link.c_str()) == 0;
        }
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
            ::rename(link.c_str(), path.c_str()) == 0) {
            ++swaps;
            prepared = false;
        }
    }
    ::unlink(link.c_str());
    std::cout << "swaps=" << swaps << "\n";
    return EX_OK;
}
