// sync/alert_time.cpp - TZif reader and POSIX TZ rules (RFC 8536), civil-date arithmetic.
#include "sync/alert_time.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace m365gate::sync {
namespace {

constexpr std::int64_t day_seconds = 86400;
constexpr std::size_t max_tzif_size = 1u << 20;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, int m, int d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civil_from_days(std::int64_t z, int& year, int& month, int& day) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
    month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
    year = static_cast<int>(yoe + era * 400 + (month <= 2 ? 1 : 0));
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(std::int64_t y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

// Local midnight (as seconds since the epoch, no offset applied) of a rule date in year y.
std::int64_t rule_day(const TimeZone::Rule::Date& d, std::int64_t y) {
    if (d.kind == 'J') {  // 1..365, February 29 never counted
        std::int64_t n = d.day - 1;
        if (is_leap(y) && d.day >= 60) {
            n += 1;
        }
        return (days_from_civil(y, 1, 1) + n) * day_seconds;
    }
    if (d.kind == 'D') {  // 0..365, February 29 counted
        return (days_from_civil(y, 1, 1) + d.day) * day_seconds;
    }
    const std::int64_t first = days_from_civil(y, d.month, 1);
    const int first_weekday = static_cast<int>(((first % 7) + 11) % 7);  // 1970-01-01: Thursday
    int mday = 1 + (d.weekday - first_weekday + 7) % 7 + (d.week - 1) * 7;
    while (mday > days_in_month(y, d.month)) {
        mday -= 7;
    }
    return (first + mday - 1) * day_seconds;
}

class RuleParser {
public:
    explicit RuleParser(std::string_view s) : s_(s) {}

    std::optional<TimeZone::Rule> parse() {
        TimeZone::Rule r;
        if (!name(r.standard.abbreviation) || !offset(r.standard.offset, true)) {
            return std::nullopt;
        }
        if (at_end()) {
            return r;
        }
        TimeZone::Type dst;
        dst.dst = true;
        if (!name(dst.abbreviation)) {
            return std::nullopt;
        }
        dst.offset = r.standard.offset + 3600;
        if (!at_end() && peek() != ',' && !offset(dst.offset, true)) {
            return std::nullopt;
        }
        r.daylight = dst;
        if (at_end()) {  // POSIX leaves the default rule to the implementation: US rules
            r.start = {'M', 3, 2, 0, 0, 7200};
            r.end = {'M', 11, 1, 0, 0, 7200};
            return r;
        }
        if (!take(',') || !date(r.start) || !take(',') || !date(r.end) || !at_end()) {
            return std::nullopt;
        }
        return r;
    }

private:
    bool at_end() const { return i_ >= s_.size(); }
    char peek() const { return at_end() ? '\0' : s_[i_]; }
    bool take(char c) {
        if (peek() != c) {
            return false;
        }
        ++i_;
        return true;
    }
    bool number(int& out, int max) {
        if (!(peek() >= '0' && peek() <= '9')) {
            return false;
        }
        out = 0;
        while (peek() >= '0' && peek() <= '9') {
            out = out * 10 + (s_[i_++] - '0');
            if (out > max) {
                return false;
            }
        }
        return true;
    }
    bool name(std::string& out) {
        out.clear();
        if (take('<')) {
            while (!at_end() && peek() != '>') {
                out.push_back(s_[i_++]);
            }
            return take('>') && !out.empty();
        }
        while ((peek() >= 'A' && peek() <= 'Z') || (peek() >= 'a' && peek() <= 'z')) {
            out.push_back(s_[i_++]);
        }
        return out.size() >= 3;
    }
    // [+-]hh[:mm[:ss]]; POSIX offsets count west of UTC, so `posix_sign` flips the sign.
    bool clock(std::int32_t& out, int max_hours) {
        int sign = 1;
        if (take('-')) {
            sign = -1;
        } else {
            take('+');
        }
        int h = 0, m = 0, sec = 0;
        if (!number(h, max_hours)) {
            return false;
        }
        if (take(':') && (!number(m, 59) || (take(':') && !number(sec, 59)))) {
            return false;
        }
        out = sign * (h * 3600 + m * 60 + sec);
        return true;
    }
    bool offset(std::int32_t& out, bool posix_sign) {
        std::int32_t v = 0;
        if (!clock(v, 24)) {
            return false;
        }
        out = posix_sign ? -v : v;
        return true;
    }
    bool date(TimeZone::Rule::Date& d) {
        if (take('M')) {
            d.kind = 'M';
            if (!number(d.month, 12) || d.month < 1 || !take('.') || !number(d.week, 5) ||
                d.week < 1 || !take('.') || !number(d.weekday, 6)) {
                return false;
            }
        } else if (take('J')) {
            d.kind = 'J';
            if (!number(d.day, 365) || d.day < 1) {
                return false;
            }
        } else {
            d.kind = 'D';
            if (!number(d.day, 365)) {
                return false;
            }
        }
        d.time = 7200;
        if (take('/')) {
            return clock(d.time, 167);  // RFC 8536 extension: -167..167 hours
        }
        return true;
    }

    std::string_view s_;
    std::size_t i_ = 0;
};

class Bytes {
public:
    explicit Bytes(std::string_view b) : b_(b) {}
    bool skip(std::size_t n) {
        if (b_.size() - pos_ < n) {
            return false;
        }
        pos_ += n;
        return true;
    }
    bool be(std::size_t n, std::int64_t& out) {  // big-endian two's complement, n = 4 or 8
        if (b_.size() - pos_ < n) {
            return false;
        }
        std::uint64_t v = 0;
        for (std::size_t k = 0; k < n; ++k) {
            v = (v << 8) | static_cast<unsigned char>(b_[pos_ + k]);
        }
        pos_ += n;
        if (n == 4) {
            out = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
        } else {
            out = static_cast<std::int64_t>(v);
        }
        return true;
    }
    bool byte(unsigned char& out) {
        if (pos_ >= b_.size()) {
            return false;
        }
        out = static_cast<unsigned char>(b_[pos_++]);
        return true;
    }
    std::string_view rest() const { return b_.substr(pos_); }
    std::string_view take(std::size_t n) {
        const auto v = b_.substr(pos_, n);
        pos_ += v.size();
        return v;
    }

private:
    std::string_view b_;
    std::size_t pos_ = 0;
};

struct Counts {
    std::int64_t isut = 0, isstd = 0, leap = 0, time = 0, type = 0, chars = 0;
};

bool read_header(Bytes& in, int& version, Counts& c) {
    const auto magic = in.take(4);
    unsigned char v = 0;
    if (magic != "TZif" || !in.byte(v) || !in.skip(15)) {
        return false;
    }
    version = v == 0 ? 1 : v - '0';
    if (!in.be(4, c.isut) || !in.be(4, c.isstd) || !in.be(4, c.leap) || !in.be(4, c.time) ||
        !in.be(4, c.type) || !in.be(4, c.chars)) {
        return false;
    }
    return c.type >= 1 && c.type <= 256 && c.time >= 0 && c.time <= 100000 && c.chars >= 1 &&
           c.chars <= 65536 && c.leap >= 0 && c.leap <= 10000 && c.isut >= 0 && c.isstd >= 0 &&
           c.isut <= c.type && c.isstd <= c.type;
}

std::size_t data_size(const Counts& c, std::size_t time_size) {
    return static_cast<std::size_t>(c.time) * (time_size + 1) + c.type * 6 + c.chars +
           c.leap * (time_size + 4) + c.isstd + c.isut;
}

bool valid_zone_name(const std::string& name) {
    if (name.empty() || name.size() > 255 || name.front() == '/') {
        return false;
    }
    for (char ch : name) {
        const bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                        (ch >= '0' && ch <= '9') || ch == '/' || ch == '_' || ch == '-' ||
                        ch == '+' || ch == '.';
        if (!ok) {
            return false;
        }
    }
    std::size_t start = 0;
    while (start <= name.size()) {
        const auto slash = name.find('/', start);
        const auto part =
            name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (part.empty() || part == "." || part == "..") {
            return false;
        }
        if (slash == std::string::npos) {
            break;
        }
        start = slash + 1;
    }
    return true;
}

std::string two(int v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02d", v);
    return buf;
}

std::string offset_text(std::int32_t offset, bool colon) {
    const char sign = offset < 0 ? '-' : '+';
    const std::int32_t a = offset < 0 ? -offset : offset;
    return std::string(1, sign) + two(a / 3600) + (colon ? ":" : "") + two(a / 60 % 60);
}

}  // namespace

TimeZone TimeZone::utc() {
    TimeZone tz;
    tz.name_ = "UTC";
    tz.types_.push_back({0, false, "UTC"});
    return tz;
}

std::optional<TimeZone::Rule> TimeZone::parse_rule(std::string_view posix_tz) {
    return RuleParser(posix_tz).parse();
}

std::optional<TimeZone> TimeZone::parse(std::string_view tzif, const std::string& name) {
    Bytes in(tzif);
    int version = 0;
    Counts c;
    if (!read_header(in, version, c)) {
        return std::nullopt;
    }
    std::size_t time_size = 4;
    if (version >= 2) {  // skip the 32-bit block; the 64-bit one follows with its own header
        if (!in.skip(data_size(c, 4)) || !read_header(in, version, c)) {
            return std::nullopt;
        }
        time_size = 8;
    }
    TimeZone tz;
    tz.name_ = name;
    std::vector<std::int64_t> times(static_cast<std::size_t>(c.time));
    for (auto& t : times) {
        if (!in.be(time_size, t)) {
            return std::nullopt;
        }
    }
    for (std::size_t k = 0; k < times.size(); ++k) {
        unsigned char idx = 0;
        if (!in.byte(idx) || idx >= c.type) {
            return std::nullopt;
        }
        tz.transitions_.push_back({times[k], idx});
    }
    std::vector<unsigned char> abbr_index;
    for (std::int64_t k = 0; k < c.type; ++k) {
        std::int64_t off = 0;
        unsigned char dst = 0, ai = 0;
        if (!in.be(4, off) || !in.byte(dst) || !in.byte(ai) || off < -25 * 3600 ||
            off > 26 * 3600) {
            return std::nullopt;
        }
        tz.types_.push_back({static_cast<std::int32_t>(off), dst != 0, {}});
        abbr_index.push_back(ai);
    }
    const std::string_view chars = in.take(static_cast<std::size_t>(c.chars));
    if (chars.size() != static_cast<std::size_t>(c.chars)) {
        return std::nullopt;
    }
    for (std::size_t k = 0; k < tz.types_.size(); ++k) {
        if (abbr_index[k] >= chars.size()) {
            return std::nullopt;
        }
        const auto rest = chars.substr(abbr_index[k]);
        tz.types_[k].abbreviation = std::string(rest.substr(0, rest.find('\0')));
    }
    if (!in.skip(static_cast<std::size_t>(c.leap) * (time_size + 4) + c.isstd + c.isut)) {
        return std::nullopt;
    }
    if (version >= 2) {
        const auto footer = in.rest();
        if (footer.size() >= 2 && footer.front() == '\n') {
            const auto end = footer.find('\n', 1);
            if (end != std::string_view::npos && end > 1) {
                tz.footer_ = parse_rule(footer.substr(1, end - 1));
            }
        }
    }
    return tz;
}

std::optional<TimeZone> TimeZone::load(const std::string& name) {
    if (!valid_zone_name(name)) {
        return std::nullopt;
    }
    const char* dir = std::getenv("TZDIR");
    const std::string path =
        std::string(dir != nullptr && *dir == '/' ? dir : "/usr/share/zoneinfo") + "/" + name;
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        return name == "UTC" ? std::optional<TimeZone>(utc()) : std::nullopt;
    }
    std::string bytes;
    bytes.resize(max_tzif_size);
    f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<std::size_t>(f.gcount()));
    return parse(bytes, name);
}

