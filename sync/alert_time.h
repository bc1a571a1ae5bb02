// sync/alert_time.h - wall-clock time in an IANA zone (alerts.timezone) for alert texts.
//
// localtime_r() follows the process-wide TZ variable; switching it with setenv("TZ") + tzset()
// while spdlog formats a timestamp or libcurl reads the environment on another thread is a
// data race, and a mutex around our own calls does not cover theirs. So this module reads the
// zone's TZif file (RFC 8536) from the TZ database itself and converts by hand: transitions
// from the file, the POSIX TZ footer rule after the last one. Loading reads one file; every
// other function is pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace m365gate::sync {

struct LocalTime {
    int year = 1970;
    int month = 1;  // 1..12
    int day = 1;    // 1..31
    int hour = 0;
    int minute = 0;
    int second = 0;
    int weekday = 4;           // 0 = Sunday
    std::int32_t offset = 0;   // seconds east of UTC
    std::string abbreviation;  // "JST", "CET", "+0330"
};

class TimeZone {
public:
    static TimeZone utc();
    // $TZDIR (default /usr/share/zoneinfo) + "/" + name. nullopt: a name that is not a plain
    // relative zone name ("Asia/Tokyo"), a missing file, or a malformed one.
    static std::optional<TimeZone> load(const std::string& name);
    // From the bytes of a TZif file (tests, fuzzing).
    static std::optional<TimeZone> parse(std::string_view tzif, const std::string& name);

    const std::string& name() const noexcept { return name_; }
    LocalTime to_local(std::int64_t unix_seconds) const;

    struct Type {
        std::int32_t offset = 0;
        bool dst = false;
        std::string abbreviation;
    };
    // A POSIX TZ string such as "CET-1CEST,M3.5.0,M10.5.0/3" (the TZif footer).
    struct Rule {
        Type standard;
        std::optional<Type> daylight;
        // Start and end of daylight time: kind 'M' (month.week.weekday), 'J' (1..365, no
        // Feb 29) or 'D' (0..365); seconds after local midnight.
        struct Date {
            char kind = 'M';
            int month = 0, week = 0, weekday = 0, day = 0;
            std::int32_t time = 7200;
        };
        Date start, end;
    };
    static std::optional<Rule> parse_rule(std::string_view posix_tz);

private:
    struct Transition {
        std::int64_t at = 0;
        std::size_t type = 0;
    };
    Type type_at(std::int64_t unix_seconds) const;

    std::string name_;
    std::vector<Transition> transitions_;
    std::vector<Type> types_;
    std::optional<Rule> footer_;
};

// "2027-01-31 09:00 JST (Asia/Tokyo)"; UTC gives "2027-01-31 00:00 UTC".
std::string format_local(const TimeZone& tz, std::int64_t unix_seconds);
// RFC 5322 date-time in the zone: "Sun, 31 Jan 2027 09:00:00 +0900".
std::string format_rfc5322(const TimeZone& tz, std::int64_t unix_seconds);
// "2027-01-31T00:00:00Z".
std::string format_utc_iso(std::int64_t unix_seconds);

}  // namespace m365gate::sync
