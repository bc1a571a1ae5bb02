// ctl/report_read.cpp - `report`: reading the rejection log into a Tally, and run_report().
//
// Reads the milter's JSON-lines rejection log (log.rejections), one object per line:
//   {"ts":"2026-11-23T09:00:00Z","action":"reject","queue_id":"","client_addr":"192.0.2.7",
//    "client_name":"mx.example","from":"a@b.example","to":"nobody@customer.example",
//    "tenant":"contoso","reason":"unknown_recipient","code":"550","status":"5.1.1"}
// and, for clients that crossed the milter's harvest threshold ([milter.harvest]):
//   {"ts":"...","action":"harvest","client_addr":"192.0.2.7","client_name":"mx.example",
//    "client_key":"192.0.2.7","unknown":20,"window":600,"response":"450","block_until":"..."}
// A line that is not such an object (truncated by a crash, rotated mid-write, edited by hand)
// is counted and skipped, never fatal. Memory grows with the number of distinct values
// (senders, clients, hours with events), never with the number of lines.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/address.h"
#include "common/text.h"
#include "common/time.h"
#include "ctl/report.h"

namespace m365gate::ctl {

namespace report {

namespace {

constexpr std::size_t max_line_octets = 64 * 1024;
constexpr std::int64_t seconds_per_hour = 3600;

bool is_action(const std::string& action) {
    return action == "reject" || action == "tempfail" || action == "would_reject" ||
           action == "would_tempfail";
}

std::string string_field(const nlohmann::json& obj, const char* key) {
    const auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) {
        return "";
    }
    return it->get<std::string>();
}

bool in_period(std::int64_t ts, const ReportOptions& options) {
    return (!options.since || ts >= *options.since) && (!options.until || ts < *options.until);
}

std::int64_t hour_start(std::int64_t ts) {
    return ts - (ts % seconds_per_hour + seconds_per_hour) % seconds_per_hour;
}

// The domain of an address, canonical when it is a valid domain name, else as it came (the
// postmaster should see what the client sent); "(no domain)" without an '@'.
std::string domain_of(const std::string& address) {
    const auto at = address.rfind('@');
    if (at == std::string::npos) {
        return "(no domain)";
    }
    const std::string canonical = canonical_domain(address.substr(at + 1));
    return canonical.empty() ? address.substr(at + 1) : canonical;
}

// A harvest line into the tally; false when it is malformed. Harvest records belong to a
// client, not a tenant: --tenant does not filter them.
bool add_harvest(const nlohmann::json& obj, std::optional<std::int64_t> ts,
                 const ReportOptions& options, Tally& tally) {
    const std::string key = string_field(obj, "client_key");
    if (!ts || key.empty()) {
        return false;
    }
    if (!in_period(*ts, options)) {
        ++tally.outside;
        return true;
    }
    HarvestClient& c = tally.harvest[key];
    ++c.crossings;
    c.first = c.first == 0 ? *ts : std::min(c.first, *ts);
    if (*ts >= c.last) {
        c.last = *ts;
        c.addr = string_field(obj, "client_addr");
        c.name = string_field(obj, "client_name");
        c.response = string_field(obj, "response");
    }
    return true;
}

// One rejection, already known to be in the period and of a selected tenant, into the counts
// of all tenants and of its own.
void add_rejection(const nlohmann::json& obj, std::int64_t ts, const std::string& action,
                   const std::string& tenant, Tally& tally) {
    std::string reason = string_field(obj, "reason");
    if (reason.empty()) {
        reason = "(none)";
    }
    const std::string recipient = ascii_lower(string_field(obj, "to"));
    const std::string from = ascii_lower(string_field(obj, "from"));
    const std::string sender = from.empty() ? "<>" : from;  // the null sender: a bounce
    const std::string sender_domain = from.empty() ? "<>" : domain_of(from);
    const std::string recipient_domain = domain_of(recipient);
    std::string client = string_field(obj, "client_addr");
    if (client.empty()) {
        client = "(unknown)";
    }
    // Not 0 as "none yet": 1970-01-01T00:00:00Z and earlier are times like any other here.
    tally.first = tally.all.events == 0 ? ts : std::min(tally.first, ts);
    tally.last = tally.all.events == 0 ? ts : std::max(tally.last, ts);
    for (Breakdown* b : {&tally.all, &tally.per_tenant[tenant]}) {
        ++b->events;
        ++b->by_action[action];
        ++b->by_reason[reason];
        ++b->by_domain[recipient_domain];
        ++b->senders[sender];
        ++b->sender_domains[sender_domain];
        ++b->clients[client];
    }
    auto& r = tally.recipients[recipient];
    ++r.count;
    r.reasons.insert(reason);
    const std::string name = string_field(obj, "client_name");
    if (!name.empty()) {
        tally.client_names[client] = name;
    }
    if (reason == "unknown_recipient") {
        auto& c = tally.unknown_clients[client];
        ++c.count;
        c.recipients.insert(recipient);
    }
    ++tally.per_hour[hour_start(ts)];
}

template <typename Map, typename Count>
Ranked ranked_by(const Map& map, Count count) {
    Ranked out;
    out.reserve(map.size());
    for (const auto& entry : map) {
        out.emplace_back(entry.first, count(entry.second));
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    return out;
}

// Reads every line of `in` into the tally.
void read_lines(std::istream& in, const ReportOptions& options, Tally& tally) {
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.find_first_not_of(" \t") == std::string::npos) {
            continue;
        }
        ++tally.lines;
        if (!add_line(line, options, tally)) {
            ++tally.malformed;
        }
    }
}

}  // namespace

