// When alerts go out: thresholds, once-only rules, restarts, recovery. Time is a parameter;
// the state survives a "restart" through the store's own codec; what was sent is read from
// the log (the one channel that is always on) and, for mail, from a stand-in sendmail script.
#include "sync/alerts.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "store/store.h"
#include "sync/alert_send.h"
#include "tests/unit/temp_dir.h"

using namespace m365gate;
using namespace m365gate::sync;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t day = 86400;
constexpr std::int64_t expiry = 1801353600;  // 2027-01-31T00:00:00Z

// Installs a logger that writes into a string for the lifetime of the object.
class LogCapture {
public:
    LogCapture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        sink->set_pattern("%l %v");
        auto logger = std::make_shared<spdlog::logger>("test", sink);
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~LogCapture() { spdlog::set_default_logger(previous_); }
    std::string text() const { return out_.str(); }
    // Lines holding `needle`.
    int count(const std::string& needle) const {
        std::istringstream in(out_.str());
        std::string line;
        int n = 0;
        while (std::getline(in, line)) {
            n += line.find(needle) != std::string::npos ? 1 : 0;
        }
        return n;
    }
    void clear() {
        out_.str("");
        out_.clear();
    }

private:
    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> previous_;
};

using m365gate::testing::TempDir;

fs::path write_script(const fs::path& file, const std::string& body) {
    std::ofstream(file) << "#!/bin/sh\n" << body;
    chmod(file.c_str(), 0755);
    return file;
}

std::string read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

Config log_only_config() {
    Config cfg;
    cfg.alerts.timezone = "Asia/Tokyo";
    cfg.alerts.mail_to.clear();
    cfg.alerts.webhook.clear();
    return cfg;
}

TenantConfig tenant() {
    TenantConfig t;
    t.name = "contoso";
    t.tenant_id = "11111111-1111-1111-1111-111111111111";
    t.client_id = "22222222-2222-2222-2222-222222222222";
    return t;
}

store::TenantState state_expiring_at(std::int64_t expires) {
    store::TenantState s;
    s.secret_expires = expires;
    s.secret_expires_source = "credential_file";
    s.last_success = expires - 60 * day;
    return s;
}

// What a restart does to the state: encode to the store format and back.
store::TenantState persisted(const store::TenantState& s) {
    const auto back = store::decode_state(store::encode_state(s));
    REQUIRE(back);
    return *back;
}

SyncResult token_error(const std::string& code) {
    SyncResult r;
    r.error_kind = "token";
    r.error_code = code;
    r.message = "AADSTS" + code + ": refused";
    return r;
}

SyncResult success() {
    SyncResult r;
    r.ok = true;
    return r;
}

}  // namespace

TEST_CASE("each threshold fires exactly once across hourly checks and a restart",
          "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    auto state = state_expiring_at(expiry);
    for (std::int64_t now = expiry - 40 * day; now < expiry + 3 * day; now += 3600) {
        if (now == expiry - 10 * day) {  // restart: new process, state from the store
            state = persisted(state);
            alerter = make_alerter();
        }
        alerter->check_secret(cfg, tenant(), state, now);
    }
    CHECK(log.count("alert=secret_expiring") == 4);
    for (int d : {30, 14, 7, 1}) {
        INFO(d);
        CHECK(log.count("alert=secret_expiring tenant=contoso days_left=" + std::to_string(d) +
                        " threshold=" + std::to_string(d)) == 1);
    }
    CHECK(log.count("alert=secret_expired") == 1);
    CHECK(log.count("warning event=alert alert=secret_expiring") == 4);
    CHECK(log.count("error event=alert alert=secret_expired") == 1);
}

