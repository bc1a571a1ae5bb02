// ctl/status.cpp - `status` (for people and --json for scripts) and `check` (Nagios/Icinga).
//
// Both read the per-tenant state the sync worker publishes in the store and judge it with one
// function, evaluate_tenant(), so the probe and the human view never disagree.
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>

#include "common/days.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

namespace {

// Tenants to show: those in the config (in config order), then any left in the store only.
struct TenantRow {
    std::string name;
    const TenantConfig* config = nullptr;
    std::optional<store::TenantState> state;
    std::vector<std::string> domains;
};

std::vector<TenantRow> collect_rows(const Config& cfg, const store::Snapshot* snapshot) {
    std::vector<TenantRow> rows;
    std::set<std::string> seen;
    for (const auto& tenant : cfg.tenants) {
        TenantRow row;
        row.name = tenant.name;
        row.config = &tenant;
        rows.push_back(std::move(row));
        seen.insert(tenant.name);
    }
    if (snapshot != nullptr) {
        for (const auto& name : snapshot->tenants()) {
            if (seen.insert(name).second) {
                TenantRow row;
                row.name = name;
                rows.push_back(std::move(row));
            }
        }
        for (auto& row : rows) {
            row.state = snapshot->tenant_state(row.name);
            row.domains = snapshot->domains(row.name);
        }
    }
    return rows;
}

std::optional<std::int64_t> config_expiry(const TenantConfig* tenant) {
    if (tenant == nullptr || !tenant->client_secret_expires) {
        return std::nullopt;
    }
    return std::chrono::duration_cast<std::chrono::seconds>(
               tenant->client_secret_expires->time_since_epoch())
        .count();
}

// Expiry and its source: the state (credential file, config or Graph, as the sync worker
// found it), else the config's client_secret_expires.
std::pair<std::int64_t, std::string> secret_expiry(const std::optional<store::TenantState>& state,
                                                   std::optional<std::int64_t> config_expires) {
    if (state && state->secret_expires != 0) {
        return {state->secret_expires, state->secret_expires_source};
    }
    if (config_expires) {
        return {*config_expires, "config"};
    }
    return {0, ""};
}

std::string days_text(std::int64_t days) {
    return std::to_string(days) + (days == 1 ? " day" : " days");
}

// Time since a secret expired: whole days elapsed ("2 days" ago), or the age below a day.
std::string elapsed_phrase(std::int64_t seconds) {
    const std::int64_t days = seconds / seconds_per_day;
    return days >= 1 ? days_text(days) : format_age(seconds);
}

void raise(TenantHealth& health, Health level, std::string problem) {
    health.level = std::max(health.level, level);
    health.problems.push_back(std::move(problem));
}

std::string age_suffix(std::int64_t when, std::int64_t now) {
    if (when == 0) {
        return "";
    }
    if (when > now) {
        return " (in " + format_age(when - now) + ")";
    }
    return " (" + format_age(now - when) + " ago)";
}

nlohmann::json time_json(std::int64_t when) {
    return when == 0 ? nlohmann::json(nullptr) : nlohmann::json(format_time(when));
}

// The kinds of the stored delta links, never the links: they hold delta tokens, not for
// scripts or screens to copy around.
std::vector<std::string> delta_link_kinds(const store::TenantState& st) {
    std::vector<std::string> kinds;
    for (const auto& entry : st.delta_links) {
        kinds.push_back(entry.first);
    }
    return kinds;
}

// "-", or "message [kind code]".
std::string last_error_text(const store::TenantState& st) {
    if (st.last_error.empty()) {
        return "-";
    }
    return st.last_error +
           (st.last_error_kind.empty()
                ? ""
                : " [" + st.last_error_kind +
                      (st.last_error_code.empty() ? "" : " " + st.last_error_code) + "]");
}

// `<client_secret_file>.previous` is there: secret set kept the old secret, and the sync
// worker has not signed in with the new one yet (sync/credential_check.h).
bool previous_kept(const TenantRow& row) {
    struct stat st {};
    return row.config != nullptr &&
           ::lstat((row.config->client_secret_file.string() + ".previous").c_str(), &st) == 0;
}

bool is_disabled(const TenantRow& row) { return row.config != nullptr && !row.config->enabled; }

// A disabled tenant is neither synced nor enforced: nothing about it to watch.
TenantHealth row_health(const Config& cfg, const TenantRow& row, std::int64_t now) {
    return is_disabled(row) ? TenantHealth{}
                            : evaluate_tenant(cfg, row.state, config_expiry(row.config), now);
}

// The mode the milter applies to the tenant's domains; a tenant only in the store has
// [milter]'s.
const char* row_mode(const Config& cfg, const TenantRow& row) {
    return mode_name(row.config != nullptr && row.config->mode ? *row.config->mode
                                                               : cfg.decision.mode);
}

// One tenant of `status --json` (docs/m365gatectl.md has the fields).
nlohmann::json tenant_json(const Config& cfg, const TenantRow& row, std::int64_t now) {
    const auto health = row_health(cfg, row, now);
    const auto [expires, source] = secret_expiry(row.state, config_expiry(row.config));
    nlohmann::json t;
    t["name"] = row.name;
    t["in_config"] = row.config != nullptr;
    t["enabled"] = !is_disabled(row);
    t["mode"] = row_mode(cfg, row);
    const store::TenantState st = row.state.value_or(store::TenantState{});
    t["synced"] = row.state.has_value();
    t["last_attempt"] = time_json(st.last_attempt);
    t["last_attempt_age_seconds"] =
        st.last_attempt ? nlohmann::json(now - st.last_attempt) : nlohmann::json(nullptr);
    t["last_success"] = time_json(st.last_success);
    t["last_success_age_seconds"] =
        st.last_success ? nlohmann::json(now - st.last_success) : nlohmann::json(nullptr);
    t["last_full_sync"] = time_json(st.last_full_sync);
    t["last_sync_kind"] = st.last_sync_kind;
    t["delta_links"] = delta_link_kinds(st);
    t["addresses"] = st.address_count;
    t["objects"] = st.object_count;
    t["domains"] = row.domains;
    t["secret_expires"] = time_json(expires);
    t["secret_expires_source"] = source;
    t["secret_expires_local"] = time_json(st.secret_expires_local);
    t["secret_expires_local_source"] = st.secret_expires_local_source;
    t["secret_expiry_mismatch"] = store::local_expiry_disagrees(st);
    t["secret_expiry_unknown"] = expires == 0;
    t["sign_in_works"] = store::sign_in_works(st);
    t["secret_days_left"] =
        expires ? nlohmann::json(days_left(expires, now)) : nlohmann::json(nullptr);
    t["previous_credential"] = previous_kept(row);
    t["last_error"] = st.last_error;
    t["last_error_kind"] = st.last_error_kind;
    t["last_error_code"] = st.last_error_code;
    t["failing_since"] = time_json(st.failing_since);
    nlohmann::json alerts = nlohmann::json::object();
    for (const auto& [key, when] : st.alerts_sent) {
        alerts[key] = format_time(when);
    }
    t["alerts_sent"] = alerts;
    t["health"] = to_string(health.level);
    t["problems"] = health.problems;
    return t;
}

// One tenant of `status` for people.
void print_tenant(const Config& cfg, const TenantRow& row, std::int64_t now, std::ostream& out) {
    const auto health = row_health(cfg, row, now);
    const auto [expires, source] = secret_expiry(row.state, config_expiry(row.config));
    const store::TenantState st = row.state.value_or(store::TenantState{});
    out << "\ntenant " << row.name << (row.config ? "" : "  (in the store, not in the config)")
        << "\n";
    out << "  health:         " << to_string(health.level)
        << (health.problems.empty() ? "" : " - " + join(health.problems, "; ")) << "\n";
    out << "  mode:           "
        << (is_disabled(row) ? "disabled (enabled = false: not synced, not enforced)"
                             : row_mode(cfg, row))
        << "\n";
    out << "  last attempt:   " << format_time(st.last_attempt) << age_suffix(st.last_attempt, now)
        << "\n";
    out << "  last success:   " << format_time(st.last_success) << age_suffix(st.last_success, now)
        << "\n";
    const std::string kind = st.last_sync_kind.empty() ? "-" : st.last_sync_kind;
    const std::vector<std::string> link_kinds = delta_link_kinds(st);
    out << "  sync:           last " << kind << "; last full " << format_time(st.last_full_sync)
        << age_suffix(st.last_full_sync, now) << "; delta links: "
        << (link_kinds.empty() ? "none (next sync is full)" : join(link_kinds, ", ")) << "\n";
    out << "  addresses:      " << st.address_count << " (" << st.object_count
        << " directory objects)\n";
    out << "  domains:        " << row.domains.size()
        << (row.domains.empty() ? "" : " (" + join(row.domains, ", ") + ")") << "\n";
    if (expires == 0) {
        out << "  secret expires: unknown (no expiry in the credential file, config or Graph: "
               "grant Application.Read.All or set expires)\n";
    } else {
        const std::int64_t left = expires - now;
        out << (source == "certificate" ? "  cert expires:   " : "  secret expires: ")
            << format_time(expires) << " ("
            << (left > 0 ? days_text(days_left(expires, now)) + " left"
                : store::sign_in_works(st)
                    ? "past " + elapsed_phrase(-left) + " ago, but sign-in works: the date is wrong"
                    : "EXPIRED " + elapsed_phrase(-left) + " ago")
            << (source.empty() ? "" : ", from " + source) << ")\n";
    }
    if (store::local_expiry_disagrees(st)) {
        out << "  local expiry:   " << format_time(st.secret_expires_local) << " (from "
            << st.secret_expires_local_source
            << ") DIFFERS from Graph's and is ignored: fix or remove it\n";
    }
    if (previous_kept(row)) {
        out << "  previous secret: kept as " << row.config->client_secret_file.string()
            << ".previous until m365gate-sync signs in with the new one\n";
    }
    out << "  last error:     " << last_error_text(st) << "\n";
    if (st.failing_since != 0) {
        out << "  failing since:  " << format_time(st.failing_since)
            << age_suffix(st.failing_since, now) << "\n";
    }
    out << "  alerts sent:    " << (st.alerts_sent.empty() ? "none" : "") << "\n";
    for (const auto& [key, when] : st.alerts_sent) {
        out << "    " << key << " at " << format_time(when) << "\n";
    }
}

// A local date that is not Graph's; an expiry nobody knows (after an attempt, so a tenant not
// yet synced is not judged on it). Both WARNING.
void evaluate_expiry_notes(TenantHealth& health, const std::optional<store::TenantState>& state,
                           std::int64_t expires) {
    if (state && store::local_expiry_disagrees(*state)) {
        raise(health, Health::warning,
              "local expiry date " + format_time(state->secret_expires_local) + " (from " +
                  state->secret_expires_local_source + ") differs from Graph's " +
                  format_time(state->secret_expires) + ": fix or remove it");
    }
    if (expires == 0 && state && state->last_attempt != 0) {
        raise(health, Health::warning, "expiry unknown: grant Application.Read.All or set expires");
    }
}

}  // namespace

