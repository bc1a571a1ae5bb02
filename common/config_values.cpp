// common/config_values.cpp - reading and judging one value of m365gate.toml: the Section
// reader (strings, paths, booleans, integers, durations, arrays, choices), sizes, dates, and
// the shapes of names, GUIDs, domains, addresses and URLs. Dates, durations and zones are
// common/time.h's and common/zone.h's.

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "common/config.h"
#include "common/config_internal.h"

namespace m365gate {
namespace config_detail {
namespace {

constexpr Seconds max_config_duration{365LL * 24 * 3600};  // no interval in m365gate needs more

const char* bad_date_hint =
    "(use e.g. 2027-01-31, 2027-01-31T12:00:00Z or 2027-01-31T21:00:00+09:00)";

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

std::string range_error(const std::string& min, const std::string& max, std::int64_t got) {
    return "must be from " + min + " to " + max + ", got " + std::to_string(got);
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

}  // namespace

// ---- ASCII helpers ----

bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return is_control((unsigned char)c); });
}

// ---- messages ----

std::string quote_value(std::string_view s, std::size_t max_len) {
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

std::string key_text(std::string_view key) {
    const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return is_lower_alnum(ascii_lower(c)) || c == '_' || c == '-';
    });
    return bare ? std::string(key) : quote_value(key);
}

std::string line_prefix(const std::string& file, int line) {
    return file + ":" + std::to_string(line) + ": ";
}

void fail_line(const std::string& file, int line, const std::string& subject,
               const std::string& what) {
    throw ConfigError(line_prefix(file, line) + subject + ": " + what);
}

// ---- TOML ----

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

const toml::key* first_unknown_key(const toml::table& table,
                                   const std::vector<std::string_view>& known) {
    const toml::key* unknown = nullptr;
    for (auto&& [key, node] : table) {
        (void)node;
        if (std::find(known.begin(), known.end(), key.str()) == known.end() &&
            (unknown == nullptr || key.source().begin.line < unknown->source().begin.line)) {
            unknown = &key;
        }
    }
    return unknown;
}

// ---- dates ----

std::optional<DateValue> read_date(const toml::node& node) {
    return read_date(node, [](const std::string& s) { return quote_value(s); });
}

std::optional<DateValue> read_date(const toml::node& node,
                                   const std::function<std::string(const std::string&)>& shown) {
    DateValue out;
    if (node.is_date() || node.is_date_time()) {
        out.time = toml_time(node, out.error);
    } else if (node.is_string()) {
        const std::string& text = node.as_string()->get();
        out.time = parse_datetime(text);
        out.error = "bad date " + shown(text) + " " + bad_date_hint;
    } else {
        return std::nullopt;
    }
    return out;
}

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

std::string check_address(const std::string& s) {
    return is_plain_address(s) ? "" : "not a plain address (local@domain) " + quote_value(s);
}

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

// ---- Section ----

Section::Section(const std::string& file, const toml::table& table, std::string label,
                 std::vector<std::string_view> known)
    : file_(file), table_(table), label_(std::move(label)), known_(std::move(known)) {
    if (const toml::key* unknown = first_unknown_key(table_, known_)) {
        std::string what = "unknown key";
        for (std::string_view candidate : known_) {
            if (edit_distance(unknown->str(), candidate) <= 2) {
                what += " (did you mean " + std::string(candidate) + "?)";
                break;
            }
        }
        fail_line(file_, static_cast<int>(unknown->source().begin.line), subject(unknown->str()),
                  what);
    }
}

const toml::node* Section::node(std::string_view key) const {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
        throw std::logic_error("config: key " + std::string(key) + " not declared");
    }
    return table_.get(key);
}

std::string Section::subject(std::string_view key) const {
    if (key.empty()) {
        return label_;
    }
    return label_.empty() ? key_text(key) : label_ + " " + key_text(key);
}

void Section::fail(std::string_view key, const std::string& what) const {
    const toml::node* n = table_.get(key);
    fail_line(file_, n != nullptr ? line_of(*n) : line(), subject(key), what);
}

void Section::fail_at(const toml::node& at, std::string_view key, const std::string& what) const {
    fail_line(file_, line_of(at), subject(key), what);
}

void Section::fail_type(const toml::node& at, std::string_view key,
                        std::string_view expected) const {
    fail_at(at, key, "expected " + std::string(expected) + ", got " + type_name(at.type()));
}

std::optional<std::string> Section::string(std::string_view key) const {
    const toml::node* n = node(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    if (!n->is_string()) {
        fail_type(*n, key, "a string");
    }
    return n->as_string()->get();
}

std::optional<std::string> Section::text(std::string_view key) const {
    auto s = string(key);
    if (s && has_control(*s)) {
        fail(key, "must not contain control characters");
    }
    return s;
}

void Section::read(std::string_view key, std::string& out) const {
    if (auto s = text(key)) {
        out = std::move(*s);
    }
}

void Section::read(std::string_view key, std::filesystem::path& out) const {
    if (auto s = text(key)) {
        out = std::move(*s);
    }
}

void Section::read_nonempty(std::string_view key, std::string& out) const {
    if (auto s = text(key)) {
        if (s->empty()) {
            fail(key, "must not be empty");
        }
        out = std::move(*s);
    }
}

void Section::read_nonempty(std::string_view key, std::filesystem::path& out) const {
    std::string s;
    read_nonempty(key, s);
    if (!s.empty()) {
        out = std::move(s);
    }
}

void Section::read(std::string_view key, bool& out) const {
    if (const toml::node* n = node(key)) {
        if (!n->is_boolean()) {
            fail_type(*n, key, "a boolean (true or false)");
        }
        out = n->as_boolean()->get();
    }
}

std::optional<std::int64_t> Section::integer(std::string_view key) const {
    const toml::node* n = node(key);
    if (n == nullptr) {
        return std::nullopt;
    }
    if (!n->is_integer()) {
        fail_type(*n, key, "an integer");
    }
    return n->as_integer()->get();
}

void Section::read(std::string_view key, int& out, int min, int max) const {
    if (const auto v = integer(key)) {
        if (*v < min || *v > max) {
            fail(key, range_error(std::to_string(min), std::to_string(max), *v));
        }
        out = static_cast<int>(*v);
    }
}

void Section::read(std::string_view key, std::uint64_t& out, std::uint64_t min,
                   std::uint64_t max) const {
    if (const auto v = integer(key)) {
        if (*v < 0 || static_cast<std::uint64_t>(*v) < min ||
            static_cast<std::uint64_t>(*v) > max) {
            fail(key, range_error(std::to_string(min), std::to_string(max), *v));
        }
        out = static_cast<std::uint64_t>(*v);
    }
}

void Section::read(std::string_view key, Seconds& out) const {
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

// ---- sizes ----

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

}  // namespace config_detail

std::optional<std::uint64_t> parse_size(std::string_view text) {
    using config_detail::is_digit;
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

}  // namespace m365gate
