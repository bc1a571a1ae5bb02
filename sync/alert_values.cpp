// sync/alert_values.cpp - the values an alert quotes, in the words of its language.
#include "sync/alert_values.h"

#include "common/days.h"
#include "common/text.h"
#include "sync/alert_message.h"

namespace m365gate::sync {

std::string count_text(std::string_view unit, long long n) {
    return fill_template(unit, {{"n", std::to_string(n)}});
}

std::string duration_text(Seconds d, const AlertTexts& t) {
    const auto s = d.count();
    if (s >= 2 * seconds_per_day && s % seconds_per_day == 0) {
        return count_text(t.days, s / seconds_per_day);
    }
    if (s > 0 && s % 3600 == 0) {
        return count_text(t.hours, s / 3600);
    }
    if (s > 0 && s % 60 == 0) {
        return count_text(t.minutes, s / 60);
    }
    return count_text(t.seconds, s);
}

std::string days_text(int days, const AlertTexts& t) {
    return count_text(days == 1 ? t.one_day : t.many_days, days);
}

std::string_view source_text(const std::string& source, const AlertTexts& t) {
    if (source == "credential_file") {
        return t.source_credential_file;
    }
    if (source == "certificate") {
        return t.source_certificate;
    }
    if (source == "config") {
        return t.source_config;
    }
    if (source == "graph") {
        return t.source_graph;
    }
    return t.source_unknown;
}

std::string_view on_stale_text(Verdict v, const AlertTexts& t) {
    switch (v) {
        case Verdict::reject:
            return t.on_stale_reject;
        case Verdict::tempfail:
            return t.on_stale_tempfail;
        case Verdict::accept:
            return t.on_stale_accept;
    }
    return {};
}

std::string_view unavailable_text(Verdict v, const AlertTexts& t) {
    switch (v) {
        case Verdict::tempfail:
            return t.unavailable_tempfail;
        case Verdict::accept:
            return t.unavailable_accept;
        case Verdict::reject:
            return t.unavailable_reject;
    }
    return {};
}

std::string_view sync_kind_phrase(const std::string& kind, const AlertTexts& t) {
    if (kind == "delta") {
        return t.sync_kind_delta;
    }
    if (kind == "full") {
        return t.sync_kind_full;
    }
    return t.sync_kind_unknown;
}

std::string_view error_kind_hint(const std::string& kind, const AlertTexts& t) {
    if (kind == "network") {
        return t.hint_network;
    }
    if (kind == "tls") {
        return t.hint_tls;
    }
    if (kind == "store") {
        return t.hint_store;
    }
    if (kind == "config") {
        return t.hint_config;
    }
    if (kind == "limit") {
        return t.hint_limit;
    }
    if (kind == "token" || kind == "consent") {
        return t.hint_separate_notice;
    }
    return t.hint_graph;
}

const TokenErrorText* find_token_text(const AlertTexts& t, std::string_view code) {
    for (const auto& e : t.token_errors) {
        if (code == e.code) {
            return &e;
        }
    }
    for (const auto& e : t.certificate_token_errors) {
        if (code == e.code) {
            return &e;
        }
    }
    return nullptr;
}

bool fixed_by_new_secret(std::string_view code) { return code == "7000222" || code == "7000215"; }

const std::string& alert_language(const Config& cfg, const TenantConfig& tenant) {
    return tenant.language.empty() ? cfg.alerts.language : tenant.language;
}

std::string portal_url(const AlertConfig& alerts, const TenantConfig& tenant) {
    if (!alerts.portal_url.empty()) {
        return alerts.portal_url;
    }
    std::string_view host = tenant.login_endpoint;
    constexpr std::string_view scheme = "https://";
    if (host.compare(0, scheme.size(), scheme) == 0) {
        host.remove_prefix(scheme.size());
    }
    host = host.substr(0, host.find_first_of("/:"));
    const std::string name = ascii_lower(host);
    if (name == "login.microsoftonline.us") {
        return "https://portal.azure.us";  // Azure Government
    }
    if (name == "login.chinacloudapi.cn" || name == "login.partner.microsoftonline.cn") {
        return "https://portal.azure.cn";  // operated by 21Vianet
    }
    return "https://entra.microsoft.com";
}

namespace {

std::string registered_app_page(std::string_view portal, std::string_view page,
                                std::string_view client_id) {
    return std::string(portal) + "/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/" +
           std::string(page) + "/appId/" + printable(client_id, 64);
}

}  // namespace

std::string credentials_url(std::string_view portal, std::string_view client_id) {
    return registered_app_page(portal, "Credentials", client_id);
}

std::string api_permissions_url(std::string_view portal, std::string_view client_id) {
    return registered_app_page(portal, "CallAnAPI", client_id);
}

}  // namespace m365gate::sync
