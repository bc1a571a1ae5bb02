// m365gatectl secret set, check-config and reload: files, modes, signals.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <sstream>

#include "common/credentials.h"
#include "ctl/ctl.h"
#include "tests/unit/ctl_fixture.h"

using namespace m365gate;
using namespace m365gate::ctl;
using namespace m365gate::ctl::testing;

namespace {

unsigned file_mode(const std::filesystem::path& file) {
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::size_t files_in(const std::filesystem::path& dir) {
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        (void)entry;
        ++n;
    }
    return n;
}

// secret set gives the file to sync.user, so it must exist: "nobody" when the tests run as
// root, else the user running them (secret set runs as root or as sync.user).
std::string sync_user_for_tests() {
    if (::geteuid() == 0) return "nobody";
    const passwd* pw = ::getpwuid(::geteuid());
    return pw != nullptr ? pw->pw_name : "";
}

// A child that sleeps until killed; its name is not m365gate-sync. The constructor returns
// once the child has exec'd (the close-on-exec pipe reads EOF), so /proc/PID/comm is "sleep".
struct Sleeper {
    pid_t pid = -1;
    Sleeper() {
        int exec_done[2];
        if (::pipe2(exec_done, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        pid = ::fork();
        if (pid == 0) {
            ::execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(exec_done[1]);
        char c;
        while (::read(exec_done[0], &c, 1) < 0 && errno == EINTR) {
        }
        ::close(exec_done[0]);
    }
    ~Sleeper() {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
};

}  // namespace

TEST_CASE("secret set replaces the credential file atomically with mode 0600", "[ctl][secret]") {
    StoreFixture fx;
    fx.cfg.sync.user = sync_user_for_tests();
    const auto& file = fx.cfg.tenants[0].client_secret_file;
    std::ostringstream out, err;
    SecretSetOptions options;
    options.tenant = "contoso";
    options.verify = false;  // no token endpoint here: tried in ctl_integration

    SECTION("new file, with expiry; it reads back as the same credential") {
        options.expires = "2028-11-01";
        std::istringstream in("  Abc~new.secret_value-1\n");
        REQUIRE(run_secret_set(fx.cfg, options, in, out, err) == 0);
        CHECK(file_mode(file) == 0600);
        const Credential c = load_credential(file);
        CHECK(c.secret.reveal() == "Abc~new.secret_value-1");
        REQUIRE(c.expires);
        CHECK(format_time(
                  std::chrono::duration_cast<std::chrono::seconds>(c.expires->time_since_epoch())
                      .count()) == "2028-11-01T00:00:00Z");
        CHECK_THAT(out.str(), Catch::Contains("wrote " + file.string() + " (mode 0600"));
        CHECK_THAT(out.str(), Catch::Contains("not running"));
        CHECK(out.str().find("Abc~new") == std::string::npos);
        CHECK(err.str().find("Abc~new") == std::string::npos);
    }
    SECTION("an existing file is replaced, no temp file is left, mode 0600 again") {
        write_file(file, "old-secret\n");
        std::filesystem::permissions(file, std::filesystem::perms::owner_read);  // 0400
        const std::size_t before = files_in(fx.dir.path());
        std::istringstream in("quote\"and\\backslash");
        REQUIRE(run_secret_set(fx.cfg, options, in, out, err) == 0);
        // The old file is kept beside it as .previous, with its mode, until the sync used the
        // new one.
        CHECK(files_in(fx.dir.path()) == before + 1);
        const std::filesystem::path previous = file.string() + ".previous";
        CHECK(load_credential(previous).secret.reveal() == "old-secret");
        CHECK(file_mode(previous) == 0400);
        CHECK(out.str().find(".previous until m365gate-sync has signed in") != std::string::npos);
        CHECK(file_mode(file) == 0600);
        const Credential c = load_credential(file);
        CHECK(c.secret.reveal() == "quote\"and\\backslash");
        CHECK_FALSE(c.expires);
    }
    SECTION("bad input changes nothing") {
        write_file(file, "old-secret\n");
        struct Case {
            const char* label;
            std::string input;
            const char* expires;
            const char* message;
        };
        const Case cases[] = {
            {"empty input", "\n  \n", "", "no secret on standard input"},
            {"two lines", "one\ntwo\n", "", "more than one line"},
            {"control character", std::string("a\x01b"), "", "control character"},
            {"bad date", "s", "next year", "--expires \"next year\""},
            {"expiry in the past", "s", "2020-01-01", "is in the past"},
        };
        for (const auto& c : cases) {
            INFO(c.label);
            std::ostringstream o, e;
            options.expires = c.expires;
            std::istringstream in(c.input);
            CHECK(run_secret_set(fx.cfg, options, in, o, e) == exit_usage);
            CHECK_THAT(e.str(), Catch::Contains(c.message));
            CHECK(read_file(file) == "old-secret\n");
        }
    }
    SECTION("an unknown tenant is an error") {
        options.tenant = "fabrikam";
        std::istringstream in("s");
        CHECK(run_secret_set(fx.cfg, options, in, out, err) == exit_usage);
        CHECK_THAT(err.str(), Catch::Contains("no tenant \"fabrikam\""));
    }
    SECTION("no .previous when only the expiry changes or there was no credential") {
        const std::filesystem::path previous = file.string() + ".previous";
        write_file(file, "secret = \"same~secret\"\nexpires = 2030-01-01T00:00:00Z\n");
        std::istringstream in("same~secret");
        options.expires = "2031-01-01";
        REQUIRE(run_secret_set(fx.cfg, options, in, out, err) == 0);
        CHECK_FALSE(std::filesystem::exists(previous));
        write_file(file, "");
        std::istringstream in2("other~secret");
        REQUIRE(run_secret_set(fx.cfg, options, in2, out, err) == 0);
        CHECK_FALSE(std::filesystem::exists(previous));
    }
    SECTION("a pasted secret ID gets a warning") {
        std::istringstream in("0c9e6a6f-5b2d-4c1e-9a3b-8f2d1e0c7b6a");
        REQUIRE(run_secret_set(fx.cfg, options, in, out, err) == 0);
        CHECK_THAT(err.str(), Catch::Contains("looks like a secret ID"));
    }
    SECTION("a pid file naming another program is not signalled") {
        Sleeper sleeper;
        write_file(fx.cfg.sync.pid_file, std::to_string(sleeper.pid) + "\n");
        std::istringstream in("s3cret");
        REQUIRE(run_secret_set(fx.cfg, options, in, out, err) == 0);
        CHECK_THAT(out.str(), Catch::Contains("is \"sleep\", not m365gate-sync"));
        CHECK(::kill(sleeper.pid, 0) == 0);
    }
}

TEST_CASE("secret set refuses places where another user could interfere", "[ctl][secret]") {
    StoreFixture fx;
    fx.cfg.sync.user = sync_user_for_tests();
    auto& file = fx.cfg.tenants[0].client_secret_file;
    std::ostringstream out, err;
    SecretSetOptions options;
    options.tenant = "contoso";
    options.verify = false;  // no token endpoint here: tried in ctl_integration
    options.reload = false;

    SECTION("a directory writable by others (even sticky, as /tmp): exit 77, nothing written") {
        const auto open_dir = fx.dir.path() / "open";
        std::filesystem::create_directory(open_dir);
        REQUIRE(::chmod(open_dir.c_str(), 01777) == 0);
        file = open_dir / "contoso.secret";
        std::istringstream in("s3cret-value");
        CHECK(run_secret_set(fx.cfg, options, in, out, err) == exit_unsafe);
        CHECK_THAT(err.str(), Catch::Contains("writable by group or others"));
        CHECK(files_in(open_dir) == 0);
    }
    SECTION("a file that belongs to another user: exit 77, the file untouched") {
        if (::geteuid() != 0) {
            SUCCEED("needs root to give a file away");
            return;
        }
        write_file(file, "planted\n");
        const passwd* daemon_user = ::getpwnam("daemon");
        REQUIRE(daemon_user != nullptr);
        REQUIRE(::chown(file.c_str(), daemon_user->pw_uid, daemon_user->pw_gid) == 0);
        std::istringstream in("s3cret-value");
        CHECK(run_secret_set(fx.cfg, options, in, out, err) == exit_unsafe);
        CHECK_THAT(err.str(), Catch::Contains("belongs to uid"));
        CHECK(read_file(file) == "planted\n");
    }
    SECTION("a sync.user that does not exist: exit 1") {
        fx.cfg.sync.user = "no-such-user-m365gate";
        std::istringstream in("s3cret-value");
        CHECK(run_secret_set(fx.cfg, options, in, out, err) == exit_failure);
        CHECK_THAT(err.str(), Catch::Contains("no such user"));
    }
}

TEST_CASE("credential_file_text is TOML that load_credential reads back", "[ctl][secret]") {
    CHECK(credential_file_text("a~b", std::nullopt) == "secret = \"a~b\"\n");
    CHECK(credential_file_text("a~b", test_now) ==
          "secret = \"a~b\"\nexpires = 2026-11-23T09:00:00Z\n");
}

TEST_CASE("check-config validates config and credential files", "[ctl][check-config]") {
    TempDir dir;
    const auto config = dir.path() / "m365gate.toml";
    const auto secret = dir.path() / "contoso.secret";
    const std::string text = "[store]\npath = \"" + (dir.path() / "store").string() +
                             "\"\n\n[[tenant]]\nname = \"contoso\"\n"
                             "tenant_id = \"11111111-1111-1111-1111-111111111111\"\n"
                             "client_id = \"22222222-2222-2222-2222-222222222222\"\n"
                             "client_secret_file = \"" +
                             secret.string() + "\"\ndomains = [\"contoso.example\"]\n";
    write_file(config, text,
               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                   std::filesystem::perms::group_read | std::filesystem::perms::others_read);
    std::ostringstream out, err;

    SECTION("valid, with the secret expiry shown") {
        write_file(secret, "secret = \"s\"\nexpires = 2026-12-01T00:00:00Z\n");
        REQUIRE(run_check_config(config, test_now, out, err) == 0);
        CHECK_THAT(out.str(), Catch::Contains("tenant contoso"));
        CHECK_THAT(out.str(), Catch::Contains("mode 0600"));
        // 7 days and 15 hours: 8 days, rounded up as the alert mails count (common/days.h).
        CHECK_THAT(out.str(), Catch::Contains("2026-12-01T00:00:00Z (8 days left, from credential "
                                              "file)"));
        CHECK_THAT(out.str(), Catch::Contains("warning: tenant contoso: the client secret expires "
                                              "in 8 days"));
        CHECK_THAT(out.str(), Catch::Contains("result: OK with"));
        CHECK_THAT(out.str(), Catch::Contains("\n[metrics] off\n"));
        CHECK(err.str().empty());
    }
    SECTION("[metrics] is shown, and a textfile_dir that does not exist is a warning") {
        write_file(secret, "secret = \"s\"\nexpires = 2027-12-01T00:00:00Z\n");
        write_file(config, text + "[metrics]\ntextfile_dir = \"" + (dir.path() / "prom").string() +
                               "\"\ninterval = \"30s\"\n");
        REQUIRE(run_check_config(config, test_now, out, err) == 0);
        CHECK_THAT(out.str(),
                   Catch::Contains("[metrics] m365gate_milter.prom and m365gate_sync.prom "
                                   "into " +
                                   (dir.path() / "prom").string() + " every 30s\n"));
        CHECK_THAT(out.str(), Catch::Contains("warning: metrics.textfile_dir " +
                                              (dir.path() / "prom").string() +
                                              " does not exist: no metrics are written"));
    }
    SECTION("a credential file readable by others is an error") {
        write_file(secret, "s\n",
                   std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                       std::filesystem::perms::others_read);
        CHECK(run_check_config(config, test_now, out, err) == exit_config);
        CHECK_THAT(err.str(), Catch::Contains("error: tenant contoso:"));
        CHECK_THAT(err.str(), Catch::Contains("chmod 600"));
    }
    SECTION("a missing credential file is an error that says how to create it") {
        CHECK(run_check_config(config, test_now, out, err) == exit_config);
        CHECK_THAT(err.str(), Catch::Contains("m365gatectl secret set --tenant contoso"));
    }
    SECTION("an invalid config names file, line and key") {
        write_file(config, text + "bogus_key = 1\n");
        CHECK(run_check_config(config, test_now, out, err) == exit_config);
        CHECK_THAT(err.str(), Catch::Contains(config.string() + ":"));
        CHECK_THAT(err.str(), Catch::Contains("bogus_key"));
    }
}

TEST_CASE("reload signals only running daemons and says so", "[ctl][reload]") {
    StoreFixture fx;
    std::ostringstream out, err;
    SECTION("neither runs: non-zero exit") {
        CHECK(run_reload(fx.cfg, out, err) == exit_failure);
        CHECK_THAT(err.str(), Catch::Contains("m365gate-sync: not running (no pid file"));
        CHECK_THAT(err.str(), Catch::Contains("m365gate-milter: not running (no pid file"));
    }
    SECTION("a stale pid file is not trusted") {
        write_file(fx.cfg.milter.pid_file, "999999999\n");
        CHECK(run_reload(fx.cfg, out, err) == exit_failure);
        CHECK_THAT(err.str(), Catch::Contains("m365gate-milter: not running (stale pid file"));
    }
}
