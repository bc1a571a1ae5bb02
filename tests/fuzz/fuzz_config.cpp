// tests/fuzz/fuzz_config.cpp - the m365gate.toml parser (common/config.h parse_config) and the
// value parsers it uses (durations, sizes, dates).
//
// Input: the whole file. Invariants (abort() on violation):
//   - parse_config() returns a Config or throws ConfigError, nothing else, and the message
//     starts with the file name (every message says where);
//   - an accepted Config is valid the way the milter relies on: reply codes and statuses of the
//     right class (reply.h assumes it), tenant names [a-z0-9._-]{1,64} and unique, domains
//     lowercased without a trailing dot and owned by one tenant, secret_days sorted descending;
//   - parse_datetime() of what format_datetime_utc() printed gives the same time back;
//     parse_duration()/parse_size() of their own canonical output give the same value.
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "common/config.h"
#include "decision/decision.h"
#include "fuzz_check.h"

namespace {

using namespace m365gate;

const std::string file_name = "/etc/m365gate/fuzz.toml";

bool tenant_name_ok(const std::string& n) {
    if (n.empty() || n.size() > 64) return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    });
}

bool code_ok(const std::string& code, char cls) {
    return code.size() == 3 && code[0] == cls && code[1] >= '0' && code[1] <= '9' &&
           code[2] >= '0' && code[2] <= '9';
}

void check_config(const Config& cfg) {
    const DecisionSettings& d = cfg.decision;
    FUZZ_CHECK(code_ok(d.reject.code, '5'), d.reject.code);
    FUZZ_CHECK(code_ok(d.tempfail.code, '4'), d.tempfail.code);
    FUZZ_CHECK(d.reject.status.size() >= 5 && d.reject.status.compare(0, 2, "5.") == 0,
               d.reject.status);
    FUZZ_CHECK(d.tempfail.status.size() >= 5 && d.tempfail.status.compare(0, 2, "4.") == 0,
               d.tempfail.status);
    FUZZ_CHECK(d.stale_after == cfg.sync.stale_after, "decision.stale_after");
    for (const auto& local : d.always_accept) {
        FUZZ_CHECK(
            std::none_of(local.begin(), local.end(), [](char c) { return c >= 'A' && c <= 'Z'; }),
            local);
    }
    FUZZ_CHECK(std::is_sorted(cfg.alerts.secret_days.rbegin(), cfg.alerts.secret_days.rend()),
               "secret_days not sorted descending");
    FUZZ_CHECK(cfg.sync.max_shrink >= 0.0 && cfg.sync.max_shrink <= 1.0, "max_shrink");
    std::set<std::string> names;
    std::set<std::string> domains;
    for (const auto& t : cfg.tenants) {
        FUZZ_CHECK(tenant_name_ok(t.name), t.name);
        FUZZ_CHECK(names.insert(t.name).second, "duplicate tenant " + t.name);
        FUZZ_CHECK(cfg.find_tenant(t.name) == &t, t.name);
        for (const auto& dom : t.domains) {
            FUZZ_CHECK(!dom.empty() && dom.back() != '.', dom);
            FUZZ_CHECK(
                std::none_of(dom.begin(), dom.end(), [](char c) { return c >= 'A' && c <= 'Z'; }),
                dom);
            FUZZ_CHECK(domains.insert(dom).second, "domain of two tenants: " + dom);
        }
        FUZZ_CHECK(t.login_endpoint.empty() || t.login_endpoint.back() != '/', t.login_endpoint);
        FUZZ_CHECK(t.graph_endpoint.empty() || t.graph_endpoint.back() != '/', t.graph_endpoint);
    }
    // What the milter computes from it must not throw either.
    const auto policies = decision::tenant_policies(cfg);
    FUZZ_CHECK(policies.size() == cfg.tenants.size(), "tenant_policies");
}

void check_scalars(std::string_view text) {
    if (const auto t = parse_datetime(text)) {
        const std::string printed = format_datetime_utc(*t);
        // Years 0000-9999 print as 20 bytes and must read back; an offset can push a time
        // outside them, where the printed form is not a date parse_datetime() accepts.
        if (printed.size() == 20 && printed[0] != '-') {
            const auto again = parse_datetime(printed);
            FUZZ_CHECK(again && *again == *t, printed);
        }
    }
    if (const auto d = parse_duration(text)) {
        FUZZ_CHECK(d->count() >= 0, text);
        const auto again = parse_duration(std::to_string(d->count()) + "s");
        FUZZ_CHECK(again && *again == *d, text);
    }
    if (const auto n = parse_size(text)) {
        const auto again = parse_size(std::to_string(*n));
        FUZZ_CHECK(again && *again == *n, text);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    check_scalars(text.substr(0, 64));
    try {
        const Config cfg = parse_config(text, file_name);
        check_config(cfg);
    } catch (const ConfigError& e) {
        const std::string_view what = e.what();
        FUZZ_CHECK(what.compare(0, file_name.size() + 1, file_name + ":") == 0, what);
    }
    return 0;
}
