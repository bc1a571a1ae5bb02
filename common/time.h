// common/time.h - the one time layer: civil dates, ISO-8601 in and out, durations, the clock.
//
// Every m365gate program reads and prints time through here, so a date means the same thing in
// m365gate.toml, a credential file, `m365gatectl secret set --expires`, `report --since`, the
// rejection log and an alert. One rule for a date-time without an offset: it is refused, never
// taken as UTC or as the server's zone ("2027-01-31T12:00:00" could be either; a bare date is
// midnight UTC). Pure and thread-safe, no TZ, no locale; time zones are in common/zone.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace m365gate {

using Seconds = std::chrono::seconds;
using SysTime = std::chrono::system_clock::time_point;

// ---- civil dates (proleptic Gregorian, UTC) ---------------------------------------------

struct Civil {
    int year = 1970;
    int month = 1;  // 1..12
    int day = 1;    // 1..31
    int hour = 0;
    int minute = 0;
    int second = 0;
    int weekday = 4;  // 0 = Sunday
};

// A UTC time point from civil fields and an offset east of UTC in minutes; nullopt when a
// field is out of range (February 30, hour 24, an offset beyond +-24 h) or the year is
// outside 1900..2261 (what SysTime holds on libstdc++, with room to spare).
std::optional<SysTime> civil_time(int year, int month, int day, int hour, int minute, int second,
                                  int offset_minutes);
// Unix seconds -> the civil fields in UTC, also before 1970.
Civil civil_from_unix(std::int64_t unix_seconds);
std::int64_t to_unix(SysTime t);  // whole seconds, rounded down (also before 1970)

// ---- ISO 8601 / RFC 3339 ----------------------------------------------------------------

// "2027-01-31" (midnight UTC), "2027-01-31T12:00:00Z", "2027-01-31T21:00:00+09:00",
// "2027-01-31 12:00:00.893Z" (fractions dropped, 't'/'z' accepted) -> UTC time point.
// Refused: a date-time without an offset, an offset without a colon, an impossible date.
std::optional<SysTime> parse_datetime(std::string_view text);
// The same rule, as Unix seconds.
std::optional<std::int64_t> parse_timestamp(std::string_view text);

// "2027-01-31T12:00:00Z", the only way m365gate prints a UTC time.
std::string format_utc(std::int64_t unix_seconds);
std::string format_datetime_utc(SysTime t);  // the same, whole seconds rounded down

// ---- durations --------------------------------------------------------------------------

// "30s", "15m", "6h", "2d", "1w" -> seconds. Bare numbers, "1h30m", "-5m", overflow -> nullopt.
std::optional<Seconds> parse_duration(std::string_view text);

// ---- the clock --------------------------------------------------------------------------

// Unix seconds now, from the system clock. Only a build configured with M365GATE_TEST_CLOCK=ON
// (the test builds, never a shipped one) lets M365GATE_TEST_NOW (Unix seconds) override it, so
// that tests of staleness, expiry and alerts need not wait.
std::int64_t now_seconds();

}  // namespace m365gate
