// graphsim util: small helpers shared by the Graph simulator - the simulator clock, ISO 8601
// time, base64url, GUIDs, JSON string escaping, ASCII case folding, and the MAC that makes
// skip/delta tokens unforgeable. No HTTP and no tenant state here.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace graphsim {

// Seconds since the Unix epoch, UTC.
using UnixSeconds = std::int64_t;

// The simulator's clock: real time plus an offset, so a clock set by --now or POST /_sim/clock
// keeps ticking (tokens still expire). Thread-safe.
class SimClock {
public:
    UnixSeconds now() const;
    void set(UnixSeconds now);
    void advance(std::int64_t seconds) { offset_ += seconds; }

private:
    std::atomic<std::int64_t> offset_{0};
};

UnixSeconds real_now();
// Milliseconds since the epoch, real time (for the request record).
std::int64_t real_now_ms();

// "2027-11-01T00:00:00Z", also with fractional seconds and "+hh:mm"/"-hh:mm" offsets.
std::optional<UnixSeconds> parse_iso8601(std::string_view text);
// "2027-11-01T00:00:00Z"
std::string format_iso8601(UnixSeconds t);
// "2027-11-01 00:00:00Z" (Entra's error timestamp) when entra_style, else "2027-11-01T00:00:00"
// (Graph's innerError date).
std::string format_error_time(UnixSeconds t, bool entra_style);
// "2026-11-23T09:28:39.123Z"
std::string format_iso8601_ms(std::int64_t ms);

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// A random version 4 GUID, lower case.
std::string random_guid();
std::string random_bytes(std::size_t n);

// Appends s as a JSON string literal (with quotes). Assumes UTF-8 input; escapes controls.
void append_json_string(std::string& out, std::string_view s);
void append_uint(std::string& out, std::uint64_t value);

std::string ascii_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);

// HMAC-SHA256(key, data) truncated to 16 bytes.
std::string token_mac(std::string_view key, std::string_view data);

}  // namespace graphsim
