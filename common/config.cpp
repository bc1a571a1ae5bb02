// common/config.cpp - m365gate.toml into one Config; credential files. Dates, durations and
// zones are common/time.h's and common/zone.h's.
//
// Each section is read through a Section, which checks the table's keys against a fixed list
// before judging any value, so a misspelt key reads "unknown key" rather than "missing required
// key". Every error names FILE:LINE, the section and the key ("FILE:LINE: [section] key: what
// is wrong"). Values quoted in messages are masked (control bytes become '?') and capped. No
// message built here ever holds a credential's secret: the credential parser names lines and
// keys only, and withholds toml++'s own description, which can quote the text it choked on.

#include "common/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <system_error>
#include <utility>

#include "common/idna.h"
#include "common/unique_fd.h"
#include "common/zone.h"

namespace m365gate {
namespace {

constexpr std::size_t max_config_bytes = 1u << 20;         // 1 MiB
constexpr std::size_t max_credential_bytes = 64u << 10;    // 64 KiB
constexpr std::uint64_t max_sync_objects = 1'000'000'000;  // max_objects, max_pages
constexpr std::uint64_t min_store_size = 1u << 20;         // 1M
constexpr Seconds max_config_duration{365LL * 24 * 3600};  // no interval in m365gate needs more
constexpr std::size_t max_reply_text = 400;

// ---- ASCII helpers (no locale) ----

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_lower_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }
bool is_punctuation(char c) {
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7e);
}

std::string ascii_lowered(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (char c : in) {
        out.push_back(ascii_lower(c));
    }
    return out;
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return (unsigned char)c < 0x80; });
}

bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return is_control((unsigned char)c); });
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// A value for an error message: quoted, control and non-ASCII bytes masked, capped.
std::string quote_value(std::string_view s, std::size_t max_len = 80) {
    std::string out = "\"";
    for (unsigned char c : s.substr(0, max_len)) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(char(c));
        } else {
            out.push_back(c >= 0x20 && c < 0x7f ? char(c) : '?');
        }
    }
    if (s.size() > max_len) {
        out += "...";
    }
    out.push_back('"');
    return out;
}

// A key as written in TOML: bare when it can be, quoted otherwise.
std::string key_text(std::string_view key) {
    const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return is_lower_alnum(ascii_lower(c)) || c == '_' || c == '-';
    });
    return bare ? std::string(key) : quote_value(key);
}

std::string errno_text(int err) { return std::generic_category().message(err); }

// Edit distance, for "did you mean" on unknown keys (keys are short).
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = up;
        }
    }
    return row[b.size()];
}