TEST_CASE("a late start sends only the latest crossed threshold", "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto state = state_expiring_at(expiry);
    make_alerter()->check_secret(cfg, tenant(), state, expiry - 5 * day);
    CHECK(log.count("alert=secret_expiring") == 1);
    CHECK(log.count("days_left=5 threshold=7") == 1);
    const std::string e = std::to_string(expiry);
    CHECK(state.alerts_sent.count("secret_expiring:" + e + ":7") == 1);
    CHECK(state.alerts_sent.count("secret_expiring:" + e + ":14") == 1);
    CHECK(state.alerts_sent.count("secret_expiring:" + e + ":30") == 1);
    CHECK(state.alerts_sent.count("secret_expiring:" + e + ":1") == 0);

    log.clear();
    auto alerter = make_alerter();
    for (std::int64_t now = expiry - 5 * day; now < expiry; now += 600) {
        alerter->check_secret(cfg, tenant(), state, now);
    }
    CHECK(log.count("alert=secret_expiring") == 1);
    CHECK(log.count("days_left=1 threshold=1") == 1);
}

TEST_CASE("the day count rounds up and the threshold boundary is inclusive", "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto state = state_expiring_at(expiry);
    make_alerter()->check_secret(cfg, tenant(), state, expiry - 30 * day - 1);  // 30 d + 1 s
    CHECK(log.count("alert=secret_expiring") == 0);
    make_alerter()->check_secret(cfg, tenant(), state, expiry - 30 * day);
    CHECK(log.count("days_left=30 threshold=30") == 1);
    make_alerter()->check_secret(cfg, tenant(), state, expiry - 14 * day - 1);  // 15 days left
    CHECK(log.count("alert=secret_expiring") == 1);
    // 4 days and 1 hour left: "5 days", as m365gatectl status and check say (common/days.h).
    make_alerter()->check_secret(cfg, tenant(), state, expiry - 4 * day - 3600);
    CHECK(log.count("days_left=5 threshold=7") == 1);
}

TEST_CASE("a rotated secret starts the thresholds over", "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    auto state = state_expiring_at(expiry);
    for (std::int64_t now = expiry - 20 * day; now < expiry - 3 * day; now += 3600) {
        alerter->check_secret(cfg, tenant(), state, now);
    }
    CHECK(log.count("alert=secret_expiring") == 3);  // 30 (at 20 left), 14 and 7

    const std::int64_t rotated = expiry + 365 * day;
    state.secret_expires = rotated;
    log.clear();
    for (std::int64_t now = expiry - 3 * day; now < rotated + day; now += 3600) {
        alerter->check_secret(cfg, tenant(), state, now);
    }
    CHECK(log.count("alert=secret_expiring") == 4);
    CHECK(log.count("alert=secret_expired") == 1);
    CHECK(log.count("expires=2028-01-31T00:00:00Z") == 5);
}

TEST_CASE("an expired secret alerts once, also after a restart", "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto state = state_expiring_at(expiry);
    for (int run = 0; run < 3; ++run) {
        auto alerter = make_alerter();
        for (std::int64_t now = expiry + run * day; now < expiry + (run + 1) * day; now += 300) {
            alerter->check_secret(cfg, tenant(), state, now);
        }
        state = persisted(state);
    }
    CHECK(log.count("alert=secret_expired") == 1);
    CHECK(log.count("alert=secret_expiring") == 0);  // past every threshold: only "expired"
}

TEST_CASE("an unknown expiry date sends nothing before a sign-in", "[alerts][secret]") {
    LogCapture log;
    store::TenantState state;
    make_alerter()->check_secret(log_only_config(), tenant(), state, expiry);
    CHECK(log.text().empty());
    CHECK(state.alerts_sent.empty());
}

TEST_CASE("an unknown expiry is reported once while it lasts, also after a restart",
          "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    store::TenantState state;
    for (int run = 0; run < 3; ++run) {
        auto alerter = make_alerter();
        for (std::int64_t now = expiry + run * day; now < expiry + (run + 1) * day; now += 3600) {
            state.last_attempt = now;
            state.last_token_success = now;
            alerter->check_secret(cfg, tenant(), state, now);
        }
        state = persisted(state);
    }
    CHECK(log.count("alert=secret_expiry_unknown") == 1);
    CHECK(log.count("secret expiry unknown: grant Application.Read.All or set expires") == 1);
    // Once the date is known the key goes; unknown again later, it is news again.
    state.secret_expires = expiry + 300 * day;
    make_alerter()->check_secret(cfg, tenant(), state, expiry + 4 * day);
    CHECK(state.alerts_sent.count("secret_expiry_unknown") == 0);
}

