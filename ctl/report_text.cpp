// ctl/report_text.cpp - `report` for a terminal. Every value from the log goes through
// printable(): an SMTP client's text must not reach the terminal's escape sequences.
#include <algorithm>
#include <ostream>

#include "common/text.h"
#include "common/time.h"
#include "ctl/report.h"

namespace m365gate::ctl::report {

namespace {

constexpr std::size_t bar_width = 40;

std::string pad_left(const std::string& text, std::size_t width) {
    return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

std::string pad_right(const std::string& text, std::size_t width) {
    return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::string join_set(const std::set<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        out += (out.empty() ? "" : ",") + printable(item);
    }
    return out;
}

std::string plural(std::uint64_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// "reject 4, tempfail 1"
std::string action_list(const CountMap& by_action) {
    std::string out;
    for (const auto& [action, count] : by_action) {
        out += (out.empty() ? "" : ", ") + action + " " + std::to_string(count);
    }
    return out;
}

void print_counts(std::ostream& out, const std::string& title, const Ranked& rows,
                  std::size_t limit, const std::string& indent = "") {
    out << "\n" << indent << title << "\n";
    if (rows.empty()) {
        out << indent << "  (none)\n";
    }
    std::size_t shown = 0;
    for (const auto& [key, count] : rows) {
        if (shown++ == limit) {
            out << indent << "  ... " << rows.size() - limit << " more\n";
            break;
        }
        out << indent << pad_left(std::to_string(count), 8) << "  " << printable(key) << "\n";
    }
}

void print_clients(const Tally& tally, const Ranked& rows, std::size_t limit, std::ostream& out,
                   const std::string& indent = "") {
    if (rows.empty()) {
        out << indent << "  (none)\n";
    }
    for (std::size_t i = 0; i < rows.size() && i < limit; ++i) {
        const std::string name = client_name(tally, rows[i].first);
        out << indent << pad_left(std::to_string(rows[i].second), 8) << "  "
            << pad_right(printable(rows[i].first), 16) << "  "
            << (name.empty() ? "-" : printable(name)) << "\n";
    }
}

void print_header(const Tally& tally, const ReportOptions& options, std::int64_t now,
                  std::ostream& out) {
    out << "m365gate rejection report\n";
    std::vector<std::string> sources;
    for (const auto& file : options.files) {
        sources.push_back(file == "-" ? "(stdin)" : printable(file));
    }
    out << "  log:       " << join(sources) << "\n";
    out << "  period:    "
        << (options.since || options.until
                ? (options.since ? format_utc(*options.since) : "start of the log") + " .. " +
                      format_utc(options.until ? *options.until : now)
                : std::string("everything in the log"))
        << "\n";
    if (!options.tenants.empty()) {
        std::vector<std::string> names;
        for (const auto& name : options.tenants) {
            names.push_back(printable(name));
        }
        out << "  tenants:   " << join(names) << "\n";
    }
    if (tally.all.events != 0) {
        out << "  seen:      " << format_utc(tally.first) << " .. " << format_utc(tally.last)
            << "\n";
    }
    const std::string actions = action_list(tally.all.by_action);
    out << "  events:    " << tally.all.events << (actions.empty() ? "" : " (" + actions + ")")
        << "\n";
    out << "  skipped:   " << plural(tally.malformed, "malformed line") << ", " << tally.outside
        << " outside the period";
    if (!options.tenants.empty()) {
        out << ", " << tally.other_tenants << " of other tenants";
    }
    out << "\n";
}

void print_recipients(const Tally& tally, const ReportOptions& options, std::ostream& out) {
    out << "\nMost rejected recipients (typos, former staff: an alias or extra_recipients entry "
           "worth adding?)\n";
    const Ranked rows = ranked_recipients(tally);
    if (rows.empty()) {
        out << "  (none)\n";
    }
    for (std::size_t i = 0; i < rows.size() && i < options.top; ++i) {
        out << pad_left(std::to_string(rows[i].second), 8) << "  "
            << pad_right(printable(rows[i].first), 40) << "  "
            << join_set(tally.recipients.at(rows[i].first).reasons) << "\n";
    }
    out << "\nClients sending the most unknown recipients (address harvesting?)\n";
    const Ranked clients = ranked_unknown_clients(tally);
    if (clients.empty()) {
        out << "  (none)\n";
    }
    for (std::size_t i = 0; i < clients.size() && i < options.top; ++i) {
        const auto& c = tally.unknown_clients.at(clients[i].first);
        const std::string name = client_name(tally, clients[i].first);
        out << pad_left(std::to_string(c.count), 8) << "  "
            << pad_right(printable(clients[i].first), 16) << "  "
            << pad_right(name.empty() ? "-" : printable(name), 30) << "  "
            << plural(c.recipients.size(), "distinct recipient") << "\n";
    }
}

void print_harvest(const Tally& tally, std::ostream& out) {
    out << "\nClients that crossed the harvest threshold ([milter.harvest])\n";
    if (tally.harvest.empty()) {
        out << "  (none)\n";
    }
    for (const auto& [key, count] : ranked_harvest(tally)) {
        const HarvestClient& c = tally.harvest.at(key);
        out << pad_left(std::to_string(count), 8) << "  " << pad_right(printable(key), 24) << "  "
            << pad_right(c.name.empty() ? "-" : printable(c.name), 30) << "  last "
            << format_time(c.last) << " " << (c.response == "report" ? "reported" : "answered ")
            << (c.response == "report" ? "" : printable(c.response)) << "\n";
    }
}

void print_tenants(const Tally& tally, const ReportOptions& options, std::ostream& out) {
    for (const auto& [tenant, events] : ranked_by_tenant(tally)) {
        const Breakdown& b = tally.per_tenant.at(tenant);
        out << "\nTenant " << printable(tenant) << ": " << plural(events, "event") << " ("
            << action_list(b.by_action) << ")\n";
        print_counts(out, "By reason", ranked(b.by_reason), SIZE_MAX, "  ");
        print_counts(out, "By recipient domain", ranked(b.by_domain), options.top, "  ");
        print_counts(out, "Top senders", ranked(b.senders), options.top, "  ");
        print_counts(out, "Top sender domains", ranked(b.sender_domains), options.top, "  ");
        out << "\n  Top clients\n";
        print_clients(tally, ranked(b.clients), options.top, out, "  ");
    }
}

void print_hours(const Tally& tally, std::ostream& out) {
    out << "\nPer hour (UTC)\n";
    if (tally.per_hour.empty()) {
        out << "  (none)\n";
    }
    std::uint64_t peak = 1;
    for (const auto& entry : tally.per_hour) {
        peak = std::max(peak, entry.second);
    }
    for (const auto& [hour, count] : tally.per_hour) {
        const std::size_t bar = static_cast<std::size_t>((count * bar_width + peak - 1) / peak);
        out << "  " << format_hour(hour) << pad_left(std::to_string(count), 8) << "  "
            << std::string(bar, '#') << "\n";
    }
}

}  // namespace

void write_text(const Tally& tally, const ReportOptions& options, std::int64_t now,
                std::ostream& out) {
    print_header(tally, options, now, out);
    print_counts(out, "By reason", ranked(tally.all.by_reason), SIZE_MAX);
    print_counts(out, "By tenant", ranked_by_tenant(tally), SIZE_MAX);
    print_counts(out, "By recipient domain", ranked(tally.all.by_domain), options.top);
    print_counts(out, "Top senders", ranked(tally.all.senders), options.top);
    print_counts(out, "Top sender domains", ranked(tally.all.sender_domains), options.top);
    out << "\nTop clients (every reason)\n";
    print_clients(tally, ranked(tally.all.clients), options.top, out);
    print_recipients(tally, options, out);
    print_harvest(tally, out);
    print_tenants(tally, options, out);
    print_hours(tally, out);
}

}  // namespace m365gate::ctl::report