bool read_char(std::string_view text, std::size_t& pos, char c) {
    if (pos < text.size() && text[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

// A TOML date or offset date-time node as a time point; an error text otherwise.
std::optional<SysTime> toml_time(const toml::node& node, std::string& error) {
    if (const auto* d = node.as_date()) {
        const toml::date v = d->get();
        auto t = civil_time(v.year, v.month, v.day, 0, 0, 0, 0);
        if (!t) {
            error = "date out of range";
        }
        return t;
    }
    const toml::date_time v = node.as_date_time()->get();
    if (!v.offset) {
        error = "date-time needs a time zone offset (e.g. 2027-01-31T00:00:00Z or +09:00)";
        return std::nullopt;
    }
    auto t = civil_time(v.date.year, v.date.month, v.date.day, v.time.hour, v.time.minute,
                        v.time.second, v.offset->minutes);
    if (!t) {
        error = "date-time out of range";
    }
    return t;
}

const char* bad_date_hint =
    "(use e.g. 2027-01-31, 2027-01-31T12:00:00Z or 2027-01-31T21:00:00+09:00)";

// ---- shapes of values ----

bool is_guid(std::string_view s) {
    if (s.size() != 36) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

// An ASCII domain name with at least two labels ("contoso.com"; IDNs in their xn-- form).
bool is_domain_name(std::string_view s) {
    if (s.empty() || s.size() > 253 || s.find('.') == std::string_view::npos) {
        return false;
    }
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t end = s.find('.', start);
        if (end == std::string_view::npos) {
            end = s.size();
        }
        const std::string_view label = s.substr(start, end - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
            return false;
        }
        for (char c : label) {
            if (!is_lower_alnum(ascii_lower(c)) && c != '-') {
                return false;
            }
        }
        start = end + 1;
    }
    return true;
}

// An address as it goes into a header or a lookup key: local@domain, no spaces, no controls,
// none of the characters that would start a second address or a comment.
bool is_plain_address(std::string_view s) {
    const auto at = s.rfind('@');
    if (s.size() > 254 || at == std::string_view::npos || at == 0 || at + 1 == s.size()) {
        return false;
    }
    for (unsigned char c : s) {
        if (is_control(c) || c == ' ' || std::strchr("<>,;\"()[]\\", c) != nullptr) {
            return false;
        }
    }
    return true;
}

bool is_tenant_name(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return is_lower_alnum(c) || c == '.' || c == '_' || c == '-';
    });
}

// ---- TOML reading ----

const char* type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::string:
            return "string";
        case toml::node_type::integer:
            return "integer";
        case toml::node_type::floating_point:
            return "float";
        case toml::node_type::boolean:
            return "boolean";
        case toml::node_type::date:
            return "date";
        case toml::node_type::time:
            return "time";
        case toml::node_type::date_time:
            return "date-time";
        case toml::node_type::array:
            return "array";
        case toml::node_type::table:
            return "table";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

int line_of(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

[[noreturn]] void fail_line(const std::string& file, int line, const std::string& subject,
                            const std::string& what) {
    throw ConfigError(file + ":" + std::to_string(line) + ": " + subject + ": " + what);
}

// One TOML table being read: `label` is "[milter]" or "[[tenant]] #2".
class Section {
public:
    Section(const std::string& file, const toml::table& table, std::string label,
            std::vector<std::string_view> known)
        : file_(file), table_(table), label_(std::move(label)), known_(std::move(known)) {
        // toml::table iterates in key order; report the unknown key that comes first in the file.
        const toml::key* unknown = nullptr;
        for (auto&& [key, node] : table_) {
            (void)node;
            if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) {
                continue;
            }
            if (unknown == nullptr || key.source().begin.line < unknown->source().begin.line) {
                unknown = &key;
            }
        }
        if (unknown != nullptr) {
            std::string what = "unknown key";
            for (std::string_view candidate : known_) {
                if (edit_distance(unknown->str(), candidate) <= 2) {
                    what += " (did you mean " + std::string(candidate) + "?)";
                    break;
                }
            }
            fail_line(file_, static_cast<int>(unknown->source().begin.line),
                      subject(unknown->str()), what);
        }
    }

    const std::string& file() const { return file_; }
    int line() const { return line_of(table_); }

    const toml::node* node(std::string_view key) const {
        if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
            throw std::logic_error("config: key " + std::string(key) + " not declared");
        }
        return table_.get(key);
    }

    std::string subject(std::string_view key) const {
        if (key.empty()) {
            return label_;
        }
        return label_.empty() ? key_text(key) : label_ + " " + key_text(key);
    }

    // At the key's line, or the table's when the key is absent.
    [[noreturn]] void fail(std::string_view key, const std::string& what) const {
        const toml::node* n = table_.get(key);
        fail_line(file_, n != nullptr ? line_of(*n) : line(), subject(key), what);
    }
    [[noreturn]] void fail_at(const toml::node& at, std::string_view key,
                              const std::string& what) const {
        fail_line(file_, line_of(at), subject(key), what);
    }
    [[noreturn]] void fail_type(const toml::node& at, std::string_view key,
                                std::string_view expected) const {
        fail_at(at, key, "expected " + std::string(expected) + ", got " + type_name(at.type()));
    }

    std::optional<std::string> string(std::string_view key) const {
        const toml::node* n = node(key);
        if (n == nullptr) {
            return std::nullopt;
        }
        if (!n->is_string()) {
            fail_type(*n, key, "a string");
        }
        return n->as_string()->get();
    }

    // A string without control characters (names, paths, URLs).
    std::optional<std::string> text(std::string_view key) const {
        auto s = string(key);
        if (s && has_control(*s)) {
            fail(key, "must not contain control characters");
        }
        return s;
    }

    void read(std::string_view key, std::string& out) const {
        if (auto s = text(key)) {
            out = std::move(*s);
        }
    }
    void read(std::string_view key, std::filesystem::path& out) const {
        if (auto s = text(key)) {
            out = std::move(*s);
        }
    }
    void read_nonempty(std::string_view key, std::string& out) const {
        if (auto s = text(key)) {
            if (s->empty()) {
                fail(key, "must not be empty");
            }
            out = std::move(*s);
        }
    }
    void read_nonempty(std::string_view key, std::filesystem::path& out) const {
        std::string s;
        read_nonempty(key, s);
        if (!s.empty()) {
            out = std::move(s);
        }
    }

    void read(std::string_view key, bool& out) const {
        if (const toml::node* n = node(key)) {
            if (!n->is_boolean()) {
                fail_type(*n, key, "a boolean (true or false)");
            }
            out = n->as_boolean()->get();
        }
    }

    void read(std::string_view key, int& out, int min, int max) const {
        if (const toml::node* n = node(key)) {
            if (!n->is_integer()) {
                fail_type(*n, key, "an integer");
            }
            const std::int64_t v = n->as_integer()->get();
            if (v < min || v > max) {
                fail(key, "must be from " + std::to_string(min) + " to " + std::to_string(max) +
                              ", got " + std::to_string(v));
            }
            out = static_cast<int>(v);
        }
    }

    void read(std::string_view key, std::uint64_t& out, std::uint64_t min,
              std::uint64_t max) const {
        if (const toml::node* n = node(key)) {
            if (!n->is_integer()) {
                fail_type(*n, key, "an integer");
            }
            const std::int64_t v = n->as_integer()->get();
            if (v < 0 || static_cast<std::uint64_t>(v) < min ||
                static_cast<std::uint64_t>(v) > max) {
                fail(key, "must be from " + std::to_string(min) + " to " + std::to_string(max) +
                              ", got " + std::to_string(v));
            }
            out = static_cast<std::uint64_t>(v);
        }
    }

    // Durations are strings ("15m"); every duration in m365gate.toml must be above zero.
    void read(std::string_view key, Seconds& out) const {
        const toml::node* n = node(key);
        if (n == nullptr) {
            return;
        }
        if (!n->is_string()) {
            fail_type(*n, key, "a duration string such as \"15m\"");
        }
        const std::string& s = n->as_string()->get();
        const auto d = parse_duration(s);
        if (!d) {
            fail(key,
                 "bad duration " + quote_value(s) + " (use e.g. \"30s\", \"15m\", \"6h\", \"2d\")");
        }
        if (d->count() <= 0) {
            fail(key, "must be greater than zero, got " + quote_value(s));
        }
        if (*d > max_config_duration) {
            fail(key, "must be at most 365d, got " + quote_value(s));
        }
        out = *d;
    }

    // An array of strings; each element passes `check` (which returns an error text or "").
    template <typename Check>
    std::optional<std::vector<std::string>> strings(std::string_view key, Check check) const {
        const toml::node* n = node(key);
        if (n == nullptr) {
            return std::nullopt;
        }
        if (!n->is_array()) {
            fail_type(*n, key, "an array of strings");
        }
        std::vector<std::string> out;
        std::size_t index = 0;
        for (const toml::node& element : *n->as_array()) {
            ++index;
            const std::string item = "item " + std::to_string(index) + ": ";
            if (!element.is_string()) {
                fail_at(element, key, item + "expected a string, got " + type_name(element.type()));
            }
            const std::string& s = element.as_string()->get();
            const std::string error = check(s);
            if (!error.empty()) {
                fail_at(element, key, item + error);
            }
            out.push_back(s);
        }
        return out;
    }

    template <typename T>
    void read_choice(std::string_view key, std::initializer_list<std::pair<const char*, T>> choices,
                     T& out) const {
        const auto s = string(key);
        if (!s) {
            return;
        }
        std::string names;
        for (const auto& [name, value] : choices) {
            if (*s == name) {
                out = value;
                return;
            }
            names += (names.empty() ? "\"" : ", \"") + std::string(name) + "\"";
        }
        fail(key, "must be one of " + names + "; got " + quote_value(*s));
    }

private:
    const std::string& file_;
    const toml::table& table_;
    std::string label_;
    std::vector<std::string_view> known_;
};

