// sync/alert_texts.h - the words of the alerts, one table per language (alerts.language).
//
// Every text that differs between languages is a template here; sync/alert_message.cpp builds
// the same subject, body and order of sections for every language from one table. A
// placeholder is a name in braces ("{tenant}"), filled by fill_template(). A new language is
// one more table, not a code path.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "sync/alert_wrap.h"

namespace m365gate::sync {

// What a token error code means and what fixes it. cause and action may use {client_id},
// {tenant_id} and {tenant}.
struct TokenErrorText {
    std::string_view code;  // AADSTS number: "7000222"
    std::string_view title;
    std::string_view cause;
    std::string_view action;
};
inline constexpr std::size_t explained_token_errors = 5;

struct AlertTexts {
    std::string_view language;  // "en", "ja": the webhook's "language"
    BodyStyle style;

    // Numbers with a unit: "{n}d", "{n} days".
    std::string_view days, hours, minutes, seconds;
    std::string_view one_day, many_days;
    std::string_view list_separator;

    // Where the expiry date came from (AlertFacts::secret_expires_source).
    std::string_view source_credential_file, source_config, source_graph, source_unknown;
    // milter.on_stale in force, and what milter.on_cache_unavailable does to mail.
    std::string_view on_stale_reject, on_stale_tempfail, on_stale_accept;
    std::string_view unavailable_tempfail, unavailable_accept, unavailable_reject;
    // What happens to mail: {verdict}; {stale} {policy}; {last} {stale} {policy}.
    std::string_view impact_never_synced, impact_when_expired, impact_until_fixed;

    std::string_view label_tenant, label_tenant_id, label_client_id, label_app_name, label_secret;
    // The secret in use, from Graph: {name} quoted, and its key id ("Secret ID" in the portal).
    std::string_view secret_name, secret_key_id;
    std::string_view label_secret_expires, label_days_left, label_expiry_source;
    std::string_view label_missing_permission, label_last_success, label_failing_since,
        label_last_error;
    std::string_view never;

    std::string_view heading_when_expired, heading_impact_now, heading_what_to_do, heading_renew,
        heading_credentials_page, heading_api_permissions_page;

    // Renewal: {client_id} in the first step, {tenant} in the command line.
    std::string_view renew_create, renew_install, renew_command, renew_notice, renew_delete_old;
    std::string_view footer;  // {host} {repeat}
    // A failure that lasts, sent again after alerts.repeat: before the subject; the first
    // paragraph ({repeat}).
    std::string_view reminder_subject, reminder_intro;

    std::string_view expiring_subject, expiring_intro, next_reminder;  // {days} {when} {tenant}
    std::string_view expired_subject, expired_intro;                   // {when} {tenant}

    // {title} {code} ("AADSTS7000222"), {code_number} ("7000222"), {error}, {tenant}.
    std::array<TokenErrorText, explained_token_errors> token_errors;
    std::string_view token_unexplained_title, token_unexplained_cause, token_unexplained_action;
    std::string_view new_secret_refused_subject, new_secret_refused_intro;
    std::string_view sign_in_refused_subject, retrying;

    std::string_view permission_not_named;  // {permission}:
    std::string_view consent_subject, consent_intro, consent_action;

    // What to check, by SyncResult::error_kind; token and consent have notices of their own.
    std::string_view hint_network, hint_tls, hint_store, hint_config, hint_limit,
        hint_separate_notice, hint_graph;
    std::string_view sync_failing_subject, sync_failing_intro, sync_failing_details;  // {after}

    std::string_view sync_kind_delta, sync_kind_full, sync_kind_unknown;
    // {kind} {tenant} {before} {after} {removed} {percent} {allowed}; {what} is the rendered
    // shrink_what_delta or shrink_what_other.
    std::string_view shrink_subject, shrink_what_delta, shrink_what_other, shrink_result,
        shrink_action;

    std::string_view resolved_permission, resolved_sync_failing;  // {permission}
    std::string_view recovered_subject, recovered_intro;          // {tenant} {when} {resolved}

    std::string_view accepted_subject, accepted_intro, accepted_expiry_unknown, accepted_delete_old;

    // list_stale: {tenant} {stale_at} {last} {stale}; the impact {policy}; its recovery.
    std::string_view stale_subject, stale_intro, stale_impact, resolved_stale;
    // m365gatectl alert test: {tenant} {host}.
    std::string_view test_subject, test_intro;

    // {store} {moved_to}; {verdict} is what milter.on_cache_unavailable does to mail.
    std::string_view store_damaged_subject, store_damaged_intro, store_damaged_impact,
        store_damaged_action;

    // secret_expiry_mismatch: {tenant} {local} {local_source} {graph}; secret_expiry_unknown:
    // {tenant}.
    std::string_view label_graph_date, label_local_date;
    std::string_view mismatch_subject, mismatch_intro, mismatch_action;
    std::string_view unknown_subject, unknown_intro, unknown_action;
    // Certificate credentials (client_certificate_file): the expiry alerts' words ({days}
    // {when} {tenant}), the expiry source "certificate", the renewal ({tenant} {client_id}),
    // and the token errors of client assertions ("certificate_expired": m365gate's own code
    // for an AADSTS700027 while the certificate's notAfter has passed).
    std::string_view cert_expiring_subject, cert_expiring_intro, cert_expired_subject,
        cert_expired_intro, source_certificate, heading_renew_certificate, renew_certificate;
    // After a reload with a new certificate: {title} {code}; {tenant}.
    std::string_view cert_new_refused_subject, cert_new_refused_intro, cert_accepted_subject,
        cert_accepted_intro, cert_accepted_delete_old;
    std::array<TokenErrorText, 4> certificate_token_errors;
};

const AlertTexts& english_texts();
const AlertTexts& japanese_texts();
// alerts.language: "ja" is Japanese, anything else English (the config accepts only en, ja).
const AlertTexts& alert_texts(std::string_view language);

using TemplateValues = std::initializer_list<std::pair<std::string_view, std::string_view>>;
// `text` with every "{name}" of `values` replaced in one pass (a value is never scanned for
// placeholders itself); unknown names stay as written.
std::string fill_template(std::string_view text, TemplateValues values);

}  // namespace m365gate::sync
