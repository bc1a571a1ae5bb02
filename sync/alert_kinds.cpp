// sync/alert_kinds.cpp - what each alert kind is called and how grave it is, the one-line
// summary for the log, the percentages of a refused shrink, and which token errors need the
// admin: the parts of sync/alert_message.h that know no language but English.
#include <algorithm>

#include "sync/alert_message.h"
#include "sync/alert_texts.h"
#include "sync/alert_values.h"

namespace m365gate::sync {

AlertSeverity severity_of(AlertKind kind) {
    switch (kind) {
        case AlertKind::secret_expiring:
        case AlertKind::shrink_refused:
        case AlertKind::secret_expiry_mismatch:
        case AlertKind::secret_expiry_unknown:
            return AlertSeverity::warning;
        case AlertKind::recovered:
        case AlertKind::secret_accepted:
        case AlertKind::test:
            return AlertSeverity::info;
        default:
            return AlertSeverity::error;
    }
}

const char* to_string(AlertKind kind) {
    switch (kind) {
        case AlertKind::secret_expiring:
            return "secret_expiring";
        case AlertKind::secret_expired:
            return "secret_expired";
        case AlertKind::token_refused:
            return "token_refused";
        case AlertKind::consent_missing:
            return "consent_missing";
        case AlertKind::sync_failing:
            return "sync_failing";
        case AlertKind::shrink_refused:
            return "shrink_refused";
        case AlertKind::recovered:
            return "recovered";
        case AlertKind::secret_accepted:
            return "secret_accepted";
        case AlertKind::store_damaged:
            return "store_damaged";
        case AlertKind::list_stale:
            return "list_stale";
        case AlertKind::secret_expiry_mismatch:
            return "secret_expiry_mismatch";
        case AlertKind::secret_expiry_unknown:
            return "secret_expiry_unknown";
        case AlertKind::test:
            return "test";
    }
    return "unknown";
}

const char* to_string(AlertSeverity severity) {
    switch (severity) {
        case AlertSeverity::info:
            return "info";
        case AlertSeverity::warning:
            return "warning";
        case AlertSeverity::error:
            return "error";
    }
    return "error";
}

int shrink_percent(std::uint64_t before, std::uint64_t after) {
    if (before == 0 || after >= before) {
        return 0;
    }
    const std::uint64_t removed = before - after;
    // Integer round-half-up of removed * 100 / before (no floating point: the log line and
    // the mail must never differ in the last digit).
    return static_cast<int>((removed * 200 + before) / (2 * before));
}

int fraction_percent(double fraction) { return static_cast<int>(fraction * 100.0 + 0.5); }

bool is_permanent_token_error(std::string_view code) {
    static const char* const permanent[] = {
        "7000222", "7000215", "7000218", "700016",  "90002",  "900023",
        "90038",   "7000112", "70011",   "1002012", "500011", "53003",
        "9001023", "50194",   "700027",  "700024",  "700023", "certificate_expired"};
    return std::any_of(std::begin(permanent), std::end(permanent),
                       [&](const char* p) { return code == p; });
}

std::string log_summary(const TenantConfig& tenant, const AlertFacts& f) {
    const bool cert = !tenant.client_certificate_file.empty();
    switch (f.kind) {
        case AlertKind::secret_expiring:
            return std::string(cert ? "certificate" : "client secret") + " expires in " +
                   days_text(f.days_left, english_texts());
        case AlertKind::secret_expired:
            return cert ? "certificate has expired" : "client secret has expired";
        case AlertKind::token_refused: {
            const TokenErrorText* t = find_token_text(english_texts(), f.error_code);
            return std::string(!f.after_secret_change ? "token request refused: "
                               : cert                 ? "new certificate refused: "
                                                      : "new client secret refused: ") +
                   (t != nullptr ? std::string(t->title) : "AADSTS" + f.error_code);
        }
        case AlertKind::consent_missing:
            return "Graph permission or admin consent missing";
        case AlertKind::sync_failing:
            return "no successful sync for too long";
        case AlertKind::shrink_refused:
            return std::string(sync_kind_phrase(f.sync_kind, english_texts())) +
                   " would shrink the list too much; not applied";
        case AlertKind::recovered:
            return "tenant syncs again";
        case AlertKind::secret_accepted:
            return cert ? "new certificate accepted" : "new client secret accepted";
        case AlertKind::store_damaged:
            return "recipient store damaged; moved aside and rebuilt by a full sync";
        case AlertKind::list_stale:
            return "recipient list is stale (no successful sync for sync.stale_after)";
        case AlertKind::test:
            return "test message (m365gatectl alert test)";
        case AlertKind::secret_expiry_mismatch:
            return "local secret expiry date differs from Graph's; Graph's is used";
        case AlertKind::secret_expiry_unknown:
            return "secret expiry unknown: grant Application.Read.All or set expires";
    }
    return {};
}

}  // namespace m365gate::sync