std::string check_address(const std::string& s) {
    return is_plain_address(s) ? "" : "not a plain address (local@domain) " + quote_value(s);
}

// `allow_query`: the webhook, whose URL may carry its token in the query (Teams and Power
// Automate workflow URLs do); the Graph and login endpoints are plain bases.
std::string check_url(std::string_view s, bool allow_query) {
    if (!starts_with(s, "https://") || s.size() == 8) {
        return "must be an https:// URL, got " + quote_value(s);
    }
    for (unsigned char c : s) {
        if (is_control(c) || c == ' ' || c == '@' || c == '#' || c > 0x7e ||
            (c == '?' && !allow_query)) {
            return std::string("must be a plain https:// URL (no spaces, user info, ") +
                   (allow_query ? "" : "query ") + "or fragment), got " + quote_value(s);
        }
    }
    return "";
}

// ---- sections ----

// A size: a string such as "4G" or an integer number of bytes, at least `min` ("1M").
void read_size(const Section& s, std::string_view key, std::uint64_t min, std::uint64_t& out) {
    const toml::node* n = s.node(key);
    if (n == nullptr) {
        return;
    }
    std::optional<std::uint64_t> size;
    if (n->is_string()) {
        size = parse_size(n->as_string()->get());
        if (!size) {
            s.fail(key, "bad size " + quote_value(n->as_string()->get()) +
                            " (use e.g. \"512M\", \"4G\" or a number of bytes)");
        }
    } else if (n->is_integer()) {
        const std::int64_t v = n->as_integer()->get();
        if (v < 0) {
            s.fail(key, "must not be negative");
        }
        size = static_cast<std::uint64_t>(v);
    } else {
        s.fail_type(*n, key, "a size such as \"4G\" or an integer");
    }
    if (*size < min) {
        s.fail(key, "must be at least 1M");
    }
    out = *size;
}

