// sync/alerts.cpp - when an alert is due, and sending it (log always, then mail and webhook).
//
// Every decision is made from TenantState.alerts_sent and the `now` the worker passes, so the
// rules are tested without a clock and a restart never resends. Keys (docs/alerts.md):
//   secret_expiring:<expires>:<days>  secret_expired:<expires>       (kept per expiry date)
//   secret_expiry_mismatch:<local>:<graph>  secret_expiry_unknown    (while the case lasts)
//   token:<AADSTS code>  consent:<permission>  sync_failing:<failing_since>  (until success)
//   shrink:<addresses_after>          (latest refused shrink; dropped by a successful sync)
//   stale:<last_success>              (the list turned stale; until success)
// The value is when the alert last went out: a failure key older than alerts.repeat is sent
// again as a reminder (token, consent, sync_failing, stale, shrink), so after a restart a
// reminder is neither sent early nor forgotten.
// A key is recorded only when the alert reached at least one configured channel (or when no
// mail or webhook is configured: then the log is the channel), so a sendmail that is down is
// retried at the next check instead of losing the alert.
#include "sync/alerts.h"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <tuple>

#include "common/days.h"
#include "common/log.h"
#include "sync/alert_mail.h"
#include "sync/alert_message.h"
#include "sync/alert_send.h"