TimeZone::Type TimeZone::type_at(std::int64_t t) const {
    if (transitions_.empty() || t >= transitions_.back().at) {
        if (footer_) {
            const Rule& r = *footer_;
            if (!r.daylight) {
                return r.standard;
            }
            int y = 0, m = 0, d = 0;
            civil_from_days(floor_div(t + r.standard.offset, day_seconds), y, m, d);
            const std::int64_t start = rule_day(r.start, y) + r.start.time - r.standard.offset;
            const std::int64_t end = rule_day(r.end, y) + r.end.time - r.daylight->offset;
            const bool in_dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
            return in_dst ? *r.daylight : r.standard;
        }
        if (!transitions_.empty()) {
            return types_[transitions_.back().type];
        }
    }
    if (transitions_.empty() || t < transitions_.front().at) {
        for (const auto& type : types_) {  // before the first transition: first standard type
            if (!type.dst) {
                return type;
            }
        }
        return types_.front();
    }
    const auto it =
        std::upper_bound(transitions_.begin(), transitions_.end(), t,
                         [](std::int64_t v, const Transition& tr) { return v < tr.at; });
    return types_[std::prev(it)->type];
}

LocalTime TimeZone::to_local(std::int64_t unix_seconds) const {
    const Type type = type_at(unix_seconds);
    const std::int64_t local = unix_seconds + type.offset;
    const std::int64_t days = floor_div(local, day_seconds);
    const std::int64_t secs = local - days * day_seconds;
    LocalTime lt;
    civil_from_days(days, lt.year, lt.month, lt.day);
    lt.hour = static_cast<int>(secs / 3600);
    lt.minute = static_cast<int>(secs / 60 % 60);
    lt.second = static_cast<int>(secs % 60);
    lt.weekday = static_cast<int>(((days % 7) + 11) % 7);
    lt.offset = type.offset;
    lt.abbreviation =
        type.abbreviation.empty() ? offset_text(type.offset, false) : type.abbreviation;
    return lt;
}