void read_store(const Section& s, StoreConfig& out) {
    s.read_nonempty("path", out.path);
    read_size(s, "max_size", min_store_size, out.max_size);
}

void read_log(const Section& s, LogConfig& out) {
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
        // d.d{1,3}.d{1,3} (RFC 3463)
        std::size_t pos = 0;
        std::size_t groups = 0;
        bool ok = true;
        while (ok && groups < 3) {
            const std::size_t start = pos;
            while (pos < status->size() && is_digit((*status)[pos])) {
                ++pos;
            }
            const std::size_t n = pos - start;
            ok = groups == 0 ? n == 1 : (n >= 1 && n <= 3);
            ++groups;
            if (ok && groups < 3) {
                ok = read_char(*status, pos, '.');
            }
        }
        if (!ok || pos != status->size()) {
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

void read_milter(const Section& s, MilterConfig& out, DecisionSettings& decision) {
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
    s.read("socket_group", out.socket_group);
    s.read_nonempty("user", out.user);
    if (out.user == "root") {
        s.fail("user", "must not be root: the milter faces the Internet");
    }
    s.read("group", out.group);
    s.read("pid_file", out.pid_file);
    s.read("timeout", out.timeout);
    s.read("stop_timeout", out.stop_timeout);
    s.read_choice<MilterMode>(
        "mode", {{"enforce", MilterMode::enforce}, {"report", MilterMode::report}}, decision.mode);
    if (auto locals = s.strings("always_accept", [](const std::string& v) -> std::string {
            if (v.empty() || has_control(v) || v.find('@') != std::string::npos) {
                return "must be a local part such as \"postmaster\", got " + quote_value(v);
            }
            return "";
        })) {
        decision.always_accept.clear();
        for (const auto& local : *locals) {
            decision.always_accept.push_back(ascii_lowered(local));
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

void read_sync(const Section& s, SyncConfig& out) {
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
    s.read_nonempty("user", out.user);
    if (out.user == "root") {
        s.fail("user", "must not be root: the sync worker never runs as root");
    }
    s.read("pid_file", out.pid_file);
}

void read_alerts(const Section& s, AlertConfig& out) {
    if (auto to = s.strings("mail_to", check_address)) {
        out.mail_to = std::move(*to);
    }
    if (auto from = s.text("mail_from")) {
        if (!is_plain_address(*from)) {
            s.fail("mail_from", "not a plain address (local@domain) " + quote_value(*from));
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
    s.read_choice<std::string>("language", {{"en", "en"}, {"ja", "ja"}}, out.language);
    if (auto zone = s.text("timezone")) {
        if (!zone_exists(*zone)) {
            s.fail("timezone", "unknown time zone " + quote_value(*zone) +
                                   " (an IANA name from /usr/share/zoneinfo, e.g. "
                                   "\"Asia/Tokyo\", or \"UTC\")");
        }
        out.timezone = *zone;
    }
    if (const toml::node* n = s.node("secret_days")) {
        if (!n->is_array()) {
            s.fail_type(*n, "secret_days", "an array of integers");
        }
        std::vector<int> days;
        std::size_t index = 0;
        for (const toml::node& element : *n->as_array()) {
            ++index;
            const std::string item = "item " + std::to_string(index) + ": ";
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
        }
        std::sort(days.begin(), days.end(), std::greater<int>());
        days.erase(std::unique(days.begin(), days.end()), days.end());
        out.secret_days = std::move(days);
    }
    s.read("sync_failure_after", out.sync_failure_after);
}

// `seen_domains`: domain -> (tenant name, line), shared across tenants.
TenantConfig read_tenant(const Section& s,
                         std::map<std::string, std::pair<std::string, int>>& seen_domains) {
    TenantConfig t;
    t.line = s.line();
    for (const char* key : {"name", "tenant_id", "client_id", "client_secret_file"}) {
        if (s.node(key) == nullptr) {
            fail_line(s.file(), t.line, s.subject(""), std::string("missing required key ") + key);
        }
    }
    t.name = *s.string("name");
    if (!is_tenant_name(t.name)) {
        s.fail("name",
               "must be 1 to 64 of a-z 0-9 . _ - (it names the tenant in the store and "
               "the logs), got " +
                   quote_value(t.name));
    }
    t.tenant_id = *s.string("tenant_id");
    if (!is_guid(t.tenant_id) && !is_domain_name(t.tenant_id)) {
        s.fail("tenant_id",
               "must be the directory (tenant) ID, a GUID, or a domain such as "
               "\"contoso.onmicrosoft.com\", got " +
                   quote_value(t.tenant_id));
    }
    t.client_id = *s.string("client_id");
    if (!is_guid(t.client_id)) {
        s.fail("client_id",
               "must be the application (client) ID, a GUID, got " + quote_value(t.client_id));
    }
    s.read_nonempty("client_secret_file", t.client_secret_file);
    if (const toml::node* n = s.node("client_secret_expires")) {
        std::string error;
        if (n->is_date() || n->is_date_time()) {
            t.client_secret_expires = toml_time(*n, error);
        } else if (n->is_string()) {
            t.client_secret_expires = parse_datetime(n->as_string()->get());
            error = "bad date " + quote_value(n->as_string()->get()) + " " + bad_date_hint;
        } else {
            s.fail_type(*n, "client_secret_expires", "a date or date-time");
        }
        if (!t.client_secret_expires) {
            s.fail("client_secret_expires", error);
        }
    }
    // Domains in the store's canonical form (common/idna.h): U-labels become A-labels, so
    // "bücher.example" and "xn--bcher-kva.example" are one domain, here and in the milter.
    if (auto domains = s.strings("domains", [](const std::string& v) -> std::string {
            const auto d = canonical_domain_name(v);
            if (!d && !is_ascii(v)) {
                return "not a valid internationalised domain name (IDNA2008) " + quote_value(v);
            }
            return d && is_domain_name(*d) ? "" : "not a domain name " + quote_value(v);
        })) {
        const toml::array& nodes = *s.node("domains")->as_array();
        for (std::size_t i = 0; i < domains->size(); ++i) {
            std::string d = *canonical_domain_name((*domains)[i]);
            const auto [it, inserted] = seen_domains.try_emplace(d, t.name, t.line);
            if (!inserted) {
                const std::string owner = it->second.first == t.name
                                              ? "listed twice in this tenant"
                                              : "already listed by tenant " +
                                                    quote_value(it->second.first) + " (line " +
                                                    std::to_string(it->second.second) + ")";
                s.fail_at(*nodes.get(i), "domains", quote_value(d) + " is " + owner);
            }
            t.domains.push_back(std::move(d));
        }
    }
    s.read("include_upn", t.include_upn);
    for (auto [key, out] : {std::pair{"login_endpoint", &t.login_endpoint},
                            std::pair{"graph_endpoint", &t.graph_endpoint}}) {
        if (auto url = s.string(key)) {
            while (!url->empty() && url->back() == '/') {
                url->pop_back();
            }
            const std::string error = check_url(*url, false);
            if (!error.empty()) {
                s.fail(key, error);
            }
            *out = *url;
        }
    }
    if (auto to = s.strings("alert_mail_to", check_address)) {
        t.alert_mail_to = std::move(*to);
    }
    // Addresses with the domain in canonical form (an A-label for a U-label), as the store
    // keeps them; the local part lowercased (ASCII).
    const auto extra_key = [](const std::string& address) -> std::optional<std::string> {
        const auto at = address.rfind('@');
        const auto domain = canonical_domain_name(std::string_view(address).substr(at + 1));
        if (!domain) {
            return std::nullopt;
        }
        return ascii_lowered(std::string_view(address).substr(0, at)) + "@" + *domain;
    };
    if (auto extra = s.strings("extra_recipients", [&](const std::string& v) -> std::string {
            std::string error = check_address(v);
            if (error.empty() && !extra_key(v)) {
                error = "not a valid internationalised domain name (IDNA2008) in " + quote_value(v);
            }
            return error;
        })) {
        for (const auto& address : *extra) {
            t.extra_recipients.push_back(*extra_key(address));
        }
    }
    s.read("extra_recipients_file", t.extra_recipients_file);
    return t;
}

const toml::table* section_table(const std::string& file, const toml::table& root,
                                 std::string_view name) {
    const toml::node* n = root.get(name);
    if (n == nullptr) {
        return nullptr;
    }
    if (!n->is_table()) {
        fail_line(file, line_of(*n), "[" + std::string(name) + "]",
                  std::string("expected a table, got ") + type_name(n->type()));
    }
    return n->as_table();
}

std::string read_whole(int fd, std::size_t limit, const std::string& name, const char* what) {
    std::string text;
    char buffer[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw ConfigError(name + ": cannot read " + what + ": " + errno_text(errno));
        }
        if (n == 0) {
            return text;
        }
        text.append(buffer, std::size_t(n));
        if (text.size() > limit) {
            throw ConfigError(name + ": " + what + " is larger than " +
                              (limit >= (1u << 20) ? std::to_string(limit >> 20) + " MiB"
                                                   : std::to_string(limit >> 10) + " KiB") +
                              "; refusing it");
        }
    }
}

// O_NONBLOCK so that a FIFO put in place of the file cannot hang the daemon. `follow` false:
// a symlink at the name is refused (O_NOFOLLOW).
UniqueFd open_regular(const std::string& name, const char* what, struct stat& st,
                      bool follow = true) {
    UniqueFd fd(::open(name.c_str(),
                       O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW)));
    if (fd.get() < 0) {
        if (!follow && errno == ELOOP) {
            throw ConfigError(name + ": " + what +
                              " is a symbolic link: point the config at the real file");
        }
        throw ConfigError(name + ": cannot open " + what + ": " + errno_text(errno));
    }
    if (::fstat(fd.get(), &st) != 0) {
        throw ConfigError(name + ": cannot stat " + what + ": " + errno_text(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw ConfigError(name + ": " + what + " is not a regular file");
    }
    return fd;
}

// ---- credential files ----

// TOML form: some line reads `secret` [spaces] `=`.
bool looks_like_toml_credential(std::string_view text) {
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = text.substr(pos, end - pos);
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
            line.remove_prefix(1);
        }
        if (starts_with(line, "secret")) {
            line.remove_prefix(6);
            while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
                line.remove_prefix(1);
            }
            if (!line.empty() && line.front() == '=') {
                return true;
            }
        }
        pos = end + 1;
    }
    return false;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

// True when `text` holds a piece of the secret long enough to matter: the whole secret, or
// any 8 bytes in a row of it (a mistyped or doubled copy of the secret used as a key). Such
// text stays out of error messages.
bool shares_secret_text(std::string_view text, std::string_view secret) {
    constexpr std::size_t piece = 8;
    if (secret.empty()) {
        return false;
    }
    if (secret.size() <= piece) {
        return text.find(secret) != std::string_view::npos ||
               (!text.empty() && secret.find(text) != std::string_view::npos);
    }
    if (!text.empty() && secret.find(text) != std::string_view::npos) {
        return true;
    }
    for (std::size_t i = 0; i + piece <= secret.size(); ++i) {
        if (text.find(secret.substr(i, piece)) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

const char* credential_forms =
    "a credential file holds the secret alone on one line, or TOML with secret = \"...\" and "
    "optional expires = 2027-01-31T00:00:00Z";

Credential parse_plain_credential(std::string_view text, const std::string& name) {
    Credential out;
    std::size_t pos = 0;
    int line_number = 0;
    int secret_line = 0;
    while (pos < text.size()) {
        ++line_number;
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view line = trimmed(text.substr(pos, end - pos));
        pos = end + 1;
        if (line.empty()) {
            continue;
        }
        if (secret_line != 0) {
            throw ConfigError(name + ":" + std::to_string(line_number) +
                              ": more than one non-empty line; " + credential_forms);
        }
        secret_line = line_number;
        if (has_control(line)) {
            throw ConfigError(name + ":" + std::to_string(line_number) +
                              ": the secret contains control characters");
        }
        out.secret = Secret(std::string(line));
    }
    if (out.secret.empty()) {
        throw ConfigError(name + ": credential file is empty; " + credential_forms);
    }
    return out;
}

Credential parse_toml_credential(std::string_view text, const std::string& name) {
    toml::table root;
    try {
        root = toml::parse(text, name);
    } catch (const toml::parse_error& e) {
        // toml++'s description can quote the bytes it stopped at, which may be the secret.
        throw ConfigError(name + ":" + std::to_string(e.source().begin.line) + ":" +
                          std::to_string(e.source().begin.column) +
                          ": not valid TOML (the parser's details are withheld: they could "
                          "quote the secret)");
    }
    Credential out;
    const toml::node* secret = root.get("secret");
    if (secret != nullptr && secret->is_string()) {
        out.secret = Secret(secret->as_string()->get());
    }
    for (auto&& [key, node] : root) {
        if (key.str() == "secret" || key.str() == "expires") {
            continue;
        }
        const bool may_show = !shares_secret_text(key.str(), out.secret.reveal());
        throw ConfigError(name + ":" + std::to_string(line_of(node)) + ": " +
                          (may_show ? key_text(key.str()) + ": " : std::string()) +
                          "unknown key (a credential file knows secret and expires)");
    }
    if (secret == nullptr) {
        throw ConfigError(name + ": missing required key secret");
    }
    const std::string where = name + ":" + std::to_string(line_of(*secret)) + ": secret: ";
    if (!secret->is_string()) {
        throw ConfigError(where + "expected a string, got " + type_name(secret->type()));
    }
    if (out.secret.empty()) {
        throw ConfigError(where + "is empty");
    }
    if (has_control(out.secret.reveal())) {
        throw ConfigError(where + "contains control characters");
    }
    if (const toml::node* expires = root.get("expires")) {
        const std::string at = name + ":" + std::to_string(line_of(*expires)) + ": expires: ";
        std::string error;
        if (expires->is_date() || expires->is_date_time()) {
            out.expires = toml_time(*expires, error);
        } else if (expires->is_string()) {
            out.expires = parse_datetime(expires->as_string()->get());
            const std::string& text = expires->as_string()->get();
            error = "bad date " +
                    (shares_secret_text(text, out.secret.reveal()) ? std::string("(withheld)")
                                                                   : quote_value(text)) +
                    " " + bad_date_hint;
        } else {
            throw ConfigError(at + "expected a date or date-time, got " +
                              type_name(expires->type()));
        }
        if (!out.expires) {
            throw ConfigError(at + error);
        }
    }
    return out;
}

}  // namespace

// ---- public ----

const TenantConfig* Config::find_tenant(std::string_view name) const {
    for (const auto& t : tenants) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    unsigned shift = 0;
    switch (text.back()) {
        case 'K':
        case 'k':
            shift = 10;
            break;
        case 'M':
        case 'm':
            shift = 20;
            break;
        case 'G':
        case 'g':
            shift = 30;
            break;
        case 'T':
        case 't':
            shift = 40;
            break;
        default:
            break;
    }
    const std::string_view digits = shift != 0 ? text.substr(0, text.size() - 1) : text;
    if (digits.empty()) {
        return std::nullopt;
    }
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t n = 0;
    for (char c : digits) {
        if (!is_digit(c) || n > (max - std::uint64_t(c - '0')) / 10) {
            return std::nullopt;
        }
        n = n * 10 + std::uint64_t(c - '0');
    }
    if (n > (max >> shift)) {
        return std::nullopt;
    }
    return n << shift;
}

std::uint64_t effective_max_pages(const SyncConfig& sync) {
    return sync.max_pages != 0 ? sync.max_pages : sync.max_objects / 100 + 1000;
}

std::uint64_t effective_max_spill_size(const SyncConfig& sync, const StoreConfig& store) {
    return sync.max_spill_size != 0 ? sync.max_spill_size : store.max_size;
}

Config parse_config(std::string_view text, const std::string& name) {
    if (text.size() > max_config_bytes) {
        throw ConfigError(name + ": configuration is larger than 1 MiB; refusing it");
    }
    toml::table root;
    try {
        root = toml::parse(text, name);
    } catch (const toml::parse_error& e) {
        throw ConfigError(name + ":" + std::to_string(e.source().begin.line) + ":" +
                          std::to_string(e.source().begin.column) + ": " +
                          std::string(e.description()));
    }

    static const std::vector<std::string_view> sections = {"store", "log",    "milter",
                                                           "sync",  "alerts", "tenant"};
    const toml::key* unknown = nullptr;
    for (auto&& [key, node] : root) {
        (void)node;
        if (std::find(sections.begin(), sections.end(), key.str()) == sections.end() &&
            (unknown == nullptr || key.source().begin.line < unknown->source().begin.line)) {
            unknown = &key;
        }
    }
    if (unknown != nullptr) {
        const toml::node& node = *root.get(unknown->str());
        const int line = static_cast<int>(unknown->source().begin.line);
        if (node.is_table()) {
            fail_line(name, line, "[" + std::string(unknown->str()) + "]", "unknown section");
        }
        fail_line(name, line, key_text(unknown->str()),
                  "unknown key outside any section (sections: [store], [log], [milter], "
                  "[sync], [alerts], [[tenant]])");
    }

    Config cfg;
    cfg.file = name;
    if (const toml::table* t = section_table(name, root, "store")) {
        read_store(Section(name, *t, "[store]", {"path", "max_size"}), cfg.store);
    }
    if (const toml::table* t = section_table(name, root, "log")) {
        read_log(Section(name, *t, "[log]", {"target", "file", "level", "rejections"}), cfg.log);
    }
    if (const toml::table* t = section_table(name, root, "milter")) {
        read_milter(
            Section(name, *t, "[milter]",
                    {"socket", "socket_mode", "socket_group", "user", "group", "pid_file",
                     "timeout", "stop_timeout", "mode", "always_accept", "subaddress_delimiters",
                     "on_cache_unavailable", "on_stale", "reject_code", "reject_status",
                     "reject_text", "tempfail_code", "tempfail_status", "tempfail_text"}),
            cfg.milter, cfg.decision);
    }
    if (const toml::table* t = section_table(name, root, "sync")) {
        read_sync(Section(name, *t, "[sync]",
                          {"interval", "full_every", "stale_after", "max_shrink", "ca_file",
                           "request_timeout", "connect_timeout", "max_retries", "max_backoff",
                           "max_objects", "max_pages", "round_budget", "max_spill_size", "user",
                           "pid_file"}),
                  cfg.sync);
    }
    cfg.decision.stale_after = cfg.sync.stale_after;
    if (const toml::table* t = section_table(name, root, "alerts")) {
        read_alerts(Section(name, *t, "[alerts]",
                            {"mail_to", "mail_from", "sendmail", "webhook", "language", "timezone",
                             "secret_days", "sync_failure_after"}),
                    cfg.alerts);
    }
    if (const toml::node* n = root.get("tenant")) {
        if (!n->is_array_of_tables()) {
            fail_line(name, line_of(*n), "[[tenant]]",
                      std::string("expected an array of tables ([[tenant]] headers), got ") +
                          type_name(n->type()));
        }
        std::map<std::string, std::pair<std::string, int>> seen_domains;
        std::size_t index = 0;
        for (const toml::node& element : *n->as_array()) {
            ++index;
            const Section s(
                name, *element.as_table(), "[[tenant]] #" + std::to_string(index),
                {"name", "tenant_id", "client_id", "client_secret_file", "client_secret_expires",
                 "domains", "include_upn", "login_endpoint", "graph_endpoint", "alert_mail_to",
                 "extra_recipients", "extra_recipients_file"});
            // The name first, so that a duplicate is told before its domains clash.
            if (const toml::node* name_node = s.node("name"); name_node && name_node->is_string()) {
                if (const TenantConfig* first = cfg.find_tenant(name_node->as_string()->get())) {
                    fail_line(
                        name, s.line(), "[[tenant]] name " + quote_value(first->name),
                        "duplicate (first defined at line " + std::to_string(first->line) + ")");
                }
            }
            cfg.tenants.push_back(read_tenant(s, seen_domains));
        }
    }
    return cfg;
}

Config load_config(const std::filesystem::path& file) {
    const std::string name = file.string();
    struct stat st {};
    const UniqueFd fd = open_regular(name, "configuration", st);
    const std::string text = read_whole(fd.get(), max_config_bytes, name, "configuration");
    Config cfg = parse_config(text, name);
    cfg.file = file;
    return cfg;
}

Credential parse_credential(std::string_view text, const std::string& name) {
    if (text.size() > max_credential_bytes) {
        throw ConfigError(name + ": credential file is larger than 64 KiB; refusing it");
    }
    if (starts_with(text, "\xEF\xBB\xBF")) {  // a UTF-8 BOM from a Windows editor
        text.remove_prefix(3);
    }
    return looks_like_toml_credential(text) ? parse_toml_credential(text, name)
                                            : parse_plain_credential(text, name);
}

Credential load_credential(const std::filesystem::path& file) {
    const std::string name = file.string();
    struct stat st {};
    // Not through a symlink: root reads credential files too (--check-config, m365gatectl
    // check-config), in a directory that belongs to sync.user.
    const UniqueFd fd = open_regular(name, "credential file", st, false);
    const unsigned mode = st.st_mode & 07777;
    if ((mode & 077) != 0) {
        char octal[8];
        std::snprintf(octal, sizeof octal, "%04o", mode);
        const char* how = (mode & 044) != 0 ? "readable" : "accessible";
        throw ConfigError(name + ": credential file is " + how + " by group or others (mode " +
                          octal + "): chmod 600 " + name);
    }
    const std::string text = read_whole(fd.get(), max_credential_bytes, name, "credential file");
    return parse_credential(text, name);
}

}  // namespace m365gate
