// common/idna.cpp - domain canonical form (see idna.h for the contract).
#include "common/idna.h"

#include <idn2.h>

#include <cstdlib>
#include <memory>

#include "common/text.h"

namespace m365gate {
namespace {

struct FreeIdn2 {
    void operator()(char* p) const noexcept { idn2_free(p); }
};

void strip_trailing_dot(std::string_view& s) {
    if (!s.empty() && s.back() == '.') {
        s.remove_suffix(1);
    }
}

}  // namespace

std::optional<std::string> canonical_domain_name(std::string_view domain) {
    if (domain.size() > max_domain_input_octets) {
        return std::nullopt;
    }
    strip_trailing_dot(domain);
    if (domain.empty()) {
        return std::nullopt;
    }
    if (is_ascii(domain)) {
        return ascii_lower(domain);
    }
    // libidn2 wants a NUL-terminated string: an embedded NUL would cut the name short.
    if (domain.find('\0') != std::string_view::npos) {
        return std::nullopt;
    }
    const std::string input(domain);
    char* raw = nullptr;
    // Non-transitional UTS #46 processing: maps upper case and compatibility forms ("Ü" -> "ü",
    // U+3002 -> '.'), then the IDNA2008 checks; "ß" stays "ß" (xn--zca), as browsers do today.
    const int rc = idn2_to_ascii_8z(input.c_str(), &raw, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    const std::unique_ptr<char, FreeIdn2> owned(raw);
    if (rc != IDN2_OK || raw == nullptr) {
        return std::nullopt;
    }
    std::string_view out(raw);
    strip_trailing_dot(out);  // a mapped ideographic full stop can end the name
    if (out.empty() || !is_ascii(out)) {
        return std::nullopt;
    }
    return ascii_lower(out);
}

std::optional<std::string> unicode_domain_name(std::string_view canonical) {
    if (canonical.size() > max_domain_input_octets || !is_ascii(canonical) ||
        (canonical.rfind("xn--", 0) != 0 && canonical.find(".xn--") == std::string_view::npos)) {
        return std::nullopt;
    }
    const std::string input(canonical);
    char* raw = nullptr;
    const int rc = idn2_to_unicode_8z8z(input.c_str(), &raw, 0);
    const std::unique_ptr<char, FreeIdn2> owned(raw);
    if (rc != IDN2_OK || raw == nullptr || input == raw) {
        return std::nullopt;
    }
    // Round trip: only a form that canonicalises back to this domain is offered.
    const std::string out(raw);
    if (canonical_domain_name(out) != input) {
        return std::nullopt;
    }
    return out;
}

}  // namespace m365gate
