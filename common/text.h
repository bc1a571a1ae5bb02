// common/text.h - small text rules every part shares: what is safe to show from hostile input,
// how a value is quoted in a key=value log, and where UTF-8 text may be cut.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace m365gate {

// For logs: bytes outside printable ASCII become '?', length capped (input is hostile).
std::string printable(std::string_view in, std::size_t max_len = 320);

// For key=value logs: printable(), and the value quoted when it holds a space, '"' or '='.
std::string log_value(std::string_view in, std::size_t max_len = 320);

// ASCII letters lowered, every other byte as it is (addresses, domains, header names).
inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
std::string ascii_lower(std::string_view in);

// `in` between double quotes, with '"' and '\\' escaped by a backslash (a TOML basic string
// or a quoted log value; the caller makes sure nothing else needs escaping).
std::string quote_escaped(std::string_view in);

// Every byte below 0x80.
bool is_ascii(std::string_view s) noexcept;

// Every byte printable ASCII (0x20-0x7e).
bool is_ascii_printable(std::string_view s) noexcept;

// The largest position <= `pos` (and <= text.size()) that does not fall inside a UTF-8
// sequence: cutting there never splits a character. Stops at `floor` (a line or chunk start),
// so a run of continuation bytes cannot move the cut before it.
std::size_t utf8_cut_point(std::string_view text, std::size_t pos, std::size_t floor = 0) noexcept;

}  // namespace m365gate
