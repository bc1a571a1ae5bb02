// ctl/report_html.cpp - `report --format html`: one self-contained page a postmaster can mail
// or open from disk. No script, no font, no stylesheet or image from anywhere: the style is
// inline, the chart is SVG drawn here, and a Content-Security-Policy (default-src 'none')
// tells the browser to load nothing even if a value from the log tried. Every value from the
// log goes through html_escape(), in text and in attributes alike.
//
// Test hooks that are also useful to scrapers: summary cells carry data-key, lists data-list,
// tenant sections data-tenant, chart bars data-hour and data-count (and a <title> tooltip).
#include <algorithm>
#include <ostream>

#include "common/text.h"
#include "common/time.h"
#include "ctl/report.h"

namespace m365gate::ctl::report {

namespace {

constexpr std::int64_t chart_height = 100;  // SVG units; bars scale to the peak
constexpr std::int64_t bar_step = 10;       // SVG units per bar, 1 of them a gap

constexpr const char* page_head = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>m365gate rejection report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.4em 1.5em 1em 0; }
caption { text-align: left; font-weight: bold; padding: 0.2em 0; }
th, td { padding: 0.15em 0.6em; border-bottom: 1px solid #ddd; text-align: left;
         overflow-wrap: anywhere; max-width: 40em; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.lists { display: flex; flex-wrap: wrap; align-items: flex-start; }
.none { color: #777; font-style: italic; }
svg.chart { width: 100%; max-width: 60em; height: 10em; background: #f6f8fa; display: block; }
svg.chart rect.bar { fill: #2a6fb0; } svg.chart rect.bar:hover { fill: #d9480f; }
.axis { color: #555; font-size: 0.9em; max-width: 60em; display: flex;
        justify-content: space-between; }
section.tenant { border-top: 2px solid #2a6fb0; margin-top: 1.5em; }
</style>
</head>
<body>
<h1>m365gate rejection report</h1>
)";

std::string plural(std::uint64_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

void summary_row(std::ostream& out, const char* key, const std::string& label,
                 const std::string& value) {
    out << "<tr><th>" << html_escape(label) << "</th><td data-key=\"" << key << "\">"
        << html_escape(value, SIZE_MAX) << "</td></tr>\n";
}

void write_summary(const Tally& tally, const ReportOptions& options, std::int64_t now,
                   std::ostream& out) {
    out << "<table id=\"summary\">\n";
    std::vector<std::string> files;
    for (const auto& file : options.files) {
        files.push_back(file == "-" ? "(stdin)" : file);
    }
    summary_row(out, "log", "log", join(files));
    summary_row(out, "since", "since",
                options.since ? format_utc(*options.since) : "start of the log");
    summary_row(out, "until", "until", format_utc(options.until ? *options.until : now));
    if (!options.tenants.empty()) {
        summary_row(out, "tenants", "tenants", join(options.tenants));
    }
    const bool any = tally.all.events != 0;
    summary_row(out, "first_event", "first event", any ? format_utc(tally.first) : "-");
    summary_row(out, "last_event", "last event", any ? format_utc(tally.last) : "-");
    summary_row(out, "events", "rejections", std::to_string(tally.all.events));
    for (const auto& [action, count] : tally.all.by_action) {
        summary_row(out, ("action-" + action).c_str(), action, std::to_string(count));
    }
    summary_row(out, "lines", "log lines", std::to_string(tally.lines));
    summary_row(out, "malformed", "malformed lines (skipped)", std::to_string(tally.malformed));
    summary_row(out, "outside_period", "outside the period", std::to_string(tally.outside));
    if (!options.tenants.empty()) {
        summary_row(out, "other_tenants", "of other tenants", std::to_string(tally.other_tenants));
    }
    out << "</table>\n";
}

void write_chart(const Tally& tally, const ReportOptions& options, std::int64_t now,
                 std::ostream& out) {
    const HourBars chart = hour_bars(tally, options, now);
    const std::string unit = chart.hours_per_bar == 1
                                 ? std::string("hour")
                                 : std::to_string(chart.hours_per_bar) + " hours";
    out << "<h2>Rejections per " << unit << " (UTC)</h2>\n";
    if (chart.bars.empty()) {
        out << "<p class=\"none\">no rejections</p>\n";
        return;
    }
    std::uint64_t peak = 1;
    for (const auto& bar : chart.bars) {
        peak = std::max(peak, bar.second);
    }
    const auto width = static_cast<std::int64_t>(chart.bars.size()) * bar_step;
    out << "<svg class=\"chart\" id=\"per-hour\" viewBox=\"0 0 " << width << ' ' << chart_height
        << "\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"rejections per " << unit
        << "\">\n";
    std::int64_t x = 0;
    for (const auto& [start, count] : chart.bars) {
        // Rounded up, so that one rejection beside a peak of thousands still shows.
        const auto height = static_cast<std::int64_t>((count * chart_height + peak - 1) / peak);
        out << "<rect class=\"bar\" x=\"" << x << "\" y=\"" << chart_height - height
            << "\" width=\"" << bar_step - 1 << "\" height=\"" << height << "\" data-hour=\""
            << format_hour(start) << "\" data-count=\"" << count << "\"><title>"
            << format_hour(start) << ": " << count << "</title></rect>\n";
        x += bar_step;
    }
    out << "</svg>\n<div class=\"axis\"><span>" << format_hour(chart.bars.front().first)
        << "</span><span>peak " << peak << " per " << unit << "</span><span>"
        << format_hour(chart.bars.back().first) << "</span></div>\n";
}

// A two-column list; `detail` gives a third column when it is set.
template <typename Detail>
void write_list(std::ostream& out, const char* list, const std::string& caption,
                const char* key_header, const Ranked& rows, std::size_t limit,
                const char* detail_header, Detail detail) {
    out << "<table data-list=\"" << list << "\"><caption>" << html_escape(caption)
        << "</caption>\n<tr><th class=\"n\">count</th><th>" << key_header << "</th>"
        << (detail_header ? std::string("<th>") + detail_header + "</th>" : "") << "</tr>\n";
    if (rows.empty()) {
        out << "<tr><td class=\"none\" colspan=\"3\">none</td></tr>\n";
    }
    for (std::size_t i = 0; i < rows.size() && i < limit; ++i) {
        out << "<tr><td class=\"n\">" << rows[i].second << "</td><td>" << html_escape(rows[i].first)
            << "</td>";
        if (detail_header) {
            out << "<td>" << html_escape(detail(rows[i].first)) << "</td>";
        }
        out << "</tr>\n";
    }
    if (rows.size() > limit) {
        out << "<tr><td colspan=\"3\" class=\"none\">" << rows.size() - limit
            << " more</td></tr>\n";
    }
    out << "</table>\n";
}

void write_list(std::ostream& out, const char* list, const std::string& caption,
                const char* key_header, const Ranked& rows, std::size_t limit) {
    write_list(out, list, caption, key_header, rows, limit, nullptr,
               [](const std::string&) { return std::string(); });
}

void write_breakdown(std::ostream& out, const Tally& tally, const Breakdown& b, std::size_t top) {
    const auto name_of = [&tally](const std::string& addr) {
        const std::string name = client_name(tally, addr);
        return name.empty() ? std::string("-") : name;
    };
    out << "<div class=\"lists\">\n";
    write_list(out, "reasons", "By reason", "reason", ranked(b.by_reason), SIZE_MAX);
    write_list(out, "senders", "Top senders", "sender", ranked(b.senders), top);
    write_list(out, "sender_domains", "Top sender domains", "domain", ranked(b.sender_domains),
               top);
    write_list(out, "clients", "Top clients", "address", ranked(b.clients), top, "name", name_of);
    write_list(out, "recipient_domains", "By recipient domain", "domain", ranked(b.by_domain), top);
    out << "</div>\n";
}

void write_whole_log_lists(std::ostream& out, const Tally& tally, std::size_t top) {
    out << "<div class=\"lists\">\n";
    write_list(out, "tenants", "By tenant", "tenant", ranked_by_tenant(tally), SIZE_MAX);
    write_list(out, "recipients",
               "Most rejected recipients (an alias or extra_recipients entry worth adding?)",
               "recipient", ranked_recipients(tally), top, "reasons",
               [&tally](const std::string& address) {
                   const auto& reasons = tally.recipients.at(address).reasons;
                   return join(std::vector<std::string>(reasons.begin(), reasons.end()));
               });
    write_list(out, "unknown_clients",
               "Clients sending the most unknown recipients (address harvesting?)", "address",
               ranked_unknown_clients(tally), top, "distinct recipients",
               [&tally](const std::string& addr) {
                   return std::to_string(tally.unknown_clients.at(addr).recipients.size());
               });
    out << "</div>\n";
}

void write_harvest(std::ostream& out, const Tally& tally) {
    out << "<h2>Clients that crossed the harvest threshold ([milter.harvest])</h2>\n"
        << "<table data-list=\"harvest\">\n<tr><th class=\"n\">crossings</th><th>client</th>"
        << "<th>address</th><th>name</th><th>first</th><th>last</th><th>response</th></tr>\n";
    if (tally.harvest.empty()) {
        out << "<tr><td class=\"none\" colspan=\"7\">none</td></tr>\n";
    }
    for (const auto& [key, count] : ranked_harvest(tally)) {
        const HarvestClient& c = tally.harvest.at(key);
        out << "<tr><td class=\"n\">" << count << "</td><td>" << html_escape(key) << "</td><td>"
            << html_escape(c.addr) << "</td><td>" << html_escape(c.name.empty() ? "-" : c.name)
            << "</td><td>" << format_utc(c.first) << "</td><td>" << format_utc(c.last)
            << "</td><td>"
            << (c.response == "report" ? "reported" : "answered " + html_escape(c.response))
            << "</td></tr>\n";
    }
    out << "</table>\n";
}

}  // namespace

std::string html_escape(std::string_view value, std::size_t max_len) {
    const std::size_t cut = value.size() > max_len ? utf8_cut_point(value, max_len) : value.size();
    std::string out;
    out.reserve(cut + 16);
    for (const char c : value.substr(0, cut)) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
                    out += "\xEF\xBF\xBD";  // U+FFFD: a control character has no place here
                } else {
                    out += c;
                }
        }
    }
    if (cut < value.size()) {
        out += "...";
    }
    return out;
}

void write_html(const Tally& tally, const ReportOptions& options, std::int64_t now,
                std::ostream& out) {
    out << page_head;
    write_summary(tally, options, now, out);
    write_chart(tally, options, now, out);
    out << "<h2>All tenants: " << plural(tally.all.events, "rejection") << "</h2>\n";
    write_breakdown(out, tally, tally.all, options.top);
    write_whole_log_lists(out, tally, options.top);
    write_harvest(out, tally);
    for (const auto& [tenant, events] : ranked_by_tenant(tally)) {
        out << "<section class=\"tenant\" data-tenant=\"" << html_escape(tenant)
            << "\">\n<h2>Tenant " << html_escape(tenant) << ": " << plural(events, "rejection")
            << "</h2>\n";
        write_breakdown(out, tally, tally.per_tenant.at(tenant), options.top);
        out << "</section>\n";
    }
    out << "<p class=\"none\">m365gatectl report, " << format_utc(now)
        << "</p>\n</body>\n</html>\n";
}

}  // namespace m365gate::ctl::report