TenantHealth evaluate_tenant(const Config& cfg, const std::optional<store::TenantState>& state,
                             std::optional<std::int64_t> config_expires, std::int64_t now) {
    TenantHealth health;
    const std::int64_t stale_after = cfg.sync.stale_after.count();
    if (!state || state->last_success == 0) {
        std::string problem = "never synced";
        if (state && !state->last_error.empty()) {
            problem += " (last error: " + state->last_error + ")";
        }
        raise(health, Health::critical, problem);
    } else if (now - state->last_success > stale_after) {
        std::string problem = "stale: last successful sync " +
                              format_age(now - state->last_success) + " ago (stale_after " +
                              format_age(stale_after) + ")";
        if (!state->last_error.empty()) {
            problem += ", last error: " + state->last_error;
        }
        raise(health, Health::critical, problem);
    } else if (!state->last_error.empty() || state->last_attempt > state->last_success) {
        // last_error is cleared by every success: it tells a failure within the same second
        // as the last success, which the timestamps alone cannot.
        raise(health, Health::warning,
              "last attempt failed " + format_age(now - state->last_attempt) + " ago" +
                  (state->last_error.empty() ? std::string() : ": " + state->last_error));
    }

    const auto [expires, source] = secret_expiry(state, config_expires);
    evaluate_expiry_notes(health, state, expires);
    if (expires != 0) {
        const std::int64_t left = expires - now;
        const std::string what = source == "certificate" ? "certificate" : "secret";
        if (left <= 0 && state && store::sign_in_works(*state)) {
            raise(health, Health::warning,
                  what + " expiry date " + format_time(expires) + " (from " + source +
                      ") is past but sign-in works: the date is wrong");
        } else if (left <= 0) {
            raise(health, Health::critical, what + " expired " + elapsed_phrase(-left) + " ago");
        } else if (left <= critical_secret_days * seconds_per_day) {
            raise(health, Health::critical, what + " expires in " + format_age(left));
        } else if (left <= warning_secret_days * seconds_per_day) {
            raise(health, Health::warning,
                  what + " expires in " + days_text(days_left(expires, now)));
        }
    }
    return health;
}

