// tests/unit/time_test.cpp - common/time.h: durations, the ISO-8601 parser and the UTC printer
// that m365gate.toml, credential files, m365gatectl and the logs share.
#include "common/time.h"

#include <catch2/catch.hpp>

using namespace m365gate;
using namespace std::chrono_literals;

TEST_CASE("parse_duration takes one number and one unit", "[time]") {
    struct Case {
        const char* label;
        const char* text;
        long long want;  // -1: refused
    };
    const Case cases[] = {
        {"seconds", "30s", 30},
        {"minutes", "15m", 900},
        {"hours", "6h", 21600},
        {"days", "2d", 172800},
        {"weeks", "1w", 604800},
        {"zero is a duration (callers judge it)", "0s", 0},
        {"leading zero", "05m", 300},
        {"bare number", "300", -1},
        {"compound", "1h30m", -1},
        {"negative", "-5m", -1},
        {"space before unit", "5 m", -1},
        {"words", "5 minutes", -1},
        {"unit alone", "m", -1},
        {"empty", "", -1},
        {"upper-case unit", "5M", -1},
        {"fraction", "1.5h", -1},
        {"overflow in digits", "99999999999999999999s", -1},
        {"overflow in unit", "9223372036854775807w", -1},
        {"largest seconds", "9223372036854775807s", 9223372036854775807LL},
    };
    for (const auto& c : cases) {
        INFO(c.label << ": " << c.text);
        const auto got = parse_duration(c.text);
        if (c.want < 0) {
            CHECK_FALSE(got);
        } else {
            REQUIRE(got);
            CHECK(got->count() == c.want);
        }
    }
}

TEST_CASE("parse_datetime reads dates and offset date-times as UTC", "[time]") {
    struct Case {
        const char* label;
        const char* text;
        const char* want_utc;  // nullptr: refused
    };
    const Case cases[] = {
        {"date is midnight UTC", "2027-01-31", "2027-01-31T00:00:00Z"},
        {"UTC date-time", "2027-01-31T12:00:00Z", "2027-01-31T12:00:00Z"},
        {"east offset", "2027-01-31T21:00:00+09:00", "2027-01-31T12:00:00Z"},
        {"west offset crosses midnight", "2027-01-31T22:30:00-05:00", "2027-02-01T03:30:00Z"},
        {"lower-case z and t", "2027-01-31t12:00:00z", "2027-01-31T12:00:00Z"},
        {"space separator", "2027-01-31 12:00:00Z", "2027-01-31T12:00:00Z"},
        {"Graph fraction dropped", "2027-01-31T12:00:00.8930000Z", "2027-01-31T12:00:00Z"},
        {"leap day", "2028-02-29", "2028-02-29T00:00:00Z"},
        {"epoch", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
        {"before the epoch", "1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z"},
        {"no leap day in 2027", "2027-02-29", nullptr},
        {"no leap day in 2100", "2100-02-29", nullptr},
        {"month 13", "2027-13-01", nullptr},
        {"day 0", "2027-01-00", nullptr},
        {"hour 24", "2027-01-31T24:00:00Z", nullptr},
        {"no offset is ambiguous", "2027-01-31T12:00:00", nullptr},
        {"no seconds", "2027-01-31T12:00Z", nullptr},
        {"offset without colon", "2027-01-31T12:00:00+0900", nullptr},
        {"trailing junk", "2027-01-31x", nullptr},
        {"slashes", "2027/01/31", nullptr},
        {"short year", "27-01-31", nullptr},
        {"empty", "", nullptr},
        {"beyond what SysTime holds", "9999-12-31", nullptr},
        {"empty fraction", "2027-01-31T12:00:00.Z", nullptr},
    };
    for (const auto& c : cases) {
        INFO(c.label << ": " << c.text);
        const auto got = parse_datetime(c.text);
        if (c.want_utc == nullptr) {
            CHECK_FALSE(got);
        } else {
            REQUIRE(got);
            CHECK(format_datetime_utc(*got) == c.want_utc);
        }
    }
}

TEST_CASE("format_datetime_utc prints whole seconds, also before 1970", "[time]") {
    CHECK(format_datetime_utc(SysTime{}) == "1970-01-01T00:00:00Z");
    CHECK(format_datetime_utc(SysTime{} + 1500ms) == "1970-01-01T00:00:01Z");
    CHECK(format_datetime_utc(SysTime{} - 500ms) == "1969-12-31T23:59:59Z");
    CHECK(format_datetime_utc(SysTime{} + Seconds(1801353600)) == "2027-01-31T00:00:00Z");
}
