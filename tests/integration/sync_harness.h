// tests/integration/sync_harness.h - real parts for the sync integration tests: the Graph
// simulator over real TLS (a test CA from make-test-ca.sh), a config + credential file in a
// temporary directory, the real m365gate-sync binary, and the real LMDB store it writes.
//
// Started as root (CI, containers), m365gate-sync drops to sync.user; the harness then uses
// "nobody" and hands the temporary directory to it, as an admin would to user m365gate.
#pragma once

#include <curl/curl.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

namespace sync_test {

namespace fs = std::filesystem;
using json = nlohmann::json;

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void write_file(const fs::path& p, const std::string& text, mode_t mode = 0644) {
    {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out << text;
    }
    ::chmod(p.c_str(), mode);
}

// Starts argv with `env` added to the environment; output to `log` (appended).
inline pid_t spawn(const std::vector<std::string>& argv, const fs::path& log,
                   const std::map<std::string, std::string>& env = {}) {
    const pid_t pid = fork();
    if (pid == 0) {
        for (const auto& [name, value] : env) {
            setenv(name.c_str(), value.c_str(), 1);
        }
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        std::vector<char*> args;
        for (const auto& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    return pid;
}

// Polls `condition` every 50 ms until it holds (true) or `limit` passes (false).
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (condition()) {
            return true;
        }
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

// Lines of `text` holding `needle`.
inline int count_lines(const std::string& text, const std::string& needle) {
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        n += line.find(needle) != std::string::npos ? 1 : 0;
    }
    return n;
}

inline int wait_exit(pid_t pid, std::chrono::seconds limit = std::chrono::seconds(150)) {
    if (pid <= 0) {
        return -1;  // fork failed; never kill(-1, ...) or kill(0, ...)
    }
    const auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (std::chrono::steady_clock::now() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// The test CA, made once per test process and removed when it exits (ctest runs every test
// case as a process of its own: left behind, a suite run leaves dozens of key directories).
struct TestCa {
    fs::path dir;
    ~TestCa() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};
inline const fs::path& ca_dir() {
    static const TestCa ca = [] {
        char tmpl[] = "/tmp/m365gate-sync-ca.XXXXXX";
        const char* d = mkdtemp(tmpl);
        if (d == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        const std::string cmd = std::string("bash '") + M365GATE_MAKE_TEST_CA + "' '" + d + "'";
        if (std::system(cmd.c_str()) != 0) {
            std::error_code ec;
            fs::remove_all(d, ec);
            throw std::runtime_error("make-test-ca.sh failed");
        }
        return TestCa{fs::path(d)};  // a prvalue: no copy whose destructor would remove it
    }();
    return ca.dir;
}

struct CurlResult {
    long status = 0;
    std::string body;
};

inline std::size_t collect(char* p, std::size_t s, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, s * n);
    return s * n;
}

class Simulator {
public:
    // extra: e.g. {"--fixture", path} or {"--users", "100"}.
    Simulator(const fs::path& dir, const std::vector<std::string>& extra) : dir_(dir) {
        std::vector<std::string> argv{M365GATE_GRAPHSIM_BIN,
                                      "--listen",
                                      "127.0.0.1:0",
                                      "--cert",
                                      (ca_dir() / "server.pem").string(),
                                      "--key",
                                      (ca_dir() / "server.key").string(),
                                      "--port-file",
                                      (dir / "sim.port").string(),
                                      "--record",
                                      (dir / "sim.record").string(),
                                      "--foreign-listen",
                                      "127.0.0.1:0",
                                      "--foreign-port-file",
                                      (dir / "sim.foreign-port").string()};
        argv.insert(argv.end(), extra.begin(), extra.end());
        pid_ = spawn(argv, dir / "sim.log");
        if (pid_ <= 0) {
            throw std::runtime_error("fork failed for graphsim");
        }
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!fs::exists(dir / "sim.port") || !fs::exists(dir / "sim.foreign-port")) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("graphsim exited: " + read_file(dir / "sim.log"));
            }
            if (std::chrono::steady_clock::now() > until) {
                throw std::runtime_error("graphsim did not start");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        port_ = std::stoi(read_file(dir / "sim.port"));
    }
    ~Simulator() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            wait_exit(pid_, std::chrono::seconds(10));
        }
    }
    Simulator(const Simulator&) = delete;
    Simulator& operator=(const Simulator&) = delete;

    std::string base() const { return "https://127.0.0.1:" + std::to_string(port_); }
    int port() const { return port_; }
    // The foreign listener ("another host"): its base and its share of the request record.
    std::string foreign_base() const {
        return "https://127.0.0.1:" +
               std::to_string(std::stoi(read_file(dir_ / "sim.foreign-port")));
    }
    std::vector<json> foreign_requests() const {
        std::vector<json> out;
        for (auto& r : requests()) {
            if (r["listener"] == "foreign") {
                out.push_back(std::move(r));
            }
        }
        return out;
    }

    CurlResult call(const std::string& method, const std::string& path,
                    const json& body = json()) const {
        CURL* h = curl_easy_init();
        CurlResult r;
        const std::string url = base() + path;
        const std::string data = body.is_null() ? std::string() : body.dump();
        curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_CAINFO, (ca_dir() / "ca.pem").c_str());
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        if (!body.is_null()) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, data.c_str());
        }
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
        if (curl_easy_perform(h) == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
        }
        curl_slist_free_all(headers);
        curl_easy_cleanup(h);
        return r;
    }

    // The request record (file written by --record), one JSON object per request.
    std::vector<json> requests() const {
        std::vector<json> out;
        std::istringstream in(read_file(dir_ / "sim.record"));
        std::string line;
        while (std::getline(in, line)) {
            json j = json::parse(line, nullptr, false);
            if (!j.is_discarded()) {
                out.push_back(std::move(j));
            }
        }
        return out;
    }

