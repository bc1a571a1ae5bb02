// common/time.cpp - civil dates on date/date.h, the ISO-8601 parser and printer, durations.
#include "common/time.h"

#include <date/date.h>

#include <cstdio>
#include <limits>

namespace m365gate {
namespace {

constexpr int min_year = 1900;  // SysTime is int64 nanoseconds on libstdc++: 1677..2262
constexpr int max_year = 2261;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `pos`.
bool read_digits(std::string_view text, std::size_t& pos, std::size_t n, int& out) {
    if (pos + n > text.size()) {
        return false;
    }
    out = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (!is_digit(text[pos + i])) {
            return false;
        }
        out = out * 10 + (text[pos + i] - '0');
    }
    pos += n;
    return true;
}

bool read_char(std::string_view text, std::size_t& pos, char c) {
    if (pos < text.size() && text[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

// "HH:MM:SS[.fraction]" at `pos`; the fraction is skipped.
bool read_clock(std::string_view text, std::size_t& pos, int& h, int& mi, int& s) {
    if (!read_digits(text, pos, 2, h) || !read_char(text, pos, ':') ||
        !read_digits(text, pos, 2, mi) || !read_char(text, pos, ':') ||
        !read_digits(text, pos, 2, s)) {
        return false;
    }
    if (read_char(text, pos, '.')) {
        const std::size_t start = pos;
        while (pos < text.size() && is_digit(text[pos])) {
            ++pos;
        }
        return pos != start;
    }
    return true;
}

// "Z", "z", "+HH:MM" or "-HH:MM" at `pos` -> minutes east of UTC.
bool read_offset(std::string_view text, std::size_t& pos, int& minutes) {
    if (read_char(text, pos, 'Z') || read_char(text, pos, 'z')) {
        minutes = 0;
        return true;
    }
    const bool east = read_char(text, pos, '+');
    if (!east && !read_char(text, pos, '-')) {
        return false;
    }
    int oh = 0, om = 0;
    if (!read_digits(text, pos, 2, oh) || !read_char(text, pos, ':') ||
        !read_digits(text, pos, 2, om) || oh > 23 || om > 59) {
        return false;
    }
    minutes = (east ? 1 : -1) * (oh * 60 + om);
    return true;
}

}  // namespace

std::optional<SysTime> civil_time(int year, int month, int day, int hour, int minute, int second,
                                  int offset_minutes) {
    const date::year_month_day ymd{date::year(year), date::month(static_cast<unsigned>(month)),
                                   date::day(static_cast<unsigned>(day))};
    if (year < min_year || year > max_year || month < 1 || day < 1 || !ymd.ok() || hour < 0 ||
        hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 ||
        offset_minutes < -24 * 60 || offset_minutes > 24 * 60) {
        return std::nullopt;
    }
    const date::sys_seconds t = date::sys_days(ymd) + std::chrono::hours(hour) +
                                std::chrono::minutes(minute - offset_minutes) + Seconds(second);
    return SysTime(std::chrono::duration_cast<SysTime::duration>(t.time_since_epoch()));
}

Civil civil_from_unix(std::int64_t unix_seconds) {
    const date::sys_seconds t{Seconds(unix_seconds)};
    const date::sys_days days = date::floor<date::days>(t);
    const date::year_month_day ymd(days);
    const date::hh_mm_ss<Seconds> hms(t - days);
    Civil c;
    c.year = static_cast<int>(ymd.year());
    c.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
    c.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
    c.hour = static_cast<int>(hms.hours().count());
    c.minute = static_cast<int>(hms.minutes().count());
    c.second = static_cast<int>(hms.seconds().count());
    c.weekday = static_cast<int>(date::weekday(days).c_encoding());
    return c;
}

std::int64_t to_unix(SysTime t) { return date::floor<Seconds>(t.time_since_epoch()).count(); }

std::optional<SysTime> parse_datetime(std::string_view text) {
    std::size_t pos = 0;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, offset = 0;
    if (!read_digits(text, pos, 4, y) || !read_char(text, pos, '-') ||
        !read_digits(text, pos, 2, mo) || !read_char(text, pos, '-') ||
        !read_digits(text, pos, 2, d)) {
        return std::nullopt;
    }
    if (pos == text.size()) {
        return civil_time(y, mo, d, 0, 0, 0, 0);
    }
    if (!(read_char(text, pos, 'T') || read_char(text, pos, 't') || read_char(text, pos, ' ')) ||
        !read_clock(text, pos, h, mi, s) || !read_offset(text, pos, offset) || pos != text.size()) {
        return std::nullopt;  // no offset at all lands here too: refused, never guessed
    }
    return civil_time(y, mo, d, h, mi, s, offset);
}

std::optional<std::int64_t> parse_timestamp(std::string_view text) {
    if (const auto t = parse_datetime(text)) {
        return to_unix(*t);
    }
    return std::nullopt;
}

std::string format_utc(std::int64_t unix_seconds) {
    const Civil c = civil_from_unix(unix_seconds);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day,
                  c.hour, c.minute, c.second);
    return buffer;
}

std::string format_datetime_utc(SysTime t) { return format_utc(to_unix(t)); }

std::optional<Seconds> parse_duration(std::string_view text) {
    if (text.size() < 2) {
        return std::nullopt;
    }
    std::int64_t unit = 0;
    switch (text.back()) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        case 'w':
            unit = 7 * 86400;
            break;
        default:
            return std::nullopt;
    }
    constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
    std::int64_t n = 0;
    for (char c : text.substr(0, text.size() - 1)) {
        if (!is_digit(c) || n > (max - (c - '0')) / 10) {
            return std::nullopt;
        }
        n = n * 10 + (c - '0');
    }
    if (n > max / unit) {
        return std::nullopt;
    }
    return Seconds(n * unit);
}

}  // namespace m365gate
