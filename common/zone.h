// common/zone.h - wall-clock time in an IANA zone (alerts.timezone), on date/tz.h.
//
// localtime_r() follows the process-wide TZ variable; switching it with setenv("TZ") + tzset()
// while spdlog formats a timestamp or libcurl reads the environment on another thread is a
// data race. So zones come from Howard Hinnant's date/tz.h (the C++20 <chrono> zone API for
// C++17; Debian's libdate-tz reads the system's TZif files). The zone directory is $TZDIR when
// it is an absolute path, else /usr/share/zoneinfo: zone_exists() (config validation) and
// TimeZone::load() (the alerts) look in the same place the same way. Loading reads one file;
// every other function is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace date {
class time_zone;
}

namespace m365gate {

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
    // The zone directory + "/" + name. nullopt: a name that is not a plain relative zone name
    // ("Asia/Tokyo"), a missing file, or one that is not a TZif file. "UTC" always loads.
    static std::optional<TimeZone> load(const std::string& name);

    const std::string& name() const noexcept { return name_; }
    LocalTime to_local(std::int64_t unix_seconds) const;

private:
    struct Zone;
    std::string name_ = "UTC";
    std::shared_ptr<const Zone> zone_;  // null: UTC
};

// True when TimeZone::load(name) succeeds.
bool zone_exists(const std::string& name);

// "2027-01-31 09:00 JST (Asia/Tokyo)"; UTC gives "2027-01-31 00:00 UTC".
std::string format_local(const TimeZone& tz, std::int64_t unix_seconds);
// RFC 5322 date-time in the zone: "Sun, 31 Jan 2027 09:00:00 +0900".
std::string format_rfc5322(const TimeZone& tz, std::int64_t unix_seconds);

}  // namespace m365gate