TEST_CASE("a local date that is not Graph's warns once per pair of dates, never 'expired'",
          "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    // The admin's case: credential file 2026-12-18, Graph 2027-11-01, checked on 2027-01-10.
    store::TenantState state;
    state.secret_expires = 1825027200;  // 2027-11-01T00:00:00Z, from Graph
    state.secret_expires_source = "graph";
    state.secret_expires_local = 1797552000;  // 2026-12-18T00:00:00Z
    state.secret_expires_local_source = "credential_file";
    const std::int64_t now = 1799539200;  // 2027-01-10
    state.last_attempt = now;
    state.last_token_success = now;
    for (int run = 0; run < 3; ++run) {
        make_alerter()->check_secret(cfg, tenant(), state, now + run * 3600);
        state = persisted(state);
    }
    CHECK(log.count("alert=secret_expiry_mismatch") == 1);
    CHECK(log.count("alert=secret_expired") == 0);
    CHECK(log.count("alert=secret_expiring") == 0);  // Graph's date is 295 days away
    // Another local date: news again.
    state.secret_expires_local = 1798761600;  // 2027-01-01
    make_alerter()->check_secret(cfg, tenant(), state, now + 4 * 3600);
    CHECK(log.count("alert=secret_expiry_mismatch") == 2);
    CHECK(state.alerts_sent.size() == 1);
}

TEST_CASE("no 'expired' alert in an attempt whose token request succeeded", "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto state = state_expiring_at(expiry);  // a local date, no Graph
    state.last_attempt = expiry + day;
    state.last_token_success = expiry + day;
    make_alerter()->check_secret(cfg, tenant(), state, expiry + day);
    CHECK(log.count("alert=secret_expired") == 0);
    CHECK(log.count("status=past_but_signs_in") == 1);
    // The next attempt cannot sign in: now it has expired.
    state.last_attempt = expiry + 2 * day;
    make_alerter()->check_secret(cfg, tenant(), state, expiry + 2 * day);
    CHECK(log.count("alert=secret_expired") == 1);
}

TEST_CASE("keys of old expiry dates are dropped, so alerts_sent stays small", "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    auto state = state_expiring_at(expiry);
    std::int64_t now = expiry - 31 * day;
    for (int rotation = 0; rotation < 12; ++rotation) {
        state.secret_expires = now + 2 * day;
        alerter->check_secret(cfg, tenant(), state, now);
        now += 20 * day;
    }
    CHECK(state.alerts_sent.size() <= 4 * 4);
}

TEST_CASE("a flip-flopping expiry source does not resend", "[alerts][secret]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    auto state = state_expiring_at(expiry);
    const std::int64_t from_config = expiry + 10 * day;
    for (std::int64_t now = expiry - 6 * day; now < expiry - 5 * day; now += 3600) {
        state.secret_expires = (now / 3600) % 2 == 0 ? expiry : from_config;
        alerter->check_secret(cfg, tenant(), state, now);
    }
    // One 7-day alert for the credential-file date, one 30-day alert for the config date.
    CHECK(log.count("alert=secret_expiring") == 2);
}

TEST_CASE("a token error alerts once per code until the tenant recovers", "[alerts][token]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    store::TenantState state;
    state.last_success = expiry - day;
    std::int64_t now = expiry;
    for (int i = 0; i < 5; ++i, now += 300) {
        state.failing_since = expiry;
        alerter->after_attempt(cfg, tenant(), token_error("7000222"), state, now);
    }
    CHECK(log.count("alert=token_refused tenant=contoso code=7000222") == 1);
    CHECK(log.count("summary=\"token request refused: the client secret has expired\"") == 1);

    state = persisted(state);
    alerter = make_alerter();
    alerter->after_attempt(cfg, tenant(), token_error("7000222"), state, now);
    alerter->after_attempt(cfg, tenant(), token_error("7000215"), state, now += 300);
    CHECK(log.count("alert=token_refused") == 2);
    CHECK(log.count("code=7000215") == 1);

    alerter->after_attempt(cfg, tenant(), success(), state, now += 300);
    CHECK(log.count("info event=alert alert=recovered") == 1);
    CHECK(state.alerts_sent.empty());
    alerter->after_attempt(cfg, tenant(), success(), state, now += 300);
    CHECK(log.count("alert=recovered") == 1);

    state.failing_since = now;
    alerter->after_attempt(cfg, tenant(), token_error("7000222"), state, now += 300);
    CHECK(log.count("alert=token_refused tenant=contoso code=7000222") == 2);
}

