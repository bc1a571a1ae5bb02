// graphsim util: clock, time formats, base64url, GUIDs, JSON escaping, token MAC.
#include "util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace graphsim {

UnixSeconds real_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t real_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

UnixSeconds SimClock::now() const { return real_now() + offset_.load(); }

void SimClock::set(UnixSeconds now) { offset_ = now - real_now(); }

namespace {

bool read_digits(std::string_view text, std::size_t& pos, std::size_t count, int& value) {
    if (pos + count > text.size()) {
        return false;
    }
    value = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const char c = text[pos + i];
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (c - '0');
    }
    pos += count;
    return true;
}

bool expect_char(std::string_view text, std::size_t& pos, char c) {
    if (pos < text.size() && text[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

}  // namespace

std::optional<UnixSeconds> parse_iso8601(std::string_view text) {
    std::size_t pos = 0;
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!read_digits(text, pos, 4, year) || !expect_char(text, pos, '-') ||
        !read_digits(text, pos, 2, month) || !expect_char(text, pos, '-') ||
        !read_digits(text, pos, 2, day)) {
        return std::nullopt;
    }
    if (pos < text.size()) {
        if (!expect_char(text, pos, 'T') && !expect_char(text, pos, 't') &&
            !expect_char(text, pos, ' ')) {
            return std::nullopt;
        }
        if (!read_digits(text, pos, 2, hour) || !expect_char(text, pos, ':') ||
            !read_digits(text, pos, 2, minute) || !expect_char(text, pos, ':') ||
            !read_digits(text, pos, 2, second)) {
            return std::nullopt;
        }
        if (expect_char(text, pos, '.')) {
            while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
                ++pos;
            }
        }
    }
    std::int64_t offset = 0;
    if (pos < text.size()) {
        if (text[pos] == 'Z' || text[pos] == 'z') {
            ++pos;
        } else if (text[pos] == '+' || text[pos] == '-') {
            const int sign = text[pos] == '-' ? -1 : 1;
            ++pos;
            int oh = 0, om = 0;
            if (!read_digits(text, pos, 2, oh) || !expect_char(text, pos, ':') ||
                !read_digits(text, pos, 2, om)) {
                return std::nullopt;
            }
            offset = sign * (oh * 3600 + om * 60);
        }
    }
    if (pos != text.size() || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
        minute > 59 || second > 60) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return static_cast<UnixSeconds>(timegm(&tm)) - offset;
}

namespace {

std::tm utc_fields(UnixSeconds t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    return tm;
}

// "YYYY-MM-DD" + separator + "hh:mm:ss" + suffix
std::string format_time(UnixSeconds t, char separator, const char* suffix) {
    const std::tm tm = utc_fields(t);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d%c%02d:%02d:%02d%s", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, separator, tm.tm_hour, tm.tm_min, tm.tm_sec, suffix);
    return buf;
}

}  // namespace

std::string format_iso8601(UnixSeconds t) { return format_time(t, 'T', "Z"); }

std::string format_error_time(UnixSeconds t, bool entra_style) {
    return entra_style ? format_time(t, ' ', "Z") : format_time(t, 'T', "");
}

std::string format_iso8601_ms(std::int64_t ms) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03dZ", static_cast<int>(ms % 1000));
    return format_time(ms / 1000, 'T', buf);
}

namespace {
constexpr char base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                                (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) |
                                std::uint8_t(bytes[i + 2]);
        out.push_back(base64url_alphabet[(v >> 18) & 63]);
        out.push_back(base64url_alphabet[(v >> 12) & 63]);
        out.push_back(base64url_alphabet[(v >> 6) & 63]);
        out.push_back(base64url_alphabet[v & 63]);
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t v = std::uint32_t(std::uint8_t(bytes[i])) << 16;
        out.push_back(base64url_alphabet[(v >> 18) & 63]);
        out.push_back(base64url_alphabet[(v >> 12) & 63]);
    } else if (rest == 2) {
        const std::uint32_t v = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                                (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8);
        out.push_back(base64url_alphabet[(v >> 18) & 63]);
        out.push_back(base64url_alphabet[(v >> 12) & 63]);
        out.push_back(base64url_alphabet[(v >> 6) & 63]);
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    auto value_of = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        if (c == '-') {
            return 62;
        }
        if (c == '_') {
            return 63;
        }
        return -1;
    };
    if (text.size() % 4 == 1) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        const int v = value_of(c);
        if (v < 0) {
            return std::nullopt;
        }
        acc = (acc << 6) | std::uint32_t(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(char((acc >> bits) & 0xff));
        }
    }
    return out;
}

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        throw std::runtime_error("RAND_bytes failed");
    }
    return out;
}

std::string random_guid() {
    std::string b = random_bytes(16);
    b[6] = char((std::uint8_t(b[6]) & 0x0f) | 0x40);
    b[8] = char((std::uint8_t(b[8]) & 0x3f) | 0x80);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out.push_back('-');
        }
        out.push_back(hex[std::uint8_t(b[i]) >> 4]);
        out.push_back(hex[std::uint8_t(b[i]) & 15]);
    }
    return out;
}

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 15]);
                } else {
                    out.push_back(ch);
                }
        }
    }
    out.push_back('"');
}

void append_uint(std::string& out, std::uint64_t value) {
    char buf[24];
    const auto result = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, result.ptr);
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = char(c - 'A' + 'a');
        }
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string token_mac(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
    return std::string(reinterpret_cast<const char*>(md), 16);
}

}  // namespace graphsim
