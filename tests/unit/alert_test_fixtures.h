// Fixtures shared by the alert text and alert mail tests: one configuration, one tenant, one
// expiring secret, and a splitter for rendered text.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/zone.h"
#include "sync/alert_message.h"

namespace m365gate::sync::test {

inline constexpr std::int64_t jan31_2027 = 1801353600;  // 2027-01-31T00:00:00Z, a Sunday
inline constexpr std::int64_t day = 86400;

inline Config make_config(const std::string& language) {
    Config cfg;
    cfg.alerts.language = language;
    cfg.alerts.timezone = "Asia/Tokyo";
    cfg.alerts.mail_to = {"postmaster@example.net"};
    return cfg;
}

inline TenantConfig make_tenant() {
    TenantConfig t;
    t.name = "contoso";
    t.tenant_id = "11111111-1111-1111-1111-111111111111";
    t.client_id = "22222222-2222-2222-2222-222222222222";
    t.alert_mail_to = {"it@contoso.example", "POSTMASTER@example.net"};
    return t;
}

inline TimeZone tokyo() {
    auto tz = TimeZone::load("Asia/Tokyo");
    REQUIRE(tz);
    return *tz;
}

inline AlertFacts expiring_facts() {
    AlertFacts f;
    f.kind = AlertKind::secret_expiring;
    f.now = jan31_2027 - 7 * day;
    f.secret_expires = jan31_2027;
    f.secret_expires_source = "credential_file";
    f.days_left = 7;
    f.threshold_days = 7;
    f.last_success = f.now - 300;
    return f;
}

inline std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto nl = text.find('\n', start);
        if (nl == std::string::npos) {
            nl = text.size();
        }
        out.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}

}  // namespace m365gate::sync::test
