// common/config_sections.cpp - the readers of [store], [log], [milter], [sync] and [alerts]:
// each section's list of known keys, and how each key is read and judged. The defaults are
// the member initialisers in common/config.h; [[tenant]] is config_tenant.cpp's.

#include <algorithm>
#include <functional>

#include "common/config.h"
#include "common/config_internal.h"
#include "common/zone.h"

namespace m365gate {
namespace config_detail {
namespace {

constexpr std::uint64_t max_sync_objects = 1'000'000'000;  // max_objects, max_pages
constexpr std::uint64_t min_store_size = 1u << 20;         // 1M
constexpr std::size_t max_reply_text = 400;
constexpr int max_harvest_threshold = 1'000'000;
constexpr Seconds max_harvest_window{std::chrono::hours(24)};
constexpr Seconds max_harvest_block{std::chrono::hours(24 * 7)};
// Each tracked client costs about 150 bytes: 50,000 about 7 MB, the upper bound about 150 MB.
constexpr std::uint64_t min_harvest_clients = 1'000;
constexpr std::uint64_t max_harvest_clients = 1'000'000;
constexpr Seconds min_metrics_interval{1};
constexpr Seconds max_metrics_interval{std::chrono::hours(1)};

bool read_char(std::string_view text, std::size_t& pos, char c) {
    if (pos < text.size() && text[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

// d.d{1,3}.d{1,3} (RFC 3463)
bool is_enhanced_status(std::string_view status) {
    std::size_t pos = 0;
    std::size_t groups = 0;
    bool ok = true;
    while (ok && groups < 3) {
        const std::size_t start = pos;
        while (pos < status.size() && is_digit(status[pos])) {
            ++pos;
        }
        const std::size_t n = pos - start;
        ok = groups == 0 ? n == 1 : (n >= 1 && n <= 3);
        ++groups;
        if (ok && groups < 3) {
            ok = read_char(status, pos, '.');
        }
    }
    return ok && pos == status.size();
}

// `user`, which a daemon drops to; never root (`why` says why not).
void read_user(const Section& s, std::string& out, const char* why) {
    s.read_nonempty("user", out);
    if (out == "root") {
        s.fail("user", std::string("must not be root: ") + why);
    }
}

void read_reply(const Section& s, const std::string& prefix, char klass, Reply& out) {
    const std::string kind = prefix == "reject" ? "a reject" : "a tempfail";
    const std::string code_key = prefix + "_code";
    if (const toml::node* n = s.node(code_key)) {
        std::string code;
        if (n->is_integer()) {
            code = std::to_string(n->as_integer()->get());
        } else if (n->is_string()) {
            code = n->as_string()->get();
        } else {
            s.fail_type(*n, code_key, "a string such as \"550\"");
        }
        if (code.size() != 3 || !std::all_of(code.begin(), code.end(), is_digit) ||
            code[0] != klass) {
            s.fail(code_key, std::string("must be three digits starting with ") + klass + " for " +
                                 kind + ", got " + quote_value(code));
        }
        out.code = code;
    }
    const std::string status_key = prefix + "_status";
    if (auto status = s.string(status_key)) {
        if (!is_enhanced_status(*status)) {
            s.fail(status_key, "must be an enhanced status code such as \"" +
                                   std::string(1, klass) + ".1.1\", got " + quote_value(*status));
        }
        if ((*status)[0] != klass) {
            s.fail(status_key, std::string("must start with \"") + klass + ".\" for " + kind +
                                   ", got " + quote_value(*status));
        }
        out.status = *status;
    }
    const std::string text_key = prefix + "_text";
    if (auto text = s.string(text_key)) {
        if (text->empty()) {
            s.fail(text_key, "must not be empty");
        }
        for (unsigned char c : *text) {
            if (c < 0x20 || c > 0x7e) {
                s.fail(text_key, "must be printable ASCII on one line (no CR, LF or controls)");
            }
        }
        if (text->size() > max_reply_text) {
            s.fail(text_key, "longer than 400 bytes");
        }
        out.text = *text;
    }
}

// [milter] socket and socket_mode.
void read_milter_socket(const Section& s, MilterConfig& out) {
    if (auto socket = s.text("socket")) {
        bool ok = false;
        for (std::string_view scheme : {"unix:", "local:", "inet:", "inet6:"}) {
            ok = ok || (starts_with(*socket, scheme) && socket->size() > scheme.size());
        }
        if (!ok) {
            s.fail("socket",
                   "must start with unix:, local:, inet: or inet6:, got " + quote_value(*socket));
        }
        out.socket = *socket;
    }
    if (const toml::node* n = s.node("socket_mode")) {
        if (!n->is_string()) {
            s.fail_type(*n, "socket_mode", "a string of octal digits such as \"0660\"");
        }
        const std::string& mode = n->as_string()->get();
        std::uint32_t value = 0;
        bool ok = !mode.empty() && mode.size() <= 4;
        for (char c : mode) {
            ok = ok && c >= '0' && c <= '7';
            value = value * 8 + std::uint32_t(c - '0');
        }
        if (!ok || value > 0777) {
            s.fail("socket_mode",
                   "must be octal permission bits such as \"0660\", got " + quote_value(mode));
        }
        out.socket_mode = value;
    }
}

// The [milter] keys of the decision function.
void read_decision(const Section& s, DecisionSettings& decision) {
    read_mode(s, decision.mode);
    if (auto locals = s.strings("always_accept", [](const std::string& v) -> std::string {
            if (v.empty() || has_control(v) || v.find('@') != std::string::npos) {
                return "must be a local part such as \"postmaster\", got " + quote_value(v);
            }
            return "";
        })) {
        decision.always_accept.clear();
        for (const auto& local : *locals) {
            decision.always_accept.push_back(ascii_lower(local));
        }
    }
    if (auto delimiters = s.string("subaddress_delimiters")) {
        for (char c : *delimiters) {
            if (!is_punctuation(c) || c == '@') {
                s.fail("subaddress_delimiters",
                       "must be ASCII punctuation other than '@' (e.g. \"+\" or \"+-\"), got " +
                           quote_value(*delimiters));
            }
        }
        decision.subaddress_delimiters = *delimiters;
    }
    const std::initializer_list<std::pair<const char*, Verdict>> verdicts = {
        {"accept", Verdict::accept}, {"reject", Verdict::reject}, {"tempfail", Verdict::tempfail}};
    s.read_choice("on_cache_unavailable", verdicts, decision.on_cache_unavailable);
    s.read_choice("on_stale", verdicts, decision.on_stale);
    read_reply(s, "reject", '5', decision.reject);
    read_reply(s, "tempfail", '4', decision.tempfail);
}

// [milter.harvest], a table inside [milter].
void read_harvest(const Section& milter, HarvestConfig& out) {
    const toml::node* n = milter.node("harvest");
    if (n == nullptr) {
        return;
    }
    if (!n->is_table()) {
        milter.fail_type(*n, "harvest", "a table ([milter.harvest])");
    }
    const Section s(milter.file(), *n->as_table(), "[milter.harvest]",
                    {"threshold", "window", "action", "block_for", "max_clients"});
    s.read("threshold", out.threshold, 0, max_harvest_threshold);
    s.read("window", out.window);
    if (out.window > max_harvest_window) {
        s.fail("window", "must be at most 1d");
    }
    s.read_choice<HarvestAction>("action",
                                 {{"report", HarvestAction::report},
                                  {"450", HarvestAction::tempfail},
                                  {"421", HarvestAction::disconnect}},
                                 out.action);
    s.read("block_for", out.block_for);
    if (out.block_for > max_harvest_block) {
        s.fail("block_for", "must be at most 7d");
    }
    s.read("max_clients", out.max_clients, min_harvest_clients, max_harvest_clients);
}

void read_secret_days(const Section& s, AlertConfig& out) {
    std::vector<int> days;
    const bool present = s.for_each_item(
        "secret_days", "an array of integers",
        [&](const toml::node& element, const std::string& item) {
            if (!element.is_integer()) {
                s.fail_at(element, "secret_days",
                          item + "expected an integer, got " + type_name(element.type()));
            }
            const std::int64_t v = element.as_integer()->get();
            if (v < 1 || v > 365) {
                s.fail_at(element, "secret_days",
                          item + "must be from 1 to 365, got " + std::to_string(v));
            }
            days.push_back(int(v));
        });
    if (present) {
        std::sort(days.begin(), days.end(), std::greater<int>());
        days.erase(std::unique(days.begin(), days.end()), days.end());
        out.secret_days = std::move(days);
    }
}

}  // namespace

void read_mode(const Section& s, MilterMode& out) {
    s.read_choice<MilterMode>(
        "mode", {{"enforce", MilterMode::enforce}, {"report", MilterMode::report}}, out);
}

void read_language(const Section& s, std::string& out) {
    s.read_choice<std::string>("language", {{"en", "en"}, {"ja", "ja"}, {"en+ja", "en+ja"}}, out);
}

void read_store(const std::string& file, const toml::table& table, StoreConfig& out) {
    const Section s(file, table, "[store]", {"path", "max_size"});
    s.read_nonempty("path", out.path);
    read_size(s, "max_size", min_store_size, out.max_size);
}

void read_log(const std::string& file, const toml::table& table, LogConfig& out) {
    const Section s(file, table, "[log]", {"target", "file", "level", "rejections"});
    s.read_choice<LogTarget>(
        "target",
        {{"syslog", LogTarget::syslog}, {"stderr", LogTarget::stderr_}, {"file", LogTarget::file}},
        out.target);
    s.read("file", out.file);
    s.read_choice<std::string>("level",
                               {{"trace", "trace"},
                                {"debug", "debug"},
                                {"info", "info"},
                                {"warn", "warn"},
                                {"error", "error"}},
                               out.level);
    s.read("rejections", out.rejections);
    if (out.target == LogTarget::file && out.file.empty()) {
        s.fail("target", "target = \"file\" needs [log] file");
    }
}

void read_milter(const std::string& file, const toml::table& table, MilterConfig& out,
                 DecisionSettings& decision) {
    const Section s(file, table, "[milter]",
                    {"socket",
                     "socket_mode",
                     "socket_group",
                     "user",
                     "group",
                     "pid_file",
                     "timeout",
                     "stop_timeout",
                     "mode",
                     "always_accept",
                     "subaddress_delimiters",
                     "on_cache_unavailable",
                     "on_stale",
                     "reject_code",
                     "reject_status",
                     "reject_text",
                     "tempfail_code",
                     "tempfail_status",
                     "tempfail_text",
                     "harvest"});
    read_milter_socket(s, out);
    s.read("socket_group", out.socket_group);
    read_user(s, out.user, "the milter faces the Internet");
    s.read("group", out.group);
    s.read("pid_file", out.pid_file);
    s.read("timeout", out.timeout);
    s.read("stop_timeout", out.stop_timeout);
    read_decision(s, decision);
    read_harvest(s, out.harvest);
}

void read_sync(const std::string& file, const toml::table& table, SyncConfig& out) {
    const Section s(
        file, table, "[sync]",
        {"interval", "full_every", "stale_after", "max_shrink", "ca_file", "request_timeout",
         "connect_timeout", "max_retries", "max_backoff", "max_objects", "max_pages",
         "round_budget", "max_spill_size", "user", "pid_file"});
    s.read("interval", out.interval);
    s.read("full_every", out.full_every);
    s.read("stale_after", out.stale_after);
    if (const toml::node* n = s.node("max_shrink")) {
        double v = 0;
        if (n->is_floating_point()) {
            v = n->as_floating_point()->get();
        } else if (n->is_integer()) {
            v = double(n->as_integer()->get());
        } else {
            s.fail_type(*n, "max_shrink", "a number from 0 to 1");
        }
        if (!(v >= 0.0 && v <= 1.0)) {
            s.fail("max_shrink", "must be a fraction from 0 to 1 (0.25 = a quarter)");
        }
        out.max_shrink = v;
    }
    s.read("ca_file", out.ca_file);
    s.read("request_timeout", out.request_timeout);
    s.read("connect_timeout", out.connect_timeout);
    s.read("max_retries", out.max_retries, 0, 20);
    s.read("max_backoff", out.max_backoff);
    s.read("max_objects", out.max_objects, 1, max_sync_objects);
    s.read("max_pages", out.max_pages, 0, max_sync_objects);
    s.read("round_budget", out.round_budget);
    read_size(s, "max_spill_size", 0, out.max_spill_size);
    if (out.max_spill_size != 0 && out.max_spill_size < min_store_size) {
        s.fail("max_spill_size", "must be 0 (the store's max_size) or at least 1M");
    }
    read_user(s, out.user, "the sync worker never runs as root");
    s.read("pid_file", out.pid_file);
}

void read_alerts(const std::string& file, const toml::table& table, AlertConfig& out) {
    const Section s(file, table, "[alerts]",
                    {"mail_to", "mail_from", "sendmail", "webhook", "language", "timezone",
                     "secret_days", "sync_failure_after", "repeat", "host_label", "portal_url"});
    if (auto to = s.strings("mail_to", check_address)) {
        out.mail_to = std::move(*to);
    }
    if (auto from = s.text("mail_from")) {
        const std::string error = check_address(*from);
        if (!error.empty()) {
            s.fail("mail_from", error);
        }
        out.mail_from = *from;
    }
    s.read_nonempty("sendmail", out.sendmail);
    if (auto webhook = s.text("webhook")) {
        if (!webhook->empty()) {
            const std::string error = check_url(*webhook, true);
            if (!error.empty()) {
                s.fail("webhook", error + " (or \"\" for none)");
            }
        }
        out.webhook = *webhook;
    }
    read_language(s, out.language);
    if (auto zone = s.text("timezone")) {
        if (!zone_exists(*zone)) {
            s.fail("timezone", "unknown time zone " + quote_value(*zone) +
                                   " (an IANA name from /usr/share/zoneinfo, e.g. "
                                   "\"Asia/Tokyo\", or \"UTC\")");
        }
        out.timezone = *zone;
    }
    read_secret_days(s, out);
    s.read("sync_failure_after", out.sync_failure_after);
    s.read("repeat", out.repeat);
    if (out.repeat < std::chrono::hours(1)) {
        s.fail("repeat", "must be at least 1h");
    }
    if (auto label = s.text("host_label")) {
        if (label->size() > 200) {
            s.fail("host_label", "must be at most 200 bytes");
        }
        out.host_label = *label;
    }
    if (auto portal = s.string("portal_url")) {
        while (!portal->empty() && portal->back() == '/') {
            portal->pop_back();
        }
        if (!portal->empty()) {
            const std::string error = check_url(*portal, false);
            if (!error.empty()) {
                s.fail("portal_url", error + " (or \"\" to derive it from login_endpoint)");
            }
        }
        out.portal_url = *portal;
    }
}

void read_metrics(const std::string& file, const toml::table& table, MetricsConfig& out) {
    const Section s(file, table, "[metrics]", {"textfile_dir", "interval"});
    s.read("textfile_dir", out.textfile_dir);
    if (!out.textfile_dir.empty() && !out.textfile_dir.is_absolute()) {
        s.fail("textfile_dir", "must be an absolute path (or \"\" for no metrics), got " +
                                   quote_value(out.textfile_dir.string()));
    }
    s.read("interval", out.interval);
    if (out.interval < min_metrics_interval || out.interval > max_metrics_interval) {
        s.fail("interval", "must be from 1s to 1h");
    }
}

void read_postfix(const std::string& file, const toml::table& table, PostfixExportConfig& out) {
    const Section s(file, table, "[postfix]", {"export_dir"});
    s.read("export_dir", out.export_dir);
    if (!out.export_dir.empty() && !out.export_dir.is_absolute()) {
        s.fail("export_dir", "must be an absolute path (or \"\" for no Postfix tables), got " +
                                 quote_value(out.export_dir.string()));
    }
}

}  // namespace config_detail

const char* mode_name(MilterMode mode) { return mode == MilterMode::report ? "report" : "enforce"; }

const char* harvest_action_name(HarvestAction action) {
    switch (action) {
        case HarvestAction::tempfail:
            return "450";
        case HarvestAction::disconnect:
            return "421";
        case HarvestAction::report:
            break;
    }
    return "report";
}

std::uint64_t effective_max_pages(const SyncConfig& sync) {
    return sync.max_pages != 0 ? sync.max_pages : sync.max_objects / 100 + 1000;
}

std::uint64_t effective_max_spill_size(const SyncConfig& sync, const StoreConfig& store) {
    return sync.max_spill_size != 0 ? sync.max_spill_size : store.max_size;
}

}  // namespace m365gate