bool add_line(const std::string& line, const ReportOptions& options, Tally& tally) {
    if (line.size() > max_line_octets) {
        return false;
    }
    const auto obj = nlohmann::json::parse(line, nullptr, false);
    if (obj.is_discarded() || !obj.is_object()) {
        return false;
    }
    const auto ts_it = obj.find("ts");
    if (ts_it == obj.end() || !ts_it->is_string()) {
        return false;
    }
    const auto ts = parse_timestamp(ts_it->get<std::string>());
    const std::string action = string_field(obj, "action");
    if (action == "harvest") {
        return add_harvest(obj, ts, options, tally);
    }
    if (!ts || !is_action(action) || string_field(obj, "to").empty()) {
        return false;
    }
    if (!in_period(*ts, options)) {
        ++tally.outside;
        return true;
    }
    std::string tenant = string_field(obj, "tenant");
    if (tenant.empty()) {
        tenant = "(none)";
    }
    if (!options.tenants.empty() && std::find(options.tenants.begin(), options.tenants.end(),
                                              tenant) == options.tenants.end()) {
        ++tally.other_tenants;
        return true;
    }
    add_rejection(obj, *ts, action, tenant, tally);
    return true;
}

Ranked ranked(const CountMap& counts) {
    return ranked_by(counts, [](std::uint64_t n) { return n; });
}

Ranked ranked_by_tenant(const Tally& tally) {
    return ranked_by(tally.per_tenant, [](const Breakdown& b) { return b.events; });
}

Ranked ranked_recipients(const Tally& tally) {
    return ranked_by(tally.recipients, [](const RecipientCount& r) { return r.count; });
}

Ranked ranked_unknown_clients(const Tally& tally) {
    return ranked_by(tally.unknown_clients, [](const ClientCount& c) { return c.count; });
}

Ranked ranked_harvest(const Tally& tally) {
    return ranked_by(tally.harvest, [](const HarvestClient& c) { return c.crossings; });
}

std::string client_name(const Tally& tally, const std::string& client_addr) {
    const auto it = tally.client_names.find(client_addr);
    return it == tally.client_names.end() ? std::string() : it->second;
}

std::string format_hour(std::int64_t hour_start) {
    return format_utc(hour_start).substr(0, 13) + ":00Z";
}

HourBars hour_bars(const Tally& tally, const ReportOptions& options, std::int64_t now) {
    HourBars out;
    if (tally.per_hour.empty() && !options.since) {
        return out;
    }
    // The period asked for, else the events seen: a report of the last 24 hours shows 24 bars
    // even when the log is quiet at either end.
    const std::int64_t start = hour_start(options.since ? *options.since : tally.first);
    const std::int64_t end = options.until   ? *options.until - 1
                             : options.since ? std::max(now - 1, tally.last)
                                             : tally.last;
    if (end < start) {
        return out;
    }
    const std::int64_t hours = (hour_start(end) - start) / seconds_per_hour + 1;
    const auto max_bars = static_cast<std::int64_t>(max_chart_bars);
    out.hours_per_bar = (hours + max_bars - 1) / max_bars;
    const std::int64_t width = out.hours_per_bar * seconds_per_hour;
    for (std::int64_t bar = start; bar <= end; bar += width) {
        out.bars.emplace_back(bar, 0);
    }
    for (const auto& [hour, count] : tally.per_hour) {
        if (hour >= start && hour <= end) {
            out.bars[static_cast<std::size_t>((hour - start) / width)].second += count;
        }
    }
    return out;
}

}  // namespace report

bool parse_report_bound(std::string_view text, std::int64_t now,
                        std::optional<std::int64_t>& bound) {
    if (text == "all") {
        bound.reset();
        return true;
    }
    if (const auto duration = parse_duration(text); duration) {
        bound = now - duration->count();
        return true;
    }
    if (const auto at = parse_timestamp(text); at) {
        bound = *at;
        return true;
    }
    return false;
}

std::optional<ReportFormat> parse_report_format(std::string_view text) {
    if (text == "text") {
        return ReportFormat::text;
    }
    if (text == "json") {
        return ReportFormat::json;
    }
    if (text == "csv") {
        return ReportFormat::csv;
    }
    if (text == "html") {
        return ReportFormat::html;
    }
    return std::nullopt;
}

int run_report(const ReportOptions& options, std::istream& in, std::int64_t now, std::ostream& out,
               std::ostream& err) {
    report::Tally tally;
    for (const auto& file : options.files) {
        if (file == "-") {
            report::read_lines(in, options, tally);
            continue;
        }
        std::error_code ec;
        if (std::filesystem::is_directory(file, ec)) {
            err << "m365gatectl: cannot read the rejection log " << file << ": "
                << std::strerror(EISDIR) << "\n";
            return exit_failure;
        }
        std::ifstream file_stream(file);
        if (!file_stream) {
            err << "m365gatectl: cannot read the rejection log " << file << ": "
                << std::strerror(errno) << "\n";
            return exit_failure;
        }
        report::read_lines(file_stream, options, tally);
        if (file_stream.bad()) {
            err << "m365gatectl: error reading the rejection log " << file << ": "
                << std::strerror(errno) << "\n";
            return exit_failure;
        }
    }
    if (tally.malformed != 0) {
        err << "m365gatectl: warning: skipped " << tally.malformed
            << " malformed line(s) in the rejection log\n";
    }
    switch (options.format) {
        case ReportFormat::text:
            report::write_text(tally, options, now, out);
            break;
        case ReportFormat::json:
            report::write_json(tally, options, now, out);
            break;
        case ReportFormat::csv:
            report::write_csv(tally, options, now, out);
            break;
        case ReportFormat::html:
            report::write_html(tally, options, now, out);
            break;
    }
    return exit_ok;
}

}  // namespace m365gate::ctl
