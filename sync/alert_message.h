// sync/alert_message.h - every alert: subject, body and webhook JSON, in English or Japanese
// (alerts.language). The words are in sync/alert_texts.h, the line breaking in
// sync/alert_wrap.h, the RFC 5322 message that carries an alert in sync/alert_mail.h.
//
// Pure: no I/O, no clock, no randomness (the caller passes the time zone and the host name),
// so every text is unit-tested byte for byte.
// Nothing here ever sees a secret: AlertFacts has no field that could hold one, and error
// text from the network goes through printable() before it is quoted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/zone.h"

namespace m365gate::sync {

enum class AlertKind {
    secret_expiring,  // alerts.secret_days threshold crossed
    secret_expired,
    token_refused,    // the token endpoint refused the credentials (AADSTS code)
    consent_missing,  // Graph 403: permission or admin consent missing
    sync_failing,     // no successful sync for alerts.sync_failure_after
    shrink_refused,   // the mass-deletion guard kept the previous list
    recovered,        // a tenant that was alerted about syncs again
    secret_accepted,  // after a reload with a new secret: Entra accepted it
    store_damaged,    // the store failed its check: moved aside, every list rebuilt (no tenant)
    secret_expiry_mismatch,  // the credential file's or config's date is not Graph's
    secret_expiry_unknown,   // no date from Graph, the credential file or the config
    list_stale,              // the last successful sync is older than sync.stale_after
    test,                    // m365gatectl alert test: the channels work
};
const char* to_string(AlertKind kind);  // "secret_expiring", ... (webhook "event", log)

enum class AlertSeverity { info, warning, error };
const char* to_string(AlertSeverity severity);
AlertSeverity severity_of(AlertKind kind);

// What the texts are built from. Fields that do not apply to a kind stay at their defaults.
struct AlertFacts {
    AlertKind kind = AlertKind::secret_expiring;
    std::int64_t now = 0;
    std::int64_t secret_expires = 0;     // 0 = unknown
    std::string secret_expires_source;   // "credential_file" | "config" | "graph" | ""
    int days_left = 0;                   // secret_expiring: ceil((expires - now) / 1 day)
    int threshold_days = 0;              // secret_expiring: the alerts.secret_days threshold
    std::string error_kind;              // SyncResult::error_kind of the failure
    std::string error_code;              // token_refused: AADSTS number ("7000222")
    std::string error_message;           // SyncResult::message (made printable here)
    std::string missing_permission;      // consent_missing
    bool after_secret_change = false;    // token_refused reported right after a reload
    std::int64_t failing_since = 0;      // sync_failing
    std::int64_t last_success = 0;       // 0 = never
    std::uint64_t addresses_before = 0;  // shrink_refused
    std::uint64_t addresses_after = 0;
    std::string sync_kind;                    // shrink_refused: "full" | "delta" ("" = not known)
    std::vector<std::string> resolved;        // recovered: alert keys that had been sent
    std::string store_path;                   // store_damaged: the store directory
    std::string moved_to;                     // store_damaged: where the damaged files went
    std::int64_t secret_expires_local = 0;    // secret_expiry_mismatch: the ignored date
    std::string secret_expires_local_source;  // "credential_file" | "config"
    // From Graph when it could be read (TenantState): the application's display name, and
    // the display name and key id ("Secret ID" in the portal) of the secret in use.
    std::string app_name;
    std::string secret_name;
    std::string secret_key_id;
    bool reminder = false;  // the same failure again, alerts.repeat after the last notice
};

struct Alert {
    AlertKind kind = AlertKind::secret_expiring;
    AlertSeverity severity = AlertSeverity::warning;
    std::string subject;  // UTF-8, one line
    std::string body;     // UTF-8, '\n' line ends, lines wrapped for reading
    std::string json;     // the webhook payload (docs/alerts.md has the schema)
};

// `host` names the gateway in the text ("m365gate-sync on mx1.example.net"). The language is
// the tenant's `language`, else alerts.language; "en+ja" is both in one alert, Japanese first.
Alert build_alert(const Config& cfg, const TenantConfig& tenant, const AlertFacts& facts,
                  const TimeZone& tz, const std::string& host);

// The share of `before` that a shrink to `after` removes, in whole percent rounded to the
// nearest (2 of 3 is 67): the one figure the guard's log line, the stored error and the alert
// text all show. 0 when nothing is removed.
int shrink_percent(std::uint64_t before, std::uint64_t after);
// sync.max_shrink (a fraction) in whole percent, rounded to the nearest.
int fraction_percent(double fraction);

// One sentence in English for the log: what happened, never what to do.
std::string log_summary(const TenantConfig& tenant, const AlertFacts& facts);

// The AADSTS codes that are configuration or credential problems the admin must fix (alert at
// once) as opposed to transient ones that only count towards sync_failing.
bool is_permanent_token_error(std::string_view aadsts_code);

// The language of a tenant's alerts: its own, else alerts.language.
const std::string& alert_language(const Config& cfg, const TenantConfig& tenant);

// The admin portal for the tenant's cloud, "https://host" without a trailing slash:
// alerts.portal_url when set, else from login_endpoint (login.microsoftonline.us ->
// https://portal.azure.us; login.chinacloudapi.cn, login.partner.microsoftonline.cn ->
// https://portal.azure.cn; anything else -> https://entra.microsoft.com).
std::string portal_url(const AlertConfig& alerts, const TenantConfig& tenant);
// <portal>/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/<id>
std::string credentials_url(std::string_view portal, std::string_view client_id);
// The same blade's API permissions page (~/CallAnAPI/...), where admin consent is granted.
std::string api_permissions_url(std::string_view portal, std::string_view client_id);

}  // namespace m365gate::sync
