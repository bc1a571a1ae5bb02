// common/credentials.cpp - credential files: the secret alone on one line, or TOML with secret
// and expires. No message built here ever holds a credential's secret: the parser names lines
// and keys only, and withholds toml++'s own description, which can quote the text it choked on.

#include "common/credentials.h"

#include <sys/stat.h>

#include <cstdio>

#include "common/config_internal.h"

namespace m365gate {

using namespace config_detail;

namespace {

constexpr std::size_t max_credential_bytes = 64u << 10;  // 64 KiB

// The line at `pos` (without its '\n'); `pos` moves past it.
std::string_view next_line(std::string_view text, std::size_t& pos) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
        end = text.size();
    }
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    return line;
}

std::string_view without_leading_blanks(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    return s;
}

// TOML form: some line reads `secret` [spaces] `=`.
bool looks_like_toml_credential(std::string_view text) {
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::string_view line = without_leading_blanks(next_line(text, pos));
        if (starts_with(line, "secret")) {
            line = without_leading_blanks(line.substr(6));
            if (!line.empty() && line.front() == '=') {
                return true;
            }
        }
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
        const std::string_view line = trimmed(next_line(text, pos));
        if (line.empty()) {
            continue;
        }
        if (secret_line != 0) {
            throw ConfigError(line_prefix(name, line_number) + "more than one non-empty line; " +
                              credential_forms);
        }
        secret_line = line_number;
        if (has_control(line)) {
            throw ConfigError(line_prefix(name, line_number) +
                              "the secret contains control characters");
        }
        out.secret = Secret(std::string(line));
    }
    if (out.secret.empty()) {
        throw ConfigError(name + ": credential file is empty; " + credential_forms);
    }
    return out;
}

// `expires`, whose text stays out of the message when it shares a piece of the secret.
std::optional<SysTime> read_expires(const toml::node& expires, const std::string& name,
                                    const Secret& secret) {
    const std::string at = line_prefix(name, line_of(expires)) + "expires: ";
    const auto date = read_date(expires, [&](const std::string& text) {
        return shares_secret_text(text, secret.reveal()) ? std::string("(withheld)")
                                                         : quote_value(text);
    });
    if (!date) {
        throw ConfigError(at + "expected a date or date-time, got " + type_name(expires.type()));
    }
    if (!date->time) {
        throw ConfigError(at + date->error);
    }
    return date->time;
}

Credential parse_toml_credential(std::string_view text, const std::string& name) {
    const toml::table root =
        parse_toml(text, name,
                   "not valid TOML (the parser's details are withheld: they could quote the "
                   "secret)");
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
        throw ConfigError(line_prefix(name, line_of(node)) +
                          (may_show ? key_text(key.str()) + ": " : std::string()) +
                          "unknown key (a credential file knows secret and expires)");
    }
    if (secret == nullptr) {
        throw ConfigError(name + ": missing required key secret");
    }
    const std::string where = line_prefix(name, line_of(*secret)) + "secret: ";
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
        out.expires = read_expires(*expires, name, out.secret);
    }
    return out;
}

}  // namespace

Credential parse_credential(std::string_view text, const std::string& name) {
    if (text.size() > max_credential_bytes) {
        fail_too_large(name, "credential file", max_credential_bytes);
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
