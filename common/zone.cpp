// common/zone.cpp - IANA zones on date/tz.h (TZif files), the POSIX footer rule from date/ptz.h.
#include "common/zone.h"

#include <date/ptz.h>
#include <date/tz.h>
#include <date/tz_private.h>  // complete types that date::time_zone's destructor needs
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "common/time.h"

namespace m365gate {

struct TimeZone::Zone {
    std::unique_ptr<date::time_zone> tz;
    // The POSIX TZ rule at the end of a TZif v2+ file, for times after its last transition:
    // Debian's files list transitions up to 2037, and date's reader stops there.
    std::optional<Posix::time_zone> footer;
    date::sys_seconds footer_from;  // the last transition in the file
};

namespace {

constexpr std::size_t max_tzif_size = 1u << 20;
constexpr const char* default_zone_dir = "/usr/share/zoneinfo";

// "Asia/Tokyo", "Etc/GMT+9", "UTC": no absolute path, no "." or ".." component, no odd bytes.
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
    while (true) {
        const auto slash = name.find('/', start);
        const auto part =
            name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (part.empty() || part == "." || part == "..") {
            return false;
        }
        if (slash == std::string::npos) {
            return true;
        }
        start = slash + 1;
    }
}

std::string zone_dir() {
    const char* dir = std::getenv("TZDIR");
    return dir != nullptr && *dir == '/' ? dir : default_zone_dir;
}

// The bytes of a regular file, at most max_tzif_size; nullopt when it cannot be read.
std::optional<std::string> read_zone_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return std::nullopt;
    }
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        return std::nullopt;
    }
    std::string bytes(max_tzif_size, '\0');
    f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    bytes.resize(static_cast<std::size_t>(f.gcount()));
    return bytes;
}

// The footer of a TZif v2+ file: "\n<POSIX TZ string>\n" at its very end.
std::optional<Posix::time_zone> footer_rule(const std::string& tzif) {
    if (tzif.size() < 44 || tzif[4] < '2' || tzif.back() != '\n') {
        return std::nullopt;
    }
    const auto start = tzif.rfind('\n', tzif.size() - 2);
    if (start == std::string::npos || start + 2 >= tzif.size()) {
        return std::nullopt;
    }
    try {
        return Posix::time_zone(tzif.substr(start + 1, tzif.size() - start - 2));
    } catch (const std::exception&) {
        return std::nullopt;  // a rule ptz.h cannot read (e.g. negative hours): transitions only
    }
}

// date::time_zone opens get_tz_dir() + "/" + name, get_tz_dir() being fixed when Debian built
// libdate-tz (/usr/share/zoneinfo). Climbing to / first makes it open `path` itself, so
// $TZDIR is honoured by the same reader.
std::string name_for_date(const std::string& path) {
    std::string climb;
    for (int i = 0; i < 16; ++i) {
        climb += "../";
    }
    return climb + path.substr(1);
}

std::string two(int v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02d", v);
    return buf;
}

std::string offset_text(std::int32_t offset) {
    const char sign = offset < 0 ? '-' : '+';
    const std::int32_t a = offset < 0 ? -offset : offset;
    return std::string(1, sign) + two(a / 3600) + two(a / 60 % 60);
}

}  // namespace

TimeZone TimeZone::utc() { return TimeZone(); }

std::optional<TimeZone> TimeZone::load(const std::string& name) {
    if (!valid_zone_name(name)) {
        return std::nullopt;
    }
    const std::string path = zone_dir() + "/" + name;
    const auto bytes = read_zone_file(path);
    if (!bytes) {
        return name == "UTC" ? std::optional<TimeZone>(utc()) : std::nullopt;
    }
    if (bytes->compare(0, 4, "TZif") != 0) {
        return std::nullopt;
    }
    auto zone = std::make_shared<Zone>();
    try {
        zone->tz =
            std::make_unique<date::time_zone>(name_for_date(path), date::detail::undocumented{});
        zone->tz->get_info(date::sys_seconds{});  // reads and checks the file now, not later
    } catch (const std::exception&) {
        return std::nullopt;
    }
    zone->footer = footer_rule(*bytes);
    // date's last period runs to the year 32767; the footer rule takes over where it starts.
    zone->footer_from = zone->tz->get_info(date::sys_days(date::year(9999) / 1 / 1)).begin;
    TimeZone tz;
    tz.name_ = name;
    tz.zone_ = std::move(zone);
    return tz;
}

LocalTime TimeZone::to_local(std::int64_t unix_seconds) const {
    std::int32_t offset = 0;
    std::string abbreviation = "UTC";
    if (zone_) {
        const date::sys_seconds t{Seconds(unix_seconds)};
        date::sys_info info = zone_->tz->get_info(t);
        if (zone_->footer && t >= zone_->footer_from) {
            info = zone_->footer->get_info(t);
        }
        offset = static_cast<std::int32_t>(info.offset.count());
        abbreviation = info.abbrev.empty() ? offset_text(offset) : info.abbrev;
    }
    const Civil c = civil_from_unix(unix_seconds + offset);
    LocalTime lt;
    lt.year = c.year;
    lt.month = c.month;
    lt.day = c.day;
    lt.hour = c.hour;
    lt.minute = c.minute;
    lt.second = c.second;
    lt.weekday = c.weekday;
    lt.offset = offset;
    lt.abbreviation = std::move(abbreviation);
    return lt;
}

bool zone_exists(const std::string& name) { return TimeZone::load(name).has_value(); }

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
           two(lt.minute) + ":" + two(lt.second) + " " + offset_text(lt.offset);
}

}  // namespace m365gate