TEST_CASE("transient token errors only count towards sync_failing", "[alerts][token]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    store::TenantState state;
    state.failing_since = expiry;
    state.last_success = expiry - 600;
    for (std::int64_t now = expiry; now < expiry + 5 * 3600; now += 300) {
        alerter->after_attempt(cfg, tenant(), token_error("90033"), state, now);
    }
    CHECK(log.count("event=alert ") == 0);
    alerter->after_attempt(cfg, tenant(), token_error("90033"), state, expiry + 6 * 3600);
    CHECK(log.count("alert=sync_failing") == 1);
    CHECK(state.alerts_sent.count("sync_failing:" + std::to_string(expiry)) == 1);
}

TEST_CASE("no successful sync for sync_failure_after alerts once, then recovers",
          "[alerts][sync]") {
    LogCapture log;
    Config cfg = log_only_config();
    cfg.alerts.sync_failure_after = std::chrono::hours(2);
    auto alerter = make_alerter();
    store::TenantState state;
    state.last_success = expiry - 600;
    SyncResult net;
    net.error_kind = "network";
    net.message = "Could not connect to server";
    // The worker may set failing_since after the call: the first attempt has it at 0.
    alerter->after_attempt(cfg, tenant(), net, state, expiry);
    state.failing_since = expiry;
    for (std::int64_t now = expiry + 300; now < expiry + 10 * 3600; now += 300) {
        alerter->after_attempt(cfg, tenant(), net, state, now);
    }
    CHECK(log.count("error event=alert alert=sync_failing") == 1);
    alerter->after_attempt(cfg, tenant(), success(), state, expiry + 11 * 3600);
    CHECK(log.count("alert=recovered") == 1);
    CHECK(state.alerts_sent.empty());
}

TEST_CASE("missing consent alerts once per permission", "[alerts][consent]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    store::TenantState state;
    SyncResult r;
    r.error_kind = "consent";
    r.error_code = "Authorization_RequestDenied";
    r.missing_permission = "User.Read.All";
    for (int i = 0; i < 3; ++i) {
        alerter->after_attempt(cfg, tenant(), r, state, expiry + i * 300);
    }
    r.missing_permission = "GroupMember.Read.All";
    alerter->after_attempt(cfg, tenant(), r, state, expiry + 1000);
    CHECK(log.count("alert=consent_missing") == 2);
    CHECK(state.alerts_sent.count("consent:User.Read.All") == 1);
}

TEST_CASE("a refused shrink alerts once per result, keeping one key", "[alerts][shrink]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    store::TenantState state;
    state.last_success = expiry;
    SyncResult r;
    r.error_kind = "shrink";
    r.addresses_before = 1000;
    r.addresses_after = 500;
    for (int i = 0; i < 3; ++i) {
        alerter->after_attempt(cfg, tenant(), r, state, expiry + i * 300);
    }
    r.addresses_after = 480;
    alerter->after_attempt(cfg, tenant(), r, state, expiry + 1000);
    CHECK(log.count("warning event=alert alert=shrink_refused") == 2);
    CHECK(log.count("before=1000 after=480") == 1);
    CHECK(state.alerts_sent.count("shrink:480") == 1);
    CHECK(state.alerts_sent.count("shrink:500") == 0);
}