int run_status(const Config& cfg, bool json, std::int64_t now, std::ostream& out,
               std::ostream& err) {
    std::string why;
    const auto store = open_store(cfg, why);
    if (!store) {
        err << "m365gatectl: cannot read the store " << cfg.store.path.string() << ": " << why
            << "\n  (has m365gate-sync run yet? is this user in group m365gate?)\n";
        return exit_failure;
    }
    std::optional<store::Snapshot> snapshot;
    try {
        snapshot.emplace(*store);
    } catch (const std::exception& e) {
        err << "m365gatectl: cannot read the store " << cfg.store.path.string() << ": " << e.what()
            << "\n";
        return exit_failure;
    }
    const auto rows = collect_rows(cfg, &*snapshot);
    std::uint64_t file_size = 0;
    try {
        file_size = store->file_size();
    } catch (const std::exception&) {
    }

    if (json) {
        nlohmann::json doc;
        doc["now"] = format_time(now);
        doc["store"] = {{"path", cfg.store.path.string()}, {"file_size", file_size}};
        doc["mode"] = mode_name(cfg.decision.mode);
        doc["tenants"] = nlohmann::json::array();
        for (const auto& row : rows) {
            doc["tenants"].push_back(tenant_json(cfg, row, now));
        }
        out << doc.dump(2) << "\n";
        return exit_ok;
    }

    out << "store:  " << cfg.store.path.string() << " (" << file_size / 1024 << " KiB)"
        << "\nmode:   " << mode_name(cfg.decision.mode) << "\nnow:    " << format_time(now) << "\n";
    for (const auto& row : rows) {
        print_tenant(cfg, row, now, out);
    }
    if (rows.empty()) {
        out << "\nno tenants configured\n";
    }
    return exit_ok;
}

