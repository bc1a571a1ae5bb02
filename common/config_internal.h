// common/config_internal.h - what the pieces of the config reader share (config.cpp,
// config_values.cpp, config_sections.cpp, config_tenant.cpp, credentials.cpp). Private to
// common/: nothing outside it includes this.
//
// Each section is read through a Section, which checks the table's keys against a fixed list
// before judging any value, so a misspelt key reads "unknown key" rather than "missing required
// key". Every error names FILE:LINE, the section and the key ("FILE:LINE: [section] key: what
// is wrong"). Values quoted in messages are masked (control bytes become '?') and capped.
#pragma once

#include <sys/stat.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/text.h"  // ascii_lower, is_ascii
#include "common/time.h"
#include "common/unique_fd.h"

namespace m365gate::config_detail {

// ---- ASCII helpers (no locale; ascii_lower and is_ascii are common/text.h's) ----

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline bool is_lower_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }
inline bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }
inline bool is_punctuation(char c) {
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7e);
}
inline bool starts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool has_control(std::string_view s);

// ---- messages (config_values.cpp; errno_text and fail_too_large in config.cpp) ----

// A value for an error message: quoted, control and non-ASCII bytes masked, capped.
std::string quote_value(std::string_view s, std::size_t max_len = 80);
// A key as written in TOML: bare when it can be, quoted otherwise.
std::string key_text(std::string_view key);
std::string errno_text(int err);
// "FILE:LINE: ", the start of every message about a place in a file.
std::string line_prefix(const std::string& file, int line);
[[noreturn]] void fail_line(const std::string& file, int line, const std::string& subject,
                            const std::string& what);
// "FILE: WHAT is larger than 1 MiB; refusing it" (64 KiB for a credential file).
[[noreturn]] void fail_too_large(const std::string& file, const char* what, std::size_t limit);

// ---- TOML (config_values.cpp; parse_toml in config.cpp) ----