TEST_CASE("a successful sync clears the shrink key: the same refusal later alerts again",
          "[alerts][shrink]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    store::TenantState state;
    state.last_success = expiry;
    SyncResult r;
    r.error_kind = "shrink";
    r.addresses_before = 21;
    r.addresses_after = 7;
    r.sync_kind = "delta";
    alerter->after_attempt(cfg, tenant(), r, state, expiry + 300);
    CHECK(log.count("alert=shrink_refused") == 1);
    CHECK(log.count("before=21 after=7 percent=67 kind=delta") == 1);
    CHECK(log.count("summary=\"delta sync would shrink") == 1);
    alerter->after_attempt(cfg, tenant(), r, state, expiry + 600);
    CHECK(log.count("alert=shrink_refused") == 1);  // still once per result

    alerter->after_attempt(cfg, tenant(), success(), state, expiry + 900);
    CHECK(state.alerts_sent.empty());
    CHECK(log.count("alert=recovered") == 0);  // a shrink is no failure to recover from
    state = persisted(state);
    alerter->after_attempt(cfg, tenant(), r, state, expiry + 1200);
    CHECK(log.count("alert=shrink_refused") == 2);
    CHECK(state.alerts_sent.count("shrink:7") == 1);
}

TEST_CASE("after a reload with a new secret the admin hears whether it works",
          "[alerts][rotation]") {
    LogCapture log;
    const Config cfg = log_only_config();
    auto alerter = make_alerter();
    auto state = state_expiring_at(expiry + 365 * day);
    alerter->secret_changed(cfg, tenant(), success(), state, expiry);
    CHECK(log.count("info event=alert alert=secret_accepted") == 1);
    CHECK(log.count("expires=2028-01-31T00:00:00Z") == 1);

    alerter->secret_changed(cfg, tenant(), token_error("7000215"), state, expiry + 60);
    CHECK(log.count("alert=token_refused") == 1);
    CHECK(log.count("new client secret refused") == 1);
    // The next sync attempt with the same error does not repeat it.
    alerter->after_attempt(cfg, tenant(), token_error("7000215"), state, expiry + 300);
    CHECK(log.count("alert=token_refused") == 1);

    SyncResult net;
    net.error_kind = "network";
    alerter->secret_changed(cfg, tenant(), net, state, expiry + 600);
    CHECK(log.count("event=secret_check tenant=contoso status=unknown") == 1);
}

TEST_CASE("mail goes through sendmail -f mail_from -t -i and failures are retried later",
          "[alerts][mail]") {
    TempDir dir;
    LogCapture log;
    const fs::path out = dir.path() / "mail";
    fs::create_directory(out);
    Config cfg = log_only_config();
    cfg.alerts.mail_to = {"postmaster@example.net"};
    cfg.alerts.mail_from = "m365gate@gw.example.net";
    cfg.alerts.language = "ja";
    // Stand-in for sendmail: fails while a "down" file exists, else stores message and args.
    cfg.alerts.sendmail =
        write_script(dir.path() / "sendmail", "if [ -e " + (dir.path() / "down").string() +
                                                  " ]; then echo 'sendmail: fatal: queue "
                                                  "file write error' >&2; exit 75; fi\n"
                                                  "n=$(ls " +
                                                  out.string() +
                                                  " | wc -l)\n"
                                                  "echo \"$@\" > " +
                                                  out.string() +
                                                  "/args.$n\n"
                                                  "cat > " +
                                                  out.string() + "/msg.$n\n");
    std::ofstream(dir.path() / "down") << "";

    auto alerter = make_alerter();
    auto state = state_expiring_at(expiry);
    alerter->check_secret(cfg, tenant(), state, expiry - 7 * day);
    CHECK(log.count("event=alert_mail status=failed") == 1);
    CHECK(log.count("exited with status 75: sendmail: fatal: queue file write error") == 1);
    CHECK(log.count("mail=failed") == 1);
    CHECK(state.alerts_sent.empty());  // not delivered anywhere: tried again next round

    fs::remove(dir.path() / "down");
    alerter->check_secret(cfg, tenant(), state, expiry - 7 * day + 300);
    CHECK(log.count("mail=sent") == 1);
    CHECK(state.alerts_sent.size() == 3);
    CHECK(read_file(out / "args.0") == "-f m365gate@gw.example.net -t -i\n");
    const std::string msg = read_file(out / "msg.0");
    CHECK(msg.find("From: m365gate <m365gate@gw.example.net>\n") != std::string::npos);
    CHECK(msg.find("To: postmaster@example.net\n") != std::string::npos);
    CHECK(msg.find("Subject: =?UTF-8?B?") != std::string::npos);
    CHECK(msg.find("Auto-Submitted: auto-generated\n") != std::string::npos);
    CHECK(msg.find("[証明書とシークレット]") != std::string::npos);

    alerter->check_secret(cfg, tenant(), state, expiry - 7 * day + 600);
    CHECK(log.count("mail=sent") == 1);
}

