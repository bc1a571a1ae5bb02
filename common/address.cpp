// common/address.cpp - address canonicalisation (see address.h for the contract).
#include "common/address.h"

#include <cstring>

#include "common/idna.h"

namespace m365gate {
namespace {

bool is_atext(unsigned char c) {
    if (c >= 0x80) {
        return true;  // RFC 6531 UTF8-non-ascii (not validated: bytes are compared as bytes)
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != '\0' && std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

// `"..."` with its quoted-pairs undone: `"a\lice"` -> `alice`. nullopt when `local` is not one
// well-formed quoted string (no closing quote, a bare quote inside, a trailing backslash).
std::optional<std::string> unquote(std::string_view local) {
    if (local.size() < 2 || local.front() != '"' || local.back() != '"') {
        return std::nullopt;
    }
    const std::string_view inner = local.substr(1, local.size() - 2);
    std::string out;
    out.reserve(inner.size());
    for (std::size_t i = 0; i < inner.size(); ++i) {
        char c = inner[i];
        if (c == '"') {
            return std::nullopt;
        }
        if (c == '\\') {
            if (++i == inner.size()) {
                return std::nullopt;  // the backslash escapes the closing quote
            }
            c = inner[i];
        }
        out.push_back(c);
    }
    return out;
}

// The canonical local part; sets `quoted` when it stays a quoted string.
std::string canonical_local(std::string_view local, bool& quoted) {
    quoted = false;
    auto content = unquote(local);
    if (!content) {
        return ascii_lower(local);  // plain (or malformed quoting: kept as bytes)
    }
    if (is_dot_atom(*content)) {
        return ascii_lower(*content);
    }
    quoted = true;
    std::string out = "\"";
    for (char c : *content) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(ascii_lower(c));
    }
    out.push_back('"');
    return out;
}

}  // namespace

bool is_dot_atom(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') {
        return false;
    }
    char previous = '\0';
    for (char c : s) {
        if (c == '.') {
            if (previous == '.') {
                return false;
            }
        } else if (!is_atext(static_cast<unsigned char>(c))) {
            return false;
        }
        previous = c;
    }
    return true;
}

std::optional<Address> parse_rcpt(std::string_view raw) {
    if (raw.size() > max_address_octets) return std::nullopt;
    for (char c : raw) {
        if (c == '\0' || c == '\r' || c == '\n') return std::nullopt;
    }
    while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
    if (!raw.empty() && raw.front() == '<') {
        if (raw.size() < 2 || raw.back() != '>') return std::nullopt;
        raw = raw.substr(1, raw.size() - 2);
    }
    if (!raw.empty() && raw.front() == '@') {  // source route "@a,@b:local@domain"
        const auto colon = raw.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        raw.remove_prefix(colon + 1);
    }
    const auto at = raw.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == raw.size()) return std::nullopt;
    auto domain = canonical_domain_name(raw.substr(at + 1));
    if (!domain) return std::nullopt;
    Address a;
    a.local = canonical_local(raw.substr(0, at), a.quoted);
    a.domain = std::move(*domain);
    if (a.local.size() + 1 + a.domain.size() > max_address_octets) {
        return std::nullopt;  // an A-label can be longer than the U-label it came from
    }
    return a;
}

std::string canonical_key(const Address& a) {
    std::string key;
    key.reserve(a.local.size() + 1 + a.domain.size());
    key.append(a.local).push_back('@');
    key.append(a.domain);
    return key;
}

std::optional<std::string> canonical_address(std::string_view raw) {
    const auto a = parse_rcpt(raw);
    if (!a) return std::nullopt;
    return canonical_key(*a);
}

std::string canonical_domain(std::string_view domain) {
    auto canonical = canonical_domain_name(domain);
    return canonical ? std::move(*canonical) : std::string();
}

}  // namespace m365gate
