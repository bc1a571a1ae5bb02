// ctl/report.h - the parts of `m365gatectl report` (ctl.h has run_report()): reading the
// rejection log into a Tally (report_read.cpp), and writing the Tally as text
// (report_text.cpp), JSON or CSV (report_data.cpp) or one self-contained HTML page
// (report_html.cpp).
//
// Everything in a Tally came from the log, and the log came from SMTP clients: every writer
// escapes for its own edge (printable() for a terminal, csv_field(), html_escape()).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctl/ctl.h"

namespace m365gate::ctl::report {

using CountMap = std::map<std::string, std::uint64_t>;
using Ranked = std::vector<std::pair<std::string, std::uint64_t>>;

// The counts kept for all tenants together and again for each tenant.
struct Breakdown {
    std::uint64_t events = 0;
    CountMap by_action;
    CountMap by_reason;
    CountMap by_domain;  // recipient domain
    CountMap senders;
    CountMap sender_domains;
    CountMap clients;  // client_addr, every reason
};

struct RecipientCount {
    std::uint64_t count = 0;
    std::set<std::string> reasons;
};

// A client that sent unknown recipients: how many, and how many different ones.
struct ClientCount {
    std::uint64_t count = 0;
    std::set<std::string> recipients;
};

// A client (client_key: an IPv4 address or an IPv6 /64) that crossed the harvest threshold.
struct HarvestClient {
    std::uint64_t crossings = 0;
    std::int64_t first = 0;
    std::int64_t last = 0;
    std::string addr;      // the address of the last crossing
    std::string name;      // its client name, when known
    std::string response;  // of the last crossing: "report", "450", "421"
};

struct Tally {
    std::uint64_t lines = 0;
    std::uint64_t malformed = 0;
    std::uint64_t outside = 0;        // before --since or at/after --until
    std::uint64_t other_tenants = 0;  // not one of --tenant
    std::int64_t first = 0;           // first and last event, 0 when none
    std::int64_t last = 0;
    Breakdown all;
    std::map<std::string, Breakdown> per_tenant;  // "(none)" for an event without a tenant
    std::map<std::string, RecipientCount> recipients;
    std::map<std::string, ClientCount> unknown_clients;  // client_addr -> unknown recipients
    std::map<std::string, std::string> client_names;     // client_addr -> last name seen
    std::map<std::int64_t, std::uint64_t> per_hour;      // hour start (Unix) -> count
    std::map<std::string, HarvestClient> harvest;        // client_key -> crossings
};

// Reads one log line into the tally; false when the line is malformed (the caller counts it).
bool add_line(const std::string& line, const ReportOptions& options, Tally& tally);

// Highest count first; equal counts keep the map's (alphabetical) order.
Ranked ranked(const CountMap& counts);
Ranked ranked_by_tenant(const Tally& tally);  // tenant -> events
Ranked ranked_recipients(const Tally& tally);
Ranked ranked_unknown_clients(const Tally& tally);
Ranked ranked_harvest(const Tally& tally);
// The name last seen for a client address, "" when none.
std::string client_name(const Tally& tally, const std::string& client_addr);
// Each hour start in the chart's range with its count (zeros included), and the width of one
// bar in hours: 1, or more when the range holds more hours than max_chart_bars.
struct HourBars {
    std::int64_t hours_per_bar = 1;
    std::vector<std::pair<std::int64_t, std::uint64_t>> bars;
};
inline constexpr std::size_t max_chart_bars = 744;  // 31 days of hours
HourBars hour_bars(const Tally& tally, const ReportOptions& options, std::int64_t now);

// "2026-11-23T08:00Z": the hour a per-hour count starts.
std::string format_hour(std::int64_t hour_start);

void write_text(const Tally& tally, const ReportOptions& options, std::int64_t now,
                std::ostream& out);
void write_json(const Tally& tally, const ReportOptions& options, std::int64_t now,
                std::ostream& out);
void write_csv(const Tally& tally, const ReportOptions& options, std::int64_t now,
               std::ostream& out);
void write_html(const Tally& tally, const ReportOptions& options, std::int64_t now,
                std::ostream& out);

// One CSV field (RFC 4180): control characters (CR, LF, tab included) become '?', a value
// starting with = + - @ gets a leading ' so a spreadsheet does not run it as a formula, at most
// 320 octets (cut on a UTF-8 boundary), quoted with "" doubled when it holds a comma or a quote
// or has a space at either end.
std::string csv_field(std::string_view value);

// Text for HTML, in an element or a quoted attribute: & < > " ' escaped, control characters
// become U+FFFD, and at most max_len octets (cut on a UTF-8 boundary, "..." added).
std::string html_escape(std::string_view value, std::size_t max_len = 320);

}  // namespace m365gate::ctl::report
