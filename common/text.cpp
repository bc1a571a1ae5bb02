// common/text.cpp - see text.h.
#include "common/text.h"

#include <algorithm>

namespace m365gate {

std::string printable(std::string_view in, std::size_t max_len) {
    std::string out;
    const std::string_view head = in.substr(0, max_len);
    out.reserve(head.size() + 3);
    for (unsigned char c : head) {
        out.push_back(c >= 0x20 && c < 0x7f ? char(c) : '?');
    }
    if (in.size() > max_len) {
        out += "...";
    }
    return out;
}

std::string log_value(std::string_view in, std::size_t max_len) {
    std::string value = printable(in, max_len);
    if (value.find_first_of(" \"=") == std::string::npos) {
        return value;
    }
    return quote_escaped(value);
}

std::string quote_escaped(std::string_view in) {
    std::string out = "\"";
    out.reserve(in.size() + 2);
    for (char c : in) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string ascii_lower(std::string_view in) {
    std::string out(in);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

bool is_ascii(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) { return (unsigned char)c < 0x80; });
}

bool is_ascii_printable(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u < 0x7f;
    });
}

std::size_t utf8_cut_point(std::string_view text, std::size_t pos, std::size_t floor) noexcept {
    std::size_t cut = std::min(pos, text.size());
    while (cut > floor && cut < text.size() &&
           (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) {
        --cut;
    }
    return cut;
}

}  // namespace m365gate
