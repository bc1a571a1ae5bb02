// ctl/report.cpp - `report`: what the milter rejected, for postmasters.
//
// Reads the milter's JSON-lines rejection log (log.rejections), one object per line:
//   {"ts":"2026-11-23T09:00:00Z","action":"reject","queue_id":"","client_addr":"192.0.2.7",
//    "client_name":"mx.example","from":"a@b.example","to":"nobody@customer.example",
//    "tenant":"contoso","reason":"unknown_recipient","code":"550","status":"5.1.1"}
// and, for clients that crossed the milter's harvest threshold ([milter.harvest]):
//   {"ts":"...","action":"harvest","client_addr":"192.0.2.7","client_name":"mx.example",
//    "client_key":"192.0.2.7","unknown":20,"window":600,"response":"450","block_until":"..."}
// A line that is not such an object (truncated by a crash, rotated mid-write, edited by hand)
// is counted and skipped, never fatal. Text from the log came from SMTP clients: it goes through
// printable() before it reaches a terminal.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <istream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>

#include "common/address.h"
#include "common/log.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

namespace {

constexpr std::size_t max_line_octets = 64 * 1024;
constexpr std::size_t bar_width = 40;

struct RecipientCount {
    std::uint64_t count = 0;
    std::set<std::string> reasons;
};

struct ClientCount {
    std::uint64_t count = 0;
    std::string name;
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
    std::uint64_t outside = 0;
    std::uint64_t events = 0;
    std::int64_t first = 0;
    std::int64_t last = 0;
    std::map<std::string, std::uint64_t> by_action;
    std::map<std::string, std::uint64_t> by_reason;
    std::map<std::string, std::uint64_t> by_domain;
    std::map<std::string, std::uint64_t> by_tenant;
    std::map<std::string, RecipientCount> recipients;
    std::map<std::string, ClientCount> unknown_clients;  // client_addr -> counts
    std::map<std::int64_t, std::uint64_t> per_hour;      // hour start (Unix) -> count
    std::map<std::string, HarvestClient> harvest;        // client_key -> crossings
};

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

// A harvest line into the tally; false when it is malformed.
bool add_harvest(const nlohmann::json& obj, std::optional<std::int64_t> ts,
                 std::optional<std::int64_t> since, Tally& tally) {
    const std::string key = string_field(obj, "client_key");
    if (!ts || key.empty()) {
        return false;
    }
    if (since && *ts < *since) {
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

// One line into the tally; false when it is malformed.
bool add_line(const std::string& line, std::optional<std::int64_t> since, Tally& tally) {
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
        return add_harvest(obj, ts, since, tally);
    }
    const std::string to = string_field(obj, "to");
    if (!ts || !is_action(action) || to.empty()) {
        return false;
    }
    if (since && *ts < *since) {
        ++tally.outside;
        return true;
    }
    ++tally.events;
    tally.first = tally.first == 0 ? *ts : std::min(tally.first, *ts);
    tally.last = std::max(tally.last, *ts);
    std::string reason = string_field(obj, "reason");
    if (reason.empty()) {
        reason = "(none)";
    }
    const std::string recipient = ascii_lower(to);
    const auto at = recipient.rfind('@');
    const std::string domain =
        at == std::string::npos ? "(no domain)" : canonical_domain(recipient.substr(at + 1));
    const std::string tenant = string_field(obj, "tenant");

    ++tally.by_action[action];
    ++tally.by_reason[reason];
    ++tally.by_domain[domain];
    ++tally.by_tenant[tenant.empty() ? "(none)" : tenant];
    auto& r = tally.recipients[recipient];
    ++r.count;
    r.reasons.insert(reason);
    if (reason == "unknown_recipient") {
        std::string client = string_field(obj, "client_addr");
        auto& c = tally.unknown_clients[client.empty() ? "(unknown)" : client];
        ++c.count;
        c.recipients.insert(recipient);
        const std::string name = string_field(obj, "client_name");
        if (!name.empty()) {
            c.name = name;
        }
    }
    ++tally.per_hour[*ts - (*ts % 3600 + 3600) % 3600];
    return true;
}

std::map<std::string, std::uint64_t> harvest_counts(const Tally& tally) {
    std::map<std::string, std::uint64_t> out;
    for (const auto& [key, c] : tally.harvest) {
        out[key] = c.crossings;
    }
    return out;
}

template <typename Map>
std::vector<std::pair<std::string, std::uint64_t>> ranked(const Map& counts) {
    std::vector<std::pair<std::string, std::uint64_t>> out(counts.begin(), counts.end());
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    return out;
}

std::string pad_left(const std::string& text, std::size_t width) {
    return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

std::string pad_right(const std::string& text, std::size_t width) {
    return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::string join_set(const std::set<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        out += (out.empty() ? "" : ",") + item;
    }
    return out;
}

void print_counts(std::ostream& out, const char* title,
                  const std::vector<std::pair<std::string, std::uint64_t>>& rows,
                  std::size_t limit) {
    out << "\n" << title << "\n";
    if (rows.empty()) {
        out << "  (none)\n";
    }
    std::size_t shown = 0;
    for (const auto& [key, count] : rows) {
        if (shown++ == limit) {
            out << "  ... " << rows.size() - limit << " more\n";
            break;
        }
        out << pad_left(std::to_string(count), 8) << "  " << printable(key) << "\n";
    }
}

void print_harvest(const Tally& tally, std::ostream& out) {
    out << "\nClients that crossed the harvest threshold ([milter.harvest])\n";
    if (tally.harvest.empty()) {
        out << "  (none)\n";
    }
    for (const auto& [key, count] : ranked(harvest_counts(tally))) {
        const HarvestClient& c = tally.harvest.at(key);
        out << pad_left(std::to_string(count), 8) << "  " << pad_right(printable(key), 24) << "  "
            << pad_right(c.name.empty() ? "-" : printable(c.name), 30) << "  last "
            << format_time(c.last) << " " << (c.response == "report" ? "reported" : "answered ")
            << (c.response == "report" ? "" : printable(c.response)) << "\n";
    }
}

void print_text(const Tally& tally, const ReportOptions& options, std::int64_t now,
                std::ostream& out) {
    out << "m365gate rejection report\n";
    std::string sources;
    for (const auto& file : options.files) {
        sources += (sources.empty() ? "" : ", ") + (file == "-" ? "(stdin)" : file);
    }
    out << "  log:       " << sources << "\n";
    out << "  period:    "
        << (options.since_seconds
                ? format_time(now - *options.since_seconds) + " .. " + format_time(now) +
                      " (last " + format_age(*options.since_seconds) + ")"
                : std::string("everything in the log"))
        << "\n";
    if (tally.events != 0) {
        out << "  seen:      " << format_time(tally.first) << " .. " << format_time(tally.last)
            << "\n";
    }
    out << "  events:    " << tally.events;
    std::string actions;
    for (const auto& [action, count] : tally.by_action) {
        actions += (actions.empty() ? "" : ", ") + action + " " + std::to_string(count);
    }
    out << (actions.empty() ? "" : " (" + actions + ")") << "\n";
    out << "  skipped:   " << tally.malformed << " malformed line"
        << (tally.malformed == 1 ? "" : "s") << ", " << tally.outside << " before the period\n";

    print_counts(out, "By reason", ranked(tally.by_reason), SIZE_MAX);
    print_counts(out, "By tenant", ranked(tally.by_tenant), SIZE_MAX);
    print_counts(out, "By recipient domain", ranked(tally.by_domain), options.top);

    out << "\nMost rejected recipients (typos, former staff: an alias or extra_recipients entry "
           "worth adding?)\n";
    std::vector<std::pair<std::string, std::uint64_t>> recipients;
    for (const auto& [address, r] : tally.recipients) {
        recipients.emplace_back(address, r.count);
    }
    recipients = ranked(recipients);
    if (recipients.empty()) {
        out << "  (none)\n";
    }
    for (std::size_t i = 0; i < recipients.size() && i < options.top; ++i) {
        const auto& address = recipients[i].first;
        out << pad_left(std::to_string(recipients[i].second), 8) << "  "
            << pad_right(printable(address), 40) << "  "
            << join_set(tally.recipients.at(address).reasons) << "\n";
    }

    out << "\nClients sending the most unknown recipients (address harvesting?)\n";
    std::vector<std::pair<std::string, std::uint64_t>> clients;
    for (const auto& [client, c] : tally.unknown_clients) {
        clients.emplace_back(client, c.count);
    }
    clients = ranked(clients);
    if (clients.empty()) {
        out << "  (none)\n";
    }
    for (std::size_t i = 0; i < clients.size() && i < options.top; ++i) {
        const auto& c = tally.unknown_clients.at(clients[i].first);
        out << pad_left(std::to_string(c.count), 8) << "  "
            << pad_right(printable(clients[i].first), 16) << "  "
            << pad_right(c.name.empty() ? "-" : printable(c.name), 30) << "  "
            << c.recipients.size() << " distinct recipient" << (c.recipients.size() == 1 ? "" : "s")
            << "\n";
    }

    print_harvest(tally, out);

    out << "\nPer hour (UTC)\n";
    if (tally.per_hour.empty()) {
        out << "  (none)\n";
    }
    std::uint64_t peak = 1;
    for (const auto& entry : tally.per_hour) {
        peak = std::max(peak, entry.second);
    }
    for (const auto& [hour, count] : tally.per_hour) {
        const std::string stamp = format_time(hour).substr(0, 13) + ":00Z";
        const std::size_t bar = static_cast<std::size_t>((count * bar_width + peak - 1) / peak);
        out << "  " << stamp << pad_left(std::to_string(count), 8) << "  " << std::string(bar, '#')
            << "\n";
    }
}

nlohmann::json counts_json(const std::vector<std::pair<std::string, std::uint64_t>>& rows,
                           const char* key_name, std::size_t limit) {
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < rows.size() && i < limit; ++i) {
        out.push_back({{key_name, rows[i].first}, {"count", rows[i].second}});
    }
    return out;
}

void print_json(const Tally& tally, const ReportOptions& options, std::int64_t now,
                std::ostream& out) {
    nlohmann::json doc;
    doc["files"] = options.files;
    doc["since"] = options.since_seconds ? nlohmann::json(format_time(now - *options.since_seconds))
                                         : nlohmann::json(nullptr);
    doc["until"] = format_time(now);
    doc["first_event"] = tally.first ? nlohmann::json(format_time(tally.first)) : nullptr;
    doc["last_event"] = tally.last ? nlohmann::json(format_time(tally.last)) : nullptr;
    doc["lines"] = tally.lines;
    doc["malformed"] = tally.malformed;
    doc["outside_period"] = tally.outside;
    doc["events"] = tally.events;
    doc["by_action"] = tally.by_action;
    doc["by_reason"] = tally.by_reason;
    doc["by_tenant"] = tally.by_tenant;
    doc["by_domain"] = counts_json(ranked(tally.by_domain), "domain", SIZE_MAX);
    nlohmann::json recipients = nlohmann::json::array();
    std::vector<std::pair<std::string, std::uint64_t>> rows;
    for (const auto& [address, r] : tally.recipients) {
        rows.emplace_back(address, r.count);
    }
    rows = ranked(rows);
    for (std::size_t i = 0; i < rows.size() && i < options.top; ++i) {
        recipients.push_back({{"address", rows[i].first},
                              {"count", rows[i].second},
                              {"reasons", tally.recipients.at(rows[i].first).reasons}});
    }
    doc["top_recipients"] = recipients;
    nlohmann::json clients = nlohmann::json::array();
    rows.clear();
    for (const auto& [client, c] : tally.unknown_clients) {
        rows.emplace_back(client, c.count);
    }
    rows = ranked(rows);
    for (std::size_t i = 0; i < rows.size() && i < options.top; ++i) {
        const auto& c = tally.unknown_clients.at(rows[i].first);
        clients.push_back({{"client_addr", rows[i].first},
                           {"client_name", c.name},
                           {"count", c.count},
                           {"distinct_recipients", c.recipients.size()}});
    }
    doc["top_unknown_clients"] = clients;
    nlohmann::json harvest = nlohmann::json::array();
    for (const auto& [key, count] : ranked(harvest_counts(tally))) {
        const HarvestClient& c = tally.harvest.at(key);
        harvest.push_back({{"client_key", key},
                           {"client_addr", c.addr},
                           {"client_name", c.name},
                           {"crossings", count},
                           {"first", format_time(c.first)},
                           {"last", format_time(c.last)},
                           {"response", c.response}});
    }
    doc["harvest_clients"] = harvest;
    nlohmann::json hours = nlohmann::json::array();
    for (const auto& [hour, count] : tally.per_hour) {
        hours.push_back({{"hour", format_time(hour)}, {"count", count}});
    }
    doc["per_hour"] = hours;
    out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace

int run_report(const ReportOptions& options, std::istream& in, std::int64_t now, std::ostream& out,
               std::ostream& err) {
    Tally tally;
    std::optional<std::int64_t> since;
    if (options.since_seconds) {
        since = now - *options.since_seconds;
    }
    for (const auto& file : options.files) {
        std::ifstream file_stream;
        std::istream* source = &in;
        if (file != "-") {
            file_stream.open(file);
            if (!file_stream) {
                err << "m365gatectl: cannot read the rejection log " << file << ": "
                    << std::strerror(errno) << "\n";
                return exit_failure;
            }
            source = &file_stream;
        }
        std::string line;
        while (std::getline(*source, line)) {
            if (!line.empty() && line.back() == '\r') {
                line.pop_back();
            }
            if (line.find_first_not_of(" \t") == std::string::npos) {
                continue;
            }
            ++tally.lines;
            if (!add_line(line, since, tally)) {
                ++tally.malformed;
            }
        }
    }
    if (tally.malformed != 0) {
        err << "m365gatectl: warning: skipped " << tally.malformed
            << " malformed line(s) in the rejection log\n";
    }
    if (options.json) {
        print_json(tally, options, now, out);
    } else {
        print_text(tally, options, now, out);
    }
    return exit_ok;
}

}  // namespace m365gate::ctl
