// ctl/report_data.cpp - `report --format json` and `--format csv`: the same counts as the text,
// for jq and for spreadsheets.
//
// CSV is one table, so a spreadsheet loads it without choices and a filter on the first two
// columns gives any list (RFC 4180: comma, CRLF, "" inside quotes):
//   section,tenant,key,value,detail
// section is summary | action | reason | tenant | recipient_domain | recipient | sender |
// sender_domain | client | unknown_client | hour | harvest; tenant is empty for the counts of
// every tenant together and names the tenant for its own breakdown (an event without a tenant
// is "(none)"); value is the count (summary since/until/first_event/last_event: a UTC time).
#include <nlohmann/json.hpp>
#include <ostream>

#include "common/text.h"
#include "common/time.h"
#include "ctl/report.h"

namespace m365gate::ctl::report {

namespace {

constexpr std::size_t max_csv_field = 320;

// The time of the first or last event; null when there was none.
nlohmann::json event_time(const Tally& tally, std::int64_t unix_seconds) {
    return tally.all.events == 0 ? nlohmann::json(nullptr)
                                 : nlohmann::json(format_utc(unix_seconds));
}

nlohmann::json counts_json(const Ranked& rows, const char* key_name, std::size_t limit) {
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < rows.size() && i < limit; ++i) {
        out.push_back({{key_name, rows[i].first}, {"count", rows[i].second}});
    }
    return out;
}

nlohmann::json clients_json(const Tally& tally, const Ranked& rows, std::size_t limit) {
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < rows.size() && i < limit; ++i) {
        out.push_back({{"client_addr", rows[i].first},
                       {"client_name", client_name(tally, rows[i].first)},
                       {"count", rows[i].second}});
    }
    return out;
}

// The lists a Breakdown has in both the whole report and each tenant's.
void add_breakdown_json(const Tally& tally, const Breakdown& b, std::size_t top,
                        nlohmann::json& doc) {
    doc["events"] = b.events;
    doc["by_action"] = b.by_action;
    doc["by_reason"] = b.by_reason;
    doc["top_senders"] = counts_json(ranked(b.senders), "sender", top);
    doc["top_sender_domains"] = counts_json(ranked(b.sender_domains), "domain", top);
    doc["top_clients"] = clients_json(tally, ranked(b.clients), top);
}

nlohmann::json recipients_json(const Tally& tally, std::size_t top) {
    nlohmann::json out = nlohmann::json::array();
    const Ranked rows = ranked_recipients(tally);
    for (std::size_t i = 0; i < rows.size() && i < top; ++i) {
        out.push_back({{"address", rows[i].first},
                       {"count", rows[i].second},
                       {"reasons", tally.recipients.at(rows[i].first).reasons}});
    }
    return out;
}

nlohmann::json unknown_clients_json(const Tally& tally, std::size_t top) {
    nlohmann::json out = nlohmann::json::array();
    const Ranked rows = ranked_unknown_clients(tally);
    for (std::size_t i = 0; i < rows.size() && i < top; ++i) {
        const auto& c = tally.unknown_clients.at(rows[i].first);
        out.push_back({{"client_addr", rows[i].first},
                       {"client_name", client_name(tally, rows[i].first)},
                       {"count", c.count},
                       {"distinct_recipients", c.recipients.size()}});
    }
    return out;
}

nlohmann::json harvest_json(const Tally& tally) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [key, count] : ranked_harvest(tally)) {
        const HarvestClient& c = tally.harvest.at(key);
        out.push_back({{"client_key", key},
                       {"client_addr", c.addr},
                       {"client_name", c.name},
                       {"crossings", count},
                       {"first", format_utc(c.first)},
                       {"last", format_utc(c.last)},
                       {"response", c.response}});
    }
    return out;
}

nlohmann::json per_tenant_json(const Tally& tally, std::size_t top) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [tenant, events] : ranked_by_tenant(tally)) {
        const Breakdown& b = tally.per_tenant.at(tenant);
        nlohmann::json entry = {{"tenant", tenant}};
        add_breakdown_json(tally, b, top, entry);
        entry["by_domain"] = counts_json(ranked(b.by_domain), "domain", top);
        out.push_back(entry);
    }
    return out;
}

// One CSV row; the numbers need no quoting, everything else goes through csv_field().
void csv_row(std::ostream& out, const char* section, const std::string& tenant,
             const std::string& key, const std::string& value, const std::string& detail = "") {
    out << section << ',' << csv_field(tenant) << ',' << csv_field(key) << ',' << csv_field(value)
        << ',' << csv_field(detail) << "\r\n";
}

void csv_counts(std::ostream& out, const char* section, const std::string& tenant,
                const Ranked& rows, std::size_t limit) {
    for (std::size_t i = 0; i < rows.size() && i < limit; ++i) {
        csv_row(out, section, tenant, rows[i].first, std::to_string(rows[i].second));
    }
}

void csv_breakdown(std::ostream& out, const Tally& tally, const Breakdown& b,
                   const std::string& tenant, std::size_t top) {
    csv_counts(out, "action", tenant, ranked(b.by_action), SIZE_MAX);
    csv_counts(out, "reason", tenant, ranked(b.by_reason), SIZE_MAX);
    csv_counts(out, "recipient_domain", tenant, ranked(b.by_domain), top);
    csv_counts(out, "sender", tenant, ranked(b.senders), top);
    csv_counts(out, "sender_domain", tenant, ranked(b.sender_domains), top);
    const Ranked clients = ranked(b.clients);
    for (std::size_t i = 0; i < clients.size() && i < top; ++i) {
        csv_row(out, "client", tenant, clients[i].first, std::to_string(clients[i].second),
                "client_name=" + client_name(tally, clients[i].first));
    }
}