int run_check(const Config& cfg, std::int64_t now, std::ostream& out) {
    std::string why;
    const auto store = open_store(cfg, why);
    if (!store) {
        out << "M365GATE UNKNOWN - cannot read the store " << cfg.store.path.string() << ": " << why
            << "\n";
        return static_cast<int>(Health::unknown);
    }
    if (cfg.tenants.empty()) {
        out << "M365GATE UNKNOWN - no tenants configured\n";
        return static_cast<int>(Health::unknown);
    }
    std::optional<store::Snapshot> snapshot;
    std::vector<TenantRow> rows;
    try {
        snapshot.emplace(*store);
        rows = collect_rows(cfg, &*snapshot);
    } catch (const std::exception& e) {
        out << "M365GATE UNKNOWN - cannot read the store " << cfg.store.path.string() << ": "
            << e.what() << "\n";
        return static_cast<int>(Health::unknown);
    }
    Health worst = Health::ok;
    std::vector<std::string> parts;
    std::vector<std::string> perfdata;
    for (const auto& row : rows) {
        if (row.config == nullptr) {
            continue;  // left in the store after removal from the config: not monitored
        }
        if (is_disabled(row)) {
            parts.push_back(row.name + ": disabled");  // configured, not synced: not monitored
            continue;
        }
        const auto health = evaluate_tenant(cfg, row.state, config_expiry(row.config), now);
        worst = std::max(worst, health.level);
        parts.push_back(row.name + ": " +
                        (health.problems.empty() ? "OK" : join(health.problems, ", ")));
        const store::TenantState st = row.state.value_or(store::TenantState{});
        perfdata.push_back("'" + row.name + "_addresses'=" + std::to_string(st.address_count) +
                           ";;;0");
        if (st.last_success != 0) {
            perfdata.push_back("'" + row.name +
                               "_sync_age'=" + std::to_string(now - st.last_success) + "s;;" +
                               std::to_string(cfg.sync.stale_after.count()));
        }
        const auto [expires, source] = secret_expiry(row.state, config_expiry(row.config));
        (void)source;
        if (expires != 0) {
            perfdata.push_back("'" + row.name +
                               "_secret_days'=" + std::to_string(days_left(expires, now)) + ";" +
                               std::to_string(warning_secret_days) + ":;" +
                               std::to_string(critical_secret_days) + ":");
        }
    }
    out << "M365GATE " << to_string(worst) << " - " << join(parts, "; ") << " | "
        << join(perfdata, " ") << "\n";
    return static_cast<int>(worst);
}

}  // namespace m365gate::ctl