TEST_CASE("a hanging sendmail is killed at the deadline", "[alerts][mail]") {
    TempDir dir;
    const auto script = write_script(dir.path() / "sendmail", "exec sleep 30\n");
    const auto start = std::chrono::steady_clock::now();
    const SendResult r =
        send_mail(script, "", std::string(1 << 20, 'x'), std::chrono::milliseconds(500));
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("did not finish") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("sendmail that cannot run is an error, not a crash", "[alerts][mail]") {
    CHECK_FALSE(send_mail("relative/sendmail", "", "x").ok);
    const SendResult r = send_mail("/nonexistent/sendmail", "", "Subject: x\n\nbody\n");
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("127") != std::string::npos);
    // A sendmail that exits without reading its input: no SIGPIPE kills the caller.
    TempDir dir;
    const auto script = write_script(dir.path() / "sendmail", "exit 0\n");
    const SendResult early = send_mail(script, "", std::string(4 << 20, 'x'));
    CHECK_FALSE(early.ok);
}

TEST_CASE("the webhook is https only and its URL path never reaches the log", "[alerts][webhook]") {
    WebhookOptions o;
    o.retries = 1;
    o.first_backoff = std::chrono::milliseconds(10);
    o.connect_timeout = std::chrono::seconds(2);
    const SendResult plain = post_webhook("http://127.0.0.1:1/hook", "{}", o);
    CHECK_FALSE(plain.ok);
    CHECK(plain.error.find("https") != std::string::npos);
    const SendResult refused =
        post_webhook("https://user:pw@127.0.0.1:1/services/T000/B000/SECRETTOKEN", "{}", o);
    CHECK_FALSE(refused.ok);
    CHECK(refused.error.find("SECRETTOKEN") == std::string::npos);
    CHECK(refused.error.find("pw") == std::string::npos);
    CHECK(refused.error.find("https://127.0.0.1:1") != std::string::npos);
    CHECK(refused.error.find("after 2 attempts") != std::string::npos);
}

TEST_CASE("a failure that lasts is reminded every alerts.repeat, also across a restart",
          "[alerts][repeat]") {
    LogCapture log;
    Config cfg = log_only_config();
    cfg.alerts.repeat = std::chrono::hours(24);
    auto alerter = make_alerter();
    store::TenantState state;
    state.last_success = expiry - 600;
    state.failing_since = expiry;
    const std::int64_t hour = 3600;
    for (std::int64_t now = expiry; now < expiry + 24 * hour; now += hour) {
        alerter->after_attempt(cfg, tenant(), token_error("7000215"), state, now);
    }
    CHECK(log.count("alert=token_refused") == 1);
    CHECK(log.count("reminder=yes") == 0);

    // A restart 23 hours after the first notice: the reminder is neither early nor lost.
    state = persisted(state);
    alerter = make_alerter();
    alerter->after_attempt(cfg, tenant(), token_error("7000215"), state, expiry + 23 * hour);
    CHECK(log.count("alert=token_refused") == 1);
    alerter->after_attempt(cfg, tenant(), token_error("7000215"), state, expiry + 24 * hour);
    CHECK(log.count("alert=token_refused tenant=contoso reminder=yes code=7000215") == 1);
    alerter->after_attempt(cfg, tenant(), token_error("7000215"), state, expiry + 47 * hour);
    CHECK(log.count("alert=token_refused") == 2);
    alerter->after_attempt(cfg, tenant(), token_error("7000215"), state, expiry + 48 * hour);
    CHECK(log.count("alert=token_refused tenant=contoso reminder=yes") == 2);

    // Recovery ends the reminders: one notice, nothing more.
    alerter->after_attempt(cfg, tenant(), success(), state, expiry + 49 * hour);
    CHECK(log.count("alert=recovered") == 1);
    CHECK(state.alerts_sent.empty());
}

