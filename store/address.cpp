// store/address.cpp - address canonicalisation (see address.h for the contract).
#include "store/address.h"

namespace m365gate::store {

std::string ascii_lower(std::string_view in) {
    std::string out(in);
    for (char& c : out) c = ascii_lower(c);
    return out;
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
    Address a;
    a.local = ascii_lower(raw.substr(0, at));
    a.domain = canonical_domain(raw.substr(at + 1));
    if (a.domain.empty()) return std::nullopt;
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
    if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
    return ascii_lower(domain);
}

}  // namespace m365gate::store