const char* type_name(toml::node_type type);
inline int line_of(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

// The whole text as TOML. A syntax error throws ConfigError("FILE:LINE:COLUMN: ...") with
// toml++'s description, or with `withheld` in its place when that is given (the description
// can quote the text it choked on, which may be a secret).
toml::table parse_toml(std::string_view text, const std::string& name,
                       const char* withheld = nullptr);

// The key of `table` outside `known` that comes first in the file; nullptr when none.
// (toml::table iterates in key order, not in the file's.)
const toml::key* first_unknown_key(const toml::table& table,
                                   const std::vector<std::string_view>& known);

// A date: a TOML date or offset date-time, or a string that parse_datetime() reads. nullopt
// when the node is none of these (the caller names the type it wanted); otherwise `time`, or
// when that is nullopt the `error` that says why. `shown` quotes a bad string in the error
// (quote_value() in the first form).
struct DateValue {
    std::optional<SysTime> time;
    std::string error;
};
std::optional<DateValue> read_date(const toml::node& node);
std::optional<DateValue> read_date(const toml::node& node,
                                   const std::function<std::string(const std::string&)>& shown);

// ---- shapes of values (config_values.cpp) ----

bool is_guid(std::string_view s);
// An ASCII domain name with at least two labels ("contoso.com"; IDNs in their xn-- form).
bool is_domain_name(std::string_view s);
// An address as it goes into a header or a lookup key: local@domain, no spaces, no controls,
// none of the characters that would start a second address or a comment.
bool is_plain_address(std::string_view s);
bool is_tenant_name(std::string_view s);
// An error text, or "" when `s` is a plain address.
std::string check_address(const std::string& s);
// An error text, or "" when `s` is a plain https:// URL. `allow_query`: the webhook, whose URL
// may carry its token in the query (Teams and Power Automate workflow URLs do); the Graph and
// login endpoints are plain bases.
std::string check_url(std::string_view s, bool allow_query);

// ---- files (config.cpp) ----

// O_NONBLOCK so that a FIFO put in place of the file cannot hang the daemon. `follow` false:
// a symlink at the name is refused (O_NOFOLLOW). `what` names the file in messages.
UniqueFd open_regular(const std::string& name, const char* what, struct stat& st,
                      bool follow = true);
// The whole file; more than `limit` bytes is an error.
std::string read_whole(int fd, std::size_t limit, const std::string& name, const char* what);

// ---- one TOML table being read (config_values.cpp) ----

class Section {
public:
    // `label` is "[milter]" or "[[tenant]] #2"; `known` the keys the table may hold. An
    // unknown key fails here, before any value is judged.
    Section(const std::string& file, const toml::table& table, std::string label,
            std::vector<std::string_view> known);

    const std::string& file() const { return file_; }
    int line() const { return line_of(table_); }

    // The key's node, nullptr when absent; a key outside `known` is a bug (logic_error).
    const toml::node* node(std::string_view key) const;
    // "[section] key", "[section]" for "".
    std::string subject(std::string_view key) const;

    // At the key's line, or the table's when the key is absent.
    [[noreturn]] void fail(std::string_view key, const std::string& what) const;
    [[noreturn]] void fail_at(const toml::node& at, std::string_view key,
                              const std::string& what) const;
    [[noreturn]] void fail_type(const toml::node& at, std::string_view key,
                                std::string_view expected) const;

    std::optional<std::string> string(std::string_view key) const;
    // A string without control characters (names, paths, URLs).
    std::optional<std::string> text(std::string_view key) const;

    void read(std::string_view key, std::string& out) const;
    void read(std::string_view key, std::filesystem::path& out) const;
    void read_nonempty(std::string_view key, std::string& out) const;
    void read_nonempty(std::string_view key, std::filesystem::path& out) const;
    void read(std::string_view key, bool& out) const;
    void read(std::string_view key, int& out, int min, int max) const;
    void read(std::string_view key, std::uint64_t& out, std::uint64_t min, std::uint64_t max) const;
    // Durations are strings ("15m"); every duration in m365gate.toml must be above zero.
    void read(std::string_view key, Seconds& out) const;

    // Calls fn(element, "item N: ") for each element of the array at `key`; false when the key
    // is absent. Anything but an array fails as not `expected`.
    template <typename Fn>
    bool for_each_item(std::string_view key, std::string_view expected, Fn fn) const {
        const toml::node* n = node(key);
        if (n == nullptr) {
            return false;
        }
        if (!n->is_array()) {
            fail_type(*n, key, expected);
        }
        std::size_t index = 0;
        for (const toml::node& element : *n->as_array()) {
            ++index;
            fn(element, "item " + std::to_string(index) + ": ");
        }
        return true;
    }

    // An array of strings; each element passes `check` (which returns an error text or "").
    template <typename Check>
    std::optional<std::vector<std::string>> strings(std::string_view key, Check check) const {
        std::vector<std::string> out;
        const bool present = for_each_item(
            key, "an array of strings", [&](const toml::node& element, const std::string& item) {
                if (!element.is_string()) {
                    fail_at(element, key,
                            item + "expected a string, got " + type_name(element.type()));
                }
                const std::string& s = element.as_string()->get();
                const std::string error = check(s);
                if (!error.empty()) {
                    fail_at(element, key, item + error);
                }
                out.push_back(s);
            });
        if (!present) {
            return std::nullopt;
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
    // The integer at `key`, nullopt when absent; anything else fails.
    std::optional<std::int64_t> integer(std::string_view key) const;

    const std::string& file_;
    const toml::table& table_;
    std::string label_;
    std::vector<std::string_view> known_;
};

// A size: a string such as "4G" or an integer number of bytes, at least `min` ("1M").
void read_size(const Section& s, std::string_view key, std::uint64_t min, std::uint64_t& out);
// `mode` = "enforce" | "report", in [milter] and in a [[tenant]].
void read_mode(const Section& s, MilterMode& out);
// "language": "en", "ja" or "en+ja" (both, Japanese first); [alerts] and [[tenant]].
void read_language(const Section& s, std::string& out);

// ---- sections (config_sections.cpp, config_tenant.cpp) ----

void read_store(const std::string& file, const toml::table& table, StoreConfig& out);
void read_log(const std::string& file, const toml::table& table, LogConfig& out);
void read_milter(const std::string& file, const toml::table& table, MilterConfig& out,
                 DecisionSettings& decision);
void read_sync(const std::string& file, const toml::table& table, SyncConfig& out);
void read_alerts(const std::string& file, const toml::table& table, AlertConfig& out);
void read_metrics(const std::string& file, const toml::table& table, MetricsConfig& out);
void read_postfix(const std::string& file, const toml::table& table, PostfixExportConfig& out);
// The [[tenant]] array (`node` is root["tenant"]) into cfg.tenants.
void read_tenants(const std::string& file, const toml::node& node, Config& cfg);

}  // namespace m365gate::config_detail