TEST_CASE("a list that turns stale alerts once, is reminded, and its recovery is told",
          "[alerts][stale]") {
    LogCapture log;
    Config cfg = log_only_config();
    cfg.sync.stale_after = std::chrono::hours(24);
    cfg.alerts.sync_failure_after = std::chrono::hours(6);
    cfg.alerts.repeat = std::chrono::hours(12);
    auto alerter = make_alerter();
    store::TenantState state;
    state.last_success = expiry;
    state.failing_since = expiry + 300;
    SyncResult net;
    net.error_kind = "network";
    net.message = "Could not resolve host: graph.microsoft.com";
    const std::int64_t hour = 3600;
    for (std::int64_t now = expiry + 300; now <= expiry + 24 * hour; now += 300) {
        alerter->after_attempt(cfg, tenant(), net, state, now);
    }
    CHECK(log.count("alert=sync_failing") == 2);  // after 6h, and reminded 12h later
    CHECK(log.count("alert=list_stale") == 0);    // at exactly stale_after the milter is not stale

    alerter->after_attempt(cfg, tenant(), net, state, expiry + 24 * hour + 300);
    CHECK(log.count("error event=alert alert=list_stale tenant=contoso mail=off") == 1);
    CHECK(state.alerts_sent.count("stale:" + std::to_string(expiry)) == 1);

    state = persisted(state);
    alerter = make_alerter();
    alerter->after_attempt(cfg, tenant(), net, state, expiry + 30 * hour);
    CHECK(log.count("alert=list_stale") == 1);
    alerter->after_attempt(cfg, tenant(), net, state, expiry + 36 * hour + 300);
    CHECK(log.count("alert=list_stale tenant=contoso reminder=yes") == 1);

    alerter->after_attempt(cfg, tenant(), success(), state, expiry + 37 * hour);
    CHECK(log.count("alert=recovered") == 1);
    CHECK(state.alerts_sent.empty());
}

TEST_CASE("a tenant's language and alert_mail_to reach its mail, others keep the global ones",
          "[alerts][mail]") {
    TempDir dir;
    LogCapture log;
    const fs::path out = dir.path() / "mail";
    fs::create_directory(out);
    Config cfg = log_only_config();
    cfg.alerts.mail_to = {"postmaster@example.net"};
    cfg.alerts.language = "en";
    cfg.alerts.host_label = "mx1.example.net (Tokyo)";
    cfg.alerts.sendmail =
        write_script(dir.path() / "sendmail",
                     "n=$(ls " + out.string() + " | wc -l)\ncat > " + out.string() + "/msg.$n\n");
    TenantConfig japanese = tenant();
    japanese.language = "ja";
    japanese.alert_mail_to = {"it@contoso.example"};
    TenantConfig other = tenant();
    other.name = "fabrikam";

    auto alerter = make_alerter();
    auto a = state_expiring_at(expiry);
    auto b = state_expiring_at(expiry);
    alerter->check_secret(cfg, japanese, a, expiry - 7 * day);
    alerter->check_secret(cfg, other, b, expiry - 7 * day);
    const std::string ja = read_file(out / "msg.0");
    const std::string en = read_file(out / "msg.1");
    CHECK(ja.find("To: postmaster@example.net, it@contoso.example\n") != std::string::npos);
    CHECK(ja.find("[証明書とシークレット]") != std::string::npos);
    CHECK(ja.find("mx1.example.net (Tokyo) の m365gate-sync") != std::string::npos);
    CHECK(en.find("To: postmaster@example.net\n") != std::string::npos);
    CHECK(en.find("How to renew the secret:") != std::string::npos);
    CHECK(en.find("Sent by m365gate-sync on mx1.example.net (Tokyo).") != std::string::npos);
}

TEST_CASE("the gateway is named by a qualified name when one can be found", "[alerts][host]") {
    const std::string host = gateway_fqdn();
    char bare[256] = {0};
    REQUIRE(gethostname(bare, sizeof bare - 1) == 0);
    INFO(host << " / " << bare);
    CHECK(!host.empty());
    // The bare name or a longer, qualified one that starts with it.
    CHECK(host.rfind(bare, 0) == 0);
}