namespace m365gate::sync {
namespace {

// Keys of an expiry date that is no longer the current one are kept this long after that date
// (an expiry source that flips back and forth must not resend), and for at most this many
// dates; after that they are dropped so alerts_sent stays small.
constexpr std::int64_t old_expiry_keep = 30 * seconds_per_day;
constexpr std::size_t old_expiry_max = 3;

bool starts_with(const std::string& s, std::string_view prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

// "secret_expiring:<exp>:<days>" / "secret_expired:<exp>" -> exp; other keys -> nullopt.
std::optional<std::int64_t> secret_key_expiry(const std::string& key) {
    std::string_view rest;
    if (starts_with(key, "secret_expiring:")) {
        rest = std::string_view(key).substr(16);
    } else if (starts_with(key, "secret_expired:")) {
        rest = std::string_view(key).substr(15);
    } else {
        return std::nullopt;
    }
    rest = rest.substr(0, rest.find(':'));
    try {
        return std::stoll(std::string(rest));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void erase_keys(std::map<std::string, std::int64_t>& sent, std::string_view prefix) {
    for (auto it = sent.begin(); it != sent.end();) {
        it = starts_with(it->first, prefix) ? sent.erase(it) : std::next(it);
    }
}

// `facts` with the kind, code and message of the failure in `result`.
AlertFacts with_error(AlertFacts facts, const SyncResult& result) {
    facts.error_kind = result.error_kind;
    facts.error_code = result.error_code;
    facts.error_message = result.message;
    return facts;
}

void prune_secret_keys(store::TenantState& state, std::int64_t now) {
    std::set<std::int64_t> others;
    for (auto it = state.alerts_sent.begin(); it != state.alerts_sent.end();) {
        const auto exp = secret_key_expiry(it->first);
        if (exp && *exp != state.secret_expires && *exp + old_expiry_keep < now) {
            it = state.alerts_sent.erase(it);
            continue;
        }
        if (exp && *exp != state.secret_expires) {
            others.insert(*exp);
        }
        ++it;
    }
    while (others.size() > old_expiry_max) {
        const std::int64_t drop = *others.begin();
        others.erase(others.begin());
        for (auto it = state.alerts_sent.begin(); it != state.alerts_sent.end();) {
            const auto exp = secret_key_expiry(it->first);
            it = exp && *exp == drop ? state.alerts_sent.erase(it) : std::next(it);
        }
    }
}

}  // namespace

std::string gateway_fqdn() {
    char buf[256] = {0};
    if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
        return "localhost";
    }
    std::string name = buf;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_CANONNAME;
    addrinfo* found = nullptr;
    if (name.find('.') == std::string::npos && getaddrinfo(buf, nullptr, &hints, &found) == 0) {
        if (found != nullptr && found->ai_canonname != nullptr &&
            std::string_view(found->ai_canonname).find('.') != std::string_view::npos) {
            name = found->ai_canonname;
        }
        freeaddrinfo(found);
    }
    return printable(name, 200);
}

namespace {

std::string random_hex() {
    std::random_device rd;
    const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

// Mail and webhook, as configured; "off" for a channel that is not.
Delivery deliver(const Config& cfg, const TenantConfig& tenant, const Alert& alert,
                 const TimeZone& tz, const std::string& id_host) {
    Delivery d;
    const auto to = mail_recipients(cfg.alerts, tenant);
    if (!to.empty()) {
        MailEnvelope env;
        env.from = cfg.alerts.mail_from;
        env.to = to;
        env.date = static_cast<std::int64_t>(::time(nullptr));
        env.message_id = make_message_id(env.date, random_hex(), id_host);
        const SendResult r =
            send_mail(cfg.alerts.sendmail, env.from, build_mail(env, alert, tenant.name, tz));
        d.mail = r.ok ? "sent" : "failed";
        d.mail_error = r.error;
    }
    if (!cfg.alerts.webhook.empty()) {
        WebhookOptions o;
        o.ca_file = cfg.sync.ca_file;
        o.connect_timeout = cfg.sync.connect_timeout;
        o.request_timeout = std::min(cfg.sync.request_timeout, Seconds(30));
        const SendResult r = post_webhook(cfg.alerts.webhook, alert.json, o);
        d.webhook = r.ok ? "sent" : "failed";
        d.webhook_error = r.error;
    }
    return d;
}

TimeZone load_zone(const std::string& name) {
    auto tz = TimeZone::load(name);
    if (!tz) {
        spdlog::warn("event=alert_config status=bad_timezone timezone={} using=UTC",
                     log_value(name));
        return TimeZone::utc();
    }
    return *tz;
}

class RealAlerter final : public Alerter {
public:
    RealAlerter() : host_(gateway_fqdn()) {}

    void after_attempt(const Config& cfg, const TenantConfig& tenant, const SyncResult& result,
                       store::TenantState& state, std::int64_t now) override;
    void check_secret(const Config& cfg, const TenantConfig& tenant, store::TenantState& state,
                      std::int64_t now) override;
    void secret_changed(const Config& cfg, const TenantConfig& tenant,
                        const SyncResult& token_result, store::TenantState& state,
                        std::int64_t now) override;
    void store_damaged(const Config& cfg, const std::string& moved_to, const std::string& problem,
                       std::int64_t now) override;

private:
    // Log, mail, webhook. True when the alert counts as sent (see the file comment).
    bool send(const Config& cfg, const TenantConfig& tenant, const AlertFacts& facts);
    TimeZone zone(const std::string& name);
    AlertFacts facts_for(AlertKind kind, const store::TenantState& state, std::int64_t now) const;
    // after_attempt(): a success, a failure that is news at once, a run of failures.
    void alert_recovered(const Config& cfg, const TenantConfig& tenant, store::TenantState& state,
                         std::int64_t now);
    void alert_failure(const Config& cfg, const TenantConfig& tenant, const SyncResult& result,
                       store::TenantState& state, std::int64_t now);
    void alert_sync_failing(const Config& cfg, const TenantConfig& tenant, const SyncResult& result,
                            store::TenantState& state, std::int64_t now);
    // check_secret(): a local date that is not Graph's, an expiry nobody knows.
    void alert_expiry_notes(const Config& cfg, const TenantConfig& tenant,
                            store::TenantState& state, std::int64_t now);
    void alert_stale(const Config& cfg, const TenantConfig& tenant, const SyncResult& result,
                     store::TenantState& state, std::int64_t now);
    // Sends `facts` under `key` when it was never sent, or as a reminder once alerts.repeat
    // has passed since it last went out; records the time. True when it went out.
    bool send_once_or_remind(const Config& cfg, const TenantConfig& tenant, AlertFacts facts,
                             const std::string& key, store::TenantState& state, std::int64_t now);

    const std::string host_;
    std::mutex zones_mu_;
    std::map<std::string, TimeZone> zones_;
};

TimeZone RealAlerter::zone(const std::string& name) {
    std::lock_guard<std::mutex> lock(zones_mu_);
    const auto it = zones_.find(name);
    if (it != zones_.end()) {
        return it->second;
    }
    return zones_.emplace(name, load_zone(name)).first->second;
}

AlertFacts RealAlerter::facts_for(AlertKind kind, const store::TenantState& state,
                                  std::int64_t now) const {
    AlertFacts f;
    f.kind = kind;
    f.now = now;
    f.secret_expires = state.secret_expires;
    f.secret_expires_source = state.secret_expires_source;
    f.last_success = state.last_success;
    f.failing_since = state.failing_since;
    f.app_name = state.app_name;
    f.secret_name = state.secret_name;
    f.secret_key_id = state.secret_key_id;
    return f;
}

bool RealAlerter::send_once_or_remind(const Config& cfg, const TenantConfig& tenant,
                                      AlertFacts facts, const std::string& key,
                                      store::TenantState& state, std::int64_t now) {
    const auto sent = state.alerts_sent.find(key);
    if (sent != state.alerts_sent.end()) {
        if (now - sent->second < cfg.alerts.repeat.count()) {
            return false;
        }
        facts.reminder = true;
    }
    if (!send(cfg, tenant, facts)) {
        return false;
    }
    state.alerts_sent[key] = now;
    return true;
}

bool RealAlerter::send(const Config& cfg, const TenantConfig& tenant, const AlertFacts& facts) {
    const TimeZone tz = zone(cfg.alerts.timezone);
    const std::string& host = cfg.alerts.host_label.empty() ? host_ : cfg.alerts.host_label;
    const Alert alert = build_alert(cfg, tenant, facts, tz, host);

    const Delivery d = deliver(cfg, tenant, alert, tz, host_);
    for (const auto& [channel, status, error] :
         {std::tuple{"alert_mail", d.mail, d.mail_error},
          std::tuple{"alert_webhook", d.webhook, d.webhook_error}}) {
        if (status == "failed") {
            spdlog::error("event={} status=failed tenant={} alert={} error={}", channel,
                          tenant.name, to_string(facts.kind), log_value(error));
        }
    }
    const bool delivered = d.mail == "sent" || d.webhook == "sent";
    const bool log_only = d.mail == "off" && d.webhook == "off";

    std::string line = "event=alert alert=" + std::string(to_string(facts.kind)) +
                       " tenant=" + log_value(tenant.name) +
                       (facts.reminder ? " reminder=yes" : "");
    if (facts.kind == AlertKind::secret_expiring) {
        line += " days_left=" + std::to_string(facts.days_left) +
                " threshold=" + std::to_string(facts.threshold_days);
    }
    if (facts.secret_expires != 0 &&
        (facts.kind == AlertKind::secret_expiring || facts.kind == AlertKind::secret_expired ||
         facts.kind == AlertKind::secret_accepted)) {
        line += " expires=" + format_utc(facts.secret_expires) +
                " source=" + log_value(facts.secret_expires_source);
    }
    if (!facts.error_code.empty()) {
        line += " code=" + log_value(facts.error_code, 64);
    }
    if (!facts.missing_permission.empty()) {
        line += " permission=" + log_value(facts.missing_permission, 80);
    }
    if (facts.kind == AlertKind::shrink_refused) {
        line += " before=" + std::to_string(facts.addresses_before) +
                " after=" + std::to_string(facts.addresses_after) + " percent=" +
                std::to_string(shrink_percent(facts.addresses_before, facts.addresses_after)) +
                " kind=" + (facts.sync_kind.empty() ? std::string("-") : facts.sync_kind);
    }
    line += " mail=" + d.mail + " webhook=" + d.webhook +
            " summary=" + log_value(log_summary(tenant, facts));
    switch (alert.severity) {
        case AlertSeverity::info:
            spdlog::info("{}", line);
            break;
        case AlertSeverity::warning:
            spdlog::warn("{}", line);
            break;
        case AlertSeverity::error:
            spdlog::error("{}", line);
            break;
    }
    return delivered || log_only;
}

void RealAlerter::after_attempt(const Config& cfg, const TenantConfig& tenant,
                                const SyncResult& result, store::TenantState& state,
                                std::int64_t now) {
    if (result.ok) {
        // A list was published: a later refused shrink, even with the same counts, is news.
        erase_keys(state.alerts_sent, "shrink:");
        alert_recovered(cfg, tenant, state, now);
        return;
    }
    alert_failure(cfg, tenant, result, state, now);
    alert_sync_failing(cfg, tenant, result, state, now);
    alert_stale(cfg, tenant, result, state, now);
}

// After a success: the token, consent and sync_failing alerts that had gone out are resolved.
void RealAlerter::alert_recovered(const Config& cfg, const TenantConfig& tenant,
                                  store::TenantState& state, std::int64_t now) {
    auto& sent = state.alerts_sent;
    std::vector<std::string> resolved;
    for (const auto& [key, when] : sent) {
        (void)when;
        if (starts_with(key, "token:") || starts_with(key, "consent:") ||
            starts_with(key, "sync_failing:") || starts_with(key, "stale:")) {
            resolved.push_back(key);
        }
    }
    if (resolved.empty()) {
        return;
    }
    AlertFacts f = facts_for(AlertKind::recovered, state, now);
    f.resolved = resolved;
    if (send(cfg, tenant, f)) {
        for (const auto& key : resolved) {
            sent.erase(key);
        }
    }
}

// The failures that are news at once, each once per key: a permanent token error, missing
// consent, a refused shrink.
void RealAlerter::alert_failure(const Config& cfg, const TenantConfig& tenant,
                                const SyncResult& result, store::TenantState& state,
                                std::int64_t now) {
    auto& sent = state.alerts_sent;
    if (result.error_kind == "token" && is_permanent_token_error(result.error_code)) {
        send_once_or_remind(cfg, tenant,
                            with_error(facts_for(AlertKind::token_refused, state, now), result),
                            "token:" + printable(result.error_code, 32), state, now);
    } else if (result.error_kind == "consent") {
        const std::string perm = result.missing_permission.empty()
                                     ? std::string("unknown")
                                     : printable(result.missing_permission, 80);
        AlertFacts f = with_error(facts_for(AlertKind::consent_missing, state, now), result);
        f.missing_permission = result.missing_permission;
        send_once_or_remind(cfg, tenant, f, "consent:" + perm, state, now);
    } else if (result.error_kind == "shrink") {
        const std::string key = "shrink:" + std::to_string(result.addresses_after);
        AlertFacts f = facts_for(AlertKind::shrink_refused, state, now);
        f.error_kind = result.error_kind;
        f.addresses_before = result.addresses_before;
        f.addresses_after = result.addresses_after;
        f.sync_kind = result.sync_kind;
        const bool other_count = sent.count(key) == 0;
        if (send_once_or_remind(cfg, tenant, f, key, state, now) && other_count) {
            const std::int64_t when = sent[key];
            erase_keys(sent, "shrink:");  // another count replaces the earlier refusal
            sent[key] = when;
        }
    }
}

// No success for alerts.sync_failure_after: once per run of failures.
void RealAlerter::alert_sync_failing(const Config& cfg, const TenantConfig& tenant,
                                     const SyncResult& result, store::TenantState& state,
                                     std::int64_t now) {
    // Measured from the first failed attempt since the last success (the worker may set
    // failing_since after this call; then this attempt is the first).
    const std::int64_t since = state.failing_since != 0 ? state.failing_since : now;
    if (now - since < cfg.alerts.sync_failure_after.count()) {
        return;
    }
    AlertFacts f = with_error(facts_for(AlertKind::sync_failing, state, now), result);
    f.failing_since = since;
    send_once_or_remind(cfg, tenant, f, "sync_failing:" + std::to_string(since), state, now);
}

// The last success is older than sync.stale_after: the milter applies milter.on_stale now
// (the decision's step 7, with the same comparison). A tenant that never synced is not
// stale: it has no list (milter.on_cache_unavailable, told by sync_failing).
void RealAlerter::alert_stale(const Config& cfg, const TenantConfig& tenant,
                              const SyncResult& result, store::TenantState& state,
                              std::int64_t now) {
    if (state.last_success == 0 || now - state.last_success <= cfg.sync.stale_after.count()) {
        return;
    }
    AlertFacts f = with_error(facts_for(AlertKind::list_stale, state, now), result);
    if (f.failing_since == 0) {
        f.failing_since = now;
    }
    send_once_or_remind(cfg, tenant, f, "stale:" + std::to_string(state.last_success), state, now);
}

// Each once: secret_expiry_mismatch:<local>:<graph> while Graph's date and the local one
// disagree, secret_expiry_unknown while nobody knows the date and sign-in works (a failing
// sign-in has its own alerts). A key is dropped when its condition ends, so it can come back.
void RealAlerter::alert_expiry_notes(const Config& cfg, const TenantConfig& tenant,
                                     store::TenantState& state, std::int64_t now) {
    auto& sent = state.alerts_sent;
    if (local_expiry_disagrees(state)) {
        const std::string key =
            "secret_expiry_mismatch:" + std::to_string(state.secret_expires_local) + ":" +
            std::to_string(state.secret_expires);
        if (sent.count(key) == 0) {
            AlertFacts f = facts_for(AlertKind::secret_expiry_mismatch, state, now);
            f.secret_expires_local = state.secret_expires_local;
            f.secret_expires_local_source = state.secret_expires_local_source;
            if (send(cfg, tenant, f)) {
                erase_keys(sent, "secret_expiry_mismatch:");
                sent[key] = now;
            }
        }
    } else {
        erase_keys(sent, "secret_expiry_mismatch:");
    }
    if (state.secret_expires != 0) {
        erase_keys(sent, "secret_expiry_unknown");
    } else if (sign_in_works(state) && sent.count("secret_expiry_unknown") == 0 &&
               send(cfg, tenant, facts_for(AlertKind::secret_expiry_unknown, state, now))) {
        sent["secret_expiry_unknown"] = now;
    }
}

void RealAlerter::check_secret(const Config& cfg, const TenantConfig& tenant,
                               store::TenantState& state, std::int64_t now) {
    prune_secret_keys(state, now);
    alert_expiry_notes(cfg, tenant, state, now);
    const std::int64_t expires = state.secret_expires;
    if (expires == 0) {
        return;
    }
    auto& sent = state.alerts_sent;
    const std::string exp = std::to_string(expires);
    if (expires <= now && sign_in_works(state)) {
        // The token request of this attempt succeeded: the secret has not expired, whatever
        // the date says. Never an "expired" alert while sign-in works.
        spdlog::warn(
            "tenant={} event=secret_expiry status=past_but_signs_in expires={} source={} "
            "note=\"the date is wrong: fix it, or grant Application.Read.All\"",
            tenant.name, format_utc(expires), log_value(state.secret_expires_source));
        return;
    }
    if (expires <= now) {
        const std::string key = "secret_expired:" + exp;
        if (sent.count(key) == 0 &&
            send(cfg, tenant, facts_for(AlertKind::secret_expired, state, now))) {
            sent[key] = now;
        }
        return;
    }
    const std::int64_t days_left = m365gate::days_left(expires, now);  // rounded up
    std::vector<int> thresholds;
    for (int d : cfg.alerts.secret_days) {
        if (d > 0) {
            thresholds.push_back(d);
        }
    }
    std::sort(thresholds.begin(), thresholds.end());
    const auto due = std::lower_bound(thresholds.begin(), thresholds.end(), days_left);
    if (due == thresholds.end()) {
        return;  // more days left than the largest threshold
    }
    const std::string key = "secret_expiring:" + exp + ":" + std::to_string(*due);
    if (sent.count(key) != 0) {
        return;
    }
    AlertFacts f = facts_for(AlertKind::secret_expiring, state, now);
    f.days_left = static_cast<int>(days_left);
    f.threshold_days = *due;
    if (!send(cfg, tenant, f)) {
        return;
    }
    // The larger thresholds are past: after a restart or a late start they never go out.
    for (auto it = due; it != thresholds.end(); ++it) {
        const std::string k = "secret_expiring:" + exp + ":" + std::to_string(*it);
        if (sent.count(k) == 0) {
            sent[k] = now;
        }
    }
}

void RealAlerter::secret_changed(const Config& cfg, const TenantConfig& tenant,
                                 const SyncResult& token_result, store::TenantState& state,
                                 std::int64_t now) {
    if (token_result.ok) {
        send(cfg, tenant, facts_for(AlertKind::secret_accepted, state, now));
        return;
    }
    if (token_result.error_kind == "token" && !token_result.error_code.empty() &&
        is_permanent_token_error(token_result.error_code)) {
        // Always said: the admin just installed this secret and waits for the answer.
        AlertFacts f = with_error(facts_for(AlertKind::token_refused, state, now), token_result);
        f.after_secret_change = true;
        if (send(cfg, tenant, f)) {
            state.alerts_sent["token:" + printable(token_result.error_code, 32)] = now;
        }
        return;
    }
    // Network trouble and the like say nothing about the secret; the next attempt will.
    spdlog::warn(
        "event=secret_check tenant={} status=unknown error_kind={} code={} error={} "
        "note=\"the new secret could not be tested; the next sync attempt will tell\"",
        log_value(tenant.name), log_value(token_result.error_kind),
        log_value(token_result.error_code, 64), log_value(token_result.message));
}

}  // namespace

void RealAlerter::store_damaged(const Config& cfg, const std::string& moved_to,
                                const std::string& problem, std::int64_t now) {
    AlertFacts f;
    f.kind = AlertKind::store_damaged;
    f.now = now;
    f.error_kind = "store";
    f.error_message = problem;
    f.store_path = cfg.store.path.string();
    f.moved_to = moved_to;
    // No tenant: the recipients are alerts.mail_to alone, the webhook's tenant fields are empty.
    send(cfg, TenantConfig{}, f);
}

std::unique_ptr<Alerter> make_alerter() { return std::make_unique<RealAlerter>(); }

Delivery send_test_alert(const Config& cfg, const TenantConfig& tenant, std::int64_t now) {
    AlertFacts f;
    f.kind = AlertKind::test;
    f.now = now;
    const std::string fqdn = gateway_fqdn();
    const std::string& host = cfg.alerts.host_label.empty() ? fqdn : cfg.alerts.host_label;
    const TimeZone tz = load_zone(cfg.alerts.timezone);
    const Delivery d = deliver(cfg, tenant, build_alert(cfg, tenant, f, tz, host), tz, fqdn);
    spdlog::info("event=alert alert=test tenant={} mail={} webhook={}", log_value(tenant.name),
                 d.mail, d.webhook);
    return d;
}

int run_alert_test(const Config& cfg, const TenantConfig& tenant, std::int64_t now,
                   std::ostream& out) {
    const Delivery d = send_test_alert(cfg, tenant, now);
    int failed = 0;
    for (const auto& [channel, status, error] :
         {std::tuple{"mail", d.mail, d.mail_error},
          std::tuple{"webhook", d.webhook, d.webhook_error}}) {
        out << channel << ": " << status << (error.empty() ? "" : ": " + printable(error)) << "\n";
        failed += status == "failed" ? 1 : 0;
    }
    if (d.mail == "off" && d.webhook == "off") {
        out << "no channel configured: alerts go to the log only ([alerts] mail_to, the "
               "tenant's alert_mail_to, [alerts] webhook)\n";
        return 1;
    }
    return failed == 0 ? 0 : 1;
}

}  // namespace m365gate::sync