private:
    fs::path dir_;
    pid_t pid_ = -1;
    int port_ = 0;
};

struct TenantSpec {
    std::string name = "contoso";
    std::string tenant_id = "11111111-1111-1111-1111-111111111111";
    std::string client_id = "22222222-2222-2222-2222-222222222222";
    std::string secret = "s3cr3t~contoso~value~0001";
    std::string extra;  // more TOML lines for the [[tenant]] table
    // "" = the simulator's base (https://127.0.0.1:PORT).
    std::string login_endpoint;
    std::string graph_endpoint;
};

// A temporary directory with config, credentials and store; runs m365gate-sync on it.
class SyncRun {
public:
    SyncRun() {
        char tmpl[] = "/tmp/m365gate-sync-test.XXXXXX";
        const char* d = mkdtemp(tmpl);
        if (d == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir = d;
        ::chmod(dir.c_str(), 0755);
        fs::copy_file(ca_dir() / "ca.pem", dir / "ca.pem");
        fs::copy_file(ca_dir() / "wrong-ca.pem", dir / "wrong-ca.pem");
        fs::create_directories(dir / "store");
    }
    ~SyncRun() {
        std::error_code ec;
        if (std::getenv("M365GATE_KEEP_TEST_DIRS") == nullptr) {
            fs::remove_all(dir, ec);
        }
    }
    SyncRun(const SyncRun&) = delete;
    SyncRun& operator=(const SyncRun&) = delete;

    // Writes m365gate.toml and one credential file per tenant (mode 0600).
    void configure(const Simulator& sim, const std::vector<TenantSpec>& tenants,
                   const std::string& sync_extra = "", const std::string& level = "trace") {
        std::ostringstream t;
        t << "[store]\npath = \"" << (dir / "store").string() << "\"\nmax_size = \"256M\"\n"
          << "[log]\ntarget = \"stderr\"\nlevel = \"" << level << "\"\n"
          << "[sync]\nca_file = \"" << (dir / "ca.pem").string() << "\"\n"
          << (sync_extra.find("max_backoff") == std::string::npos ? "max_backoff = \"2s\"\n" : "")
          << "max_retries = 2\nconnect_timeout = \"5s\"\n"
          << (sync_extra.find("request_timeout") == std::string::npos
                  ? "request_timeout = \"30s\"\n"
                  : "")
          << "pid_file = \"\"\nuser = \"nobody\"\n"
          << sync_extra << "\n";
        for (const auto& spec : tenants) {
            const fs::path secret = dir / (spec.name + ".secret");
            if (!spec.secret.empty()) {  // empty: the spec's extra names another credential
                write_file(secret, spec.secret + "\n", 0600);
            }
            t << "[[tenant]]\nname = \"" << spec.name << "\"\ntenant_id = \"" << spec.tenant_id
              << "\"\nclient_id = \"" << spec.client_id << "\"\n"
              << (spec.secret.empty() ? std::string()
                                      : "client_secret_file = \"" + secret.string() + "\"\n")
              << "login_endpoint = \""
              << (spec.login_endpoint.empty() ? sim.base() : spec.login_endpoint)
              << "\"\ngraph_endpoint = \""
              << (spec.graph_endpoint.empty() ? sim.base() : spec.graph_endpoint) << "\"\n"
              << spec.extra << "\n";
        }
        write_file(config_file(), t.str());
        hand_over();
    }

    fs::path config_file() const { return dir / "m365gate.toml"; }
    fs::path log_file() const { return dir / "sync.log"; }

    // Started as root, the binary drops to "nobody": give it the directory.
    void hand_over() const {
        if (geteuid() != 0) {
            return;
        }
        const passwd* pw = getpwnam("nobody");
        if (pw == nullptr) {
            return;
        }
        for (const auto& e : fs::recursive_directory_iterator(dir)) {
            (void)::lchown(e.path().c_str(), pw->pw_uid, pw->pw_gid);
        }
        (void)::chown(dir.c_str(), pw->pw_uid, pw->pw_gid);
    }

    // m365gate-sync --config ... <args>; returns the exit status. Output appended to the log.
    int sync(const std::vector<std::string>& args = {"--once"}) {
        hand_over();
        std::vector<std::string> argv{M365GATE_SYNC_BIN, "--config", config_file().string()};
        argv.insert(argv.end(), args.begin(), args.end());
        const auto before = fs::exists(log_file()) ? fs::file_size(log_file()) : 0;
        const int rc = wait_exit(spawn(argv, log_file(), env));
        last_output = read_file(log_file()).substr(before);
        return rc;
    }
    pid_t start_daemon() {
        hand_over();
        return spawn({M365GATE_SYNC_BIN, "--config", config_file().string()}, log_file(), env);
    }
    std::string log() const { return read_file(log_file()); }

    std::set<std::string> addresses(const std::string& tenant = "contoso") const {
        m365gate::store::StoreOptions o;
        o.read_only = true;
        o.max_size = 256ull << 20;
        m365gate::store::Store store(dir / "store", o);
        m365gate::store::Snapshot snap(store);
        std::set<std::string> out;
        snap.for_each_address(tenant, [&](std::string_view a, const m365gate::store::Recipient&) {
            out.insert(std::string(a));
            return true;
        });
        return out;
    }
    m365gate::store::TenantState state(const std::string& tenant = "contoso") const {
        m365gate::store::StoreOptions o;
        o.read_only = true;
        o.max_size = 256ull << 20;
        m365gate::store::Store store(dir / "store", o);
        m365gate::store::Snapshot snap(store);
        return snap.tenant_state(tenant).value_or(m365gate::store::TenantState{});
    }

    fs::path dir;
    std::string last_output;
    // Added to the environment of every m365gate-sync started (M365GATE_TEST_NOW...).
    std::map<std::string, std::string> env;
};

// m365gate-sync as a daemon on `run`'s config; stopped (SIGTERM, then SIGKILL after the
// limit) when the object goes, so a failed REQUIRE never leaves it running.
class Daemon {
public:
    explicit Daemon(SyncRun& run) : pid_(run.start_daemon()) {
        if (pid_ <= 0) {
            throw std::runtime_error("fork failed for m365gate-sync");
        }
    }
    ~Daemon() { stop(); }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    void signal(int sig) const {
        if (pid_ > 0) {  // never kill(-1, ...) or kill(0, ...)
            kill(pid_, sig);
        }
    }
    // SIGTERM and the exit status (-1 when it had to be killed or was not running).
    int stop(std::chrono::seconds limit = std::chrono::seconds(30)) {
        if (pid_ <= 0) {
            return -1;
        }
        kill(pid_, SIGTERM);
        const int rc = wait_exit(pid_, limit);
        pid_ = -1;
        return rc;
    }

private:
    pid_t pid_ = -1;
};

inline std::set<std::string> expected_addresses(const std::string& fixture) {
    std::set<std::string> out;
    std::istringstream in(
        read_file(fs::path(M365GATE_SOURCE_DIR_STR) / "tests/fixtures" / (fixture + ".expected")));
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line[0] != '#') {
            out.insert(line);
        }
    }
    return out;
}

inline std::vector<std::string> fixture_args(const std::string& fixture) {
    return {"--fixture",
            (fs::path(M365GATE_SOURCE_DIR_STR) / "tests/fixtures" / (fixture + ".json")).string()};
}

// "2026-11-23T10:04:54.980Z" -> milliseconds since the epoch.
inline std::int64_t record_ms(const std::string& ts) {
    std::tm tm{};
    int ms = 0;
    if (sscanf(ts.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6) {
        return 0;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

}  // namespace sync_test