std::string format_local(const TimeZone& tz, std::int64_t unix_seconds) {
    const LocalTime lt = tz.to_local(unix_seconds);
    std::string out = std::to_string(lt.year) + "-" + two(lt.month) + "-" + two(lt.day) + " " +
                      two(lt.hour) + ":" + two(lt.minute) + " " + lt.abbreviation;
    if (tz.name() != lt.abbreviation) {
        out += " (" + tz.name() + ")";
    }
    return out;
}

std::string format_rfc5322(const TimeZone& tz, std::int64_t unix_seconds) {
    static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const LocalTime lt = tz.to_local(unix_seconds);
    return std::string(days[lt.weekday]) + ", " + std::to_string(lt.day) + " " +
           months[lt.month - 1] + " " + std::to_string(lt.year) + " " + two(lt.hour) + ":" +
           two(lt.minute) + ":" + two(lt.second) + " " + offset_text(lt.offset, false);
}

std::string format_utc_iso(std::int64_t unix_seconds) {
    const LocalTime lt = TimeZone::utc().to_local(unix_seconds);
    return std::to_string(lt.year) + "-" + two(lt.month) + "-" + two(lt.day) + "T" + two(lt.hour) +
           ":" + two(lt.minute) + ":" + two(lt.second) + "Z";
}

}  // namespace m365gate::sync