void csv_summary(std::ostream& out, const Tally& tally, const ReportOptions& options,
                 std::int64_t now) {
    csv_row(out, "summary", "", "lines", std::to_string(tally.lines));
    csv_row(out, "summary", "", "events", std::to_string(tally.all.events));
    csv_row(out, "summary", "", "malformed", std::to_string(tally.malformed));
    csv_row(out, "summary", "", "outside_period", std::to_string(tally.outside));
    csv_row(out, "summary", "", "other_tenants", std::to_string(tally.other_tenants));
    csv_row(out, "summary", "", "since", options.since ? format_utc(*options.since) : "");
    csv_row(out, "summary", "", "until", format_utc(options.until ? *options.until : now));
    const bool any = tally.all.events != 0;
    csv_row(out, "summary", "", "first_event", any ? format_utc(tally.first) : "");
    csv_row(out, "summary", "", "last_event", any ? format_utc(tally.last) : "");
}

void csv_lists(std::ostream& out, const Tally& tally, std::size_t top) {
    const Ranked recipients = ranked_recipients(tally);
    for (std::size_t i = 0; i < recipients.size() && i < top; ++i) {
        std::vector<std::string> reasons(tally.recipients.at(recipients[i].first).reasons.begin(),
                                         tally.recipients.at(recipients[i].first).reasons.end());
        csv_row(out, "recipient", "", recipients[i].first, std::to_string(recipients[i].second),
                "reasons=" + join(reasons, ","));
    }
    const Ranked unknown = ranked_unknown_clients(tally);
    for (std::size_t i = 0; i < unknown.size() && i < top; ++i) {
        const auto& c = tally.unknown_clients.at(unknown[i].first);
        csv_row(out, "unknown_client", "", unknown[i].first, std::to_string(c.count),
                "client_name=" + client_name(tally, unknown[i].first) +
                    " distinct_recipients=" + std::to_string(c.recipients.size()));
    }
    for (const auto& [hour, count] : tally.per_hour) {
        csv_row(out, "hour", "", format_utc(hour), std::to_string(count));
    }
    for (const auto& [key, count] : ranked_harvest(tally)) {
        const HarvestClient& c = tally.harvest.at(key);
        csv_row(out, "harvest", "", key, std::to_string(count),
                "client_addr=" + c.addr + " client_name=" + c.name +
                    " first=" + format_utc(c.first) + " last=" + format_utc(c.last) +
                    " response=" + c.response);
    }
}

}  // namespace

std::string csv_field(std::string_view value) {
    std::string text(value.substr(0, utf8_cut_point(value, max_csv_field)));
    for (char& c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            c = '?';  // CR and LF too: one record per line, whatever the log held
        }
    }
    if (!text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' || text[0] == '@')) {
        text.insert(text.begin(), '\'');
    }
    const bool quote = text.find_first_of(",\"") != std::string::npos ||
                       (!text.empty() && (text.front() == ' ' || text.back() == ' '));
    if (!quote) {
        return text;
    }
    std::string out = "\"";
    for (char c : text) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    return out + "\"";
}

void write_json(const Tally& tally, const ReportOptions& options, std::int64_t now,
                std::ostream& out) {
    nlohmann::json doc;
    doc["files"] = options.files;
    doc["since"] = options.since ? nlohmann::json(format_utc(*options.since)) : nullptr;
    doc["until"] = format_utc(options.until ? *options.until : now);
    doc["tenants"] = options.tenants;
    doc["first_event"] = event_time(tally, tally.first);
    doc["last_event"] = event_time(tally, tally.last);
    doc["lines"] = tally.lines;
    doc["malformed"] = tally.malformed;
    doc["outside_period"] = tally.outside;
    doc["other_tenants"] = tally.other_tenants;
    add_breakdown_json(tally, tally.all, options.top, doc);
    nlohmann::json by_tenant = nlohmann::json::object();
    for (const auto& [tenant, b] : tally.per_tenant) {
        by_tenant[tenant] = b.events;
    }
    doc["by_tenant"] = by_tenant;
    doc["by_domain"] = counts_json(ranked(tally.all.by_domain), "domain", SIZE_MAX);
    doc["top_recipients"] = recipients_json(tally, options.top);
    doc["top_unknown_clients"] = unknown_clients_json(tally, options.top);
    doc["harvest_clients"] = harvest_json(tally);
    doc["per_tenant"] = per_tenant_json(tally, options.top);
    nlohmann::json hours = nlohmann::json::array();
    for (const auto& [hour, count] : tally.per_hour) {
        hours.push_back({{"hour", format_utc(hour)}, {"count", count}});
    }
    doc["per_hour"] = hours;
    out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void write_csv(const Tally& tally, const ReportOptions& options, std::int64_t now,
               std::ostream& out) {
    out << "section,tenant,key,value,detail\r\n";
    csv_summary(out, tally, options, now);
    csv_breakdown(out, tally, tally.all, "", options.top);
    csv_counts(out, "tenant", "", ranked_by_tenant(tally), SIZE_MAX);
    csv_lists(out, tally, options.top);
    for (const auto& [tenant, events] : ranked_by_tenant(tally)) {
        csv_breakdown(out, tally, tally.per_tenant.at(tenant), tenant, options.top);
    }
}

}  // namespace m365gate::ctl::report
