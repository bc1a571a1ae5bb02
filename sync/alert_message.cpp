// sync/alert_message.cpp - the alert of each kind, built the same way in every language from
// the language's table of texts (sync/alert_texts.h) and the values in its words
// (sync/alert_values.h), and its webhook JSON.
#include "sync/alert_message.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "sync/alert_mail.h"
#include "sync/alert_texts.h"
#include "sync/alert_values.h"
#include "sync/alert_wrap.h"

namespace m365gate::sync {
namespace {

struct Context {
    const Config& cfg;
    const TenantConfig& tenant;
    const AlertFacts& facts;
    const TimeZone& tz;
    const std::string& host;
    const AlertTexts& texts;
    const std::string portal;  // portal_url(): the tenant's cloud
};

std::string when(const Context& c, std::int64_t t) { return format_local(c.tz, t); }

// "2027-01-31 09:00 JST" for subjects (no zone name).
std::string when_short(const Context& c, std::int64_t t) {
    const std::string full = format_local(c.tz, t);
    const auto paren = full.find(" (");
    return paren == std::string::npos ? full : full.substr(0, paren);
}

std::string subject_prefix(const Context& c) { return "[m365gate] " + c.tenant.name + ": "; }

// When the list turns (or turned) stale: the last success plus sync.stale_after.
std::int64_t stale_at(const Context& c) {
    return c.facts.last_success + c.cfg.sync.stale_after.count();
}

// What happens to mail: `future` for a secret that has not expired yet.
std::string impact_text(const Context& c, bool future) {
    const AlertTexts& t = c.texts;
    if (!future && c.facts.last_success == 0) {
        return fill_template(
            t.impact_never_synced,
            {{"verdict", unavailable_text(c.cfg.decision.on_cache_unavailable, t)}});
    }
    const std::string stale = duration_text(c.cfg.sync.stale_after, t);
    const std::string_view policy = on_stale_text(c.cfg.decision.on_stale, t);
    if (future) {
        return fill_template(t.impact_when_expired, {{"stale", stale}, {"policy", policy}});
    }
    return fill_template(t.impact_until_fixed, {{"last", when_short(c, c.facts.last_success)},
                                                {"stale", stale},
                                                {"stale_at", when_short(c, stale_at(c))},
                                                {"policy", policy}});
}

void identity(BodyWriter& b, const Context& c) {
    b.field(c.texts.label_tenant, c.tenant.name);
    b.field(c.texts.label_tenant_id, c.tenant.tenant_id);
    if (!c.facts.app_name.empty()) {
        b.field(c.texts.label_app_name, header_value(c.facts.app_name, 200));
    }
    b.field(c.texts.label_client_id, c.tenant.client_id);
}

// The secret in use as Graph names it: "gateway 2027" (Secret ID 5c1f...). Nothing when
// Graph could not be read.
void secret_identity(BodyWriter& b, const Context& c) {
    std::string value;
    if (!c.facts.secret_name.empty()) {
        value =
            fill_template(c.texts.secret_name, {{"name", header_value(c.facts.secret_name, 200)}});
    }
    if (!c.facts.secret_key_id.empty()) {
        value += (value.empty() ? std::string() : std::string(c.texts.list_separator)) +
                 fill_template(c.texts.secret_key_id,
                               {{"key_id", printable(c.facts.secret_key_id, 64)}});
    }
    if (!value.empty()) {
        b.field(c.texts.label_secret, value);
    }
}

void expiry_fields(BodyWriter& b, const Context& c, bool with_days_left) {
    secret_identity(b, c);
    b.field(c.texts.label_secret_expires, when(c, c.facts.secret_expires));
    if (with_days_left) {
        b.field(c.texts.label_days_left, days_text(c.facts.days_left, c.texts));
    }
    b.field(c.texts.label_expiry_source, source_text(c.facts.secret_expires_source, c.texts));
}

void credentials_page(BodyWriter& b, const Context& c) {
    b.heading(c.texts.heading_credentials_page);
    b.line("  " + credentials_url(c.portal, c.tenant.client_id));
    b.blank();
}

void api_permissions_page(BodyWriter& b, const Context& c) {
    b.heading(c.texts.heading_api_permissions_page);
    b.line("  " + api_permissions_url(c.portal, c.tenant.client_id));
    b.blank();
}

bool uses_certificate(const Context& c) { return !c.tenant.client_certificate_file.empty(); }

void renew_steps(BodyWriter& b, const Context& c) {
    const AlertTexts& t = c.texts;
    if (uses_certificate(c)) {
        b.heading(t.heading_renew_certificate);
        b.paragraph(fill_template(t.renew_certificate,
                                  {{"tenant", c.tenant.name}, {"client_id", c.tenant.client_id}}),
                    "  ");
        credentials_page(b, c);
        return;
    }
    b.heading(t.heading_renew);
    b.step("1.", fill_template(t.renew_create, {{"client_id", c.tenant.client_id}}));
    b.step("2.", t.renew_install);
    b.line(fill_template(t.renew_command, {{"tenant", c.tenant.name}}));
    b.step("3.", t.renew_notice);
    b.step("4.", t.renew_delete_old);
    b.blank();
    credentials_page(b, c);
}

void footer(BodyWriter& b, const Context& c) {
    b.paragraph(
        fill_template(c.texts.footer,
                      {{"host", c.host}, {"repeat", duration_text(c.cfg.alerts.repeat, c.texts)}}));
}

// ---- token errors -------------------------------------------------------------------------

std::string fill_tenant(const Context& c, std::string_view text) {
    return fill_template(text, {{"client_id", c.tenant.client_id},
                                {"tenant_id", c.tenant.tenant_id},
                                {"tenant", c.tenant.name}});
}

std::string quoted_error(const Context& c) { return printable(c.facts.error_message, 300); }

// ---- one function per kind ----------------------------------------------------------------

void secret_expiring(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    const std::string days = days_text(c.facts.days_left, t);
    subject = subject_prefix(c) +
              fill_template(uses_certificate(c) ? t.cert_expiring_subject : t.expiring_subject,
                            {{"days", days}, {"when", when_short(c, c.facts.secret_expires)}});
    b.paragraph(fill_template(uses_certificate(c) ? t.cert_expiring_intro : t.expiring_intro,
                              {{"tenant", c.tenant.name}, {"days", days}}));
    identity(b, c);
    expiry_fields(b, c, true);
    b.blank();
    b.heading(t.heading_when_expired);
    b.paragraph(impact_text(c, true), "  ");
    renew_steps(b, c);
    int next = 0;
    for (int d : c.cfg.alerts.secret_days) {
        if (d < c.facts.threshold_days && d > next) {
            next = d;
        }
    }
    if (next > 0) {
        b.paragraph(fill_template(t.next_reminder, {{"days", days_text(next, t)}}));
    }
}

void secret_expired(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    subject = subject_prefix(c) +
              fill_template(uses_certificate(c) ? t.cert_expired_subject : t.expired_subject,
                            {{"when", when_short(c, c.facts.secret_expires)}});
    b.paragraph(fill_template(uses_certificate(c) ? t.cert_expired_intro : t.expired_intro,
                              {{"tenant", c.tenant.name}}));
    identity(b, c);
    expiry_fields(b, c, false);
    b.blank();
    b.heading(t.heading_impact_now);
    b.paragraph(impact_text(c, false), "  ");
    renew_steps(b, c);
}

void token_refused(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    const TokenErrorText* known = find_token_text(t, c.facts.error_code);
    // m365gate's own codes (certificate_expired) are not AADSTS numbers.
    const bool numeric = c.facts.error_code.find_first_not_of("0123456789") == std::string::npos;
    const std::string code = (numeric ? "AADSTS" : "") + c.facts.error_code;
    const std::string_view title = known != nullptr ? known->title : t.token_unexplained_title;
    subject =
        subject_prefix(c) + fill_template(!c.facts.after_secret_change ? t.sign_in_refused_subject
                                          : uses_certificate(c)        ? t.cert_new_refused_subject
                                                                : t.new_secret_refused_subject,
                                          {{"title", title}, {"code", code}});
    if (c.facts.after_secret_change) {
        b.paragraph(fill_template(
            uses_certificate(c) ? t.cert_new_refused_intro : t.new_secret_refused_intro,
            {{"tenant", c.tenant.name}}));
    }
    b.paragraph(known != nullptr ? fill_tenant(c, known->cause)
                                 : fill_template(t.token_unexplained_cause,
                                                 {{"code", code}, {"error", quoted_error(c)}}));
    identity(b, c);
    secret_identity(b, c);
    if (c.facts.secret_expires != 0) {
        b.field(t.label_secret_expires, when(c, c.facts.secret_expires));
    }
    b.blank();
    b.heading(t.heading_impact_now);
    b.paragraph(impact_text(c, false), "  ");
    b.heading(t.heading_what_to_do);
    b.paragraph(known != nullptr ? fill_tenant(c, known->action)
                                 : fill_template(t.token_unexplained_action,
                                                 {{"code_number", c.facts.error_code}}),
                "  ");
    b.paragraph(t.retrying, "  ");
    if (known == nullptr || fixed_by_new_secret(known->code)) {
        renew_steps(b, c);
    } else {
        credentials_page(b, c);
    }
}

void consent_missing(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    const std::string permission = c.facts.missing_permission.empty()
                                       ? std::string(t.permission_not_named)
                                       : printable(c.facts.missing_permission, 80);
    subject = subject_prefix(c) + fill_template(t.consent_subject, {{"permission", permission}});
    b.paragraph(fill_template(t.consent_intro, {{"permission", permission}}));
    identity(b, c);
    b.field(t.label_missing_permission, permission);
    b.blank();
    b.heading(t.heading_impact_now);
    b.paragraph(impact_text(c, false), "  ");
    b.heading(t.heading_what_to_do);
    b.paragraph(fill_template(t.consent_action, {{"permission", permission}}), "  ");
    api_permissions_page(b, c);
}

// The tenant, its last success, since when it fails, and the last error; then a blank line.
void failure_fields(BodyWriter& b, const Context& c) {
    const AlertTexts& t = c.texts;
    identity(b, c);
    b.field(t.label_last_success,
            c.facts.last_success != 0 ? when(c, c.facts.last_success) : std::string(t.never));
    if (c.facts.failing_since != 0) {
        b.field(t.label_failing_since, when(c, c.facts.failing_since));
    }
    std::string last_error = c.facts.error_kind;
    if (!c.facts.error_code.empty()) {
        last_error += " " + printable(c.facts.error_code, 64);
    }
    if (!c.facts.error_message.empty()) {
        last_error += ": " + quoted_error(c);
    }
    if (!last_error.empty()) {
        b.field(t.label_last_error, last_error);
    }
    b.blank();
}

void sync_failing(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    const std::string after = duration_text(c.cfg.alerts.sync_failure_after, t);
    subject = subject_prefix(c) + fill_template(t.sync_failing_subject, {{"after", after}});
    b.paragraph(fill_template(t.sync_failing_intro, {{"tenant", c.tenant.name}, {"after", after}}));
    failure_fields(b, c);
    b.heading(t.heading_impact_now);
    b.paragraph(impact_text(c, false), "  ");
    b.heading(t.heading_what_to_do);
    b.paragraph(error_kind_hint(c.facts.error_kind, t), "  ");
    b.paragraph(fill_template(t.sync_failing_details, {{"tenant", c.tenant.name}}), "  ");
}

void shrink_refused(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    const std::uint64_t before = c.facts.addresses_before;
    const std::uint64_t after = c.facts.addresses_after;
    const std::string before_text = std::to_string(before);
    const std::string after_text = std::to_string(after);
    const std::string removed = std::to_string(before > after ? before - after : 0);
    const std::string_view kind = sync_kind_phrase(c.facts.sync_kind, t);
    subject = subject_prefix(c) +
              fill_template(t.shrink_subject,
                            {{"kind", kind}, {"removed", removed}, {"before", before_text}});
    const std::string what =
        fill_template(c.facts.sync_kind == "delta" ? t.shrink_what_delta : t.shrink_what_other,
                      {{"kind", kind}, {"tenant", c.tenant.name}, {"after", after_text}});
    b.paragraph(fill_template(
        t.shrink_result, {{"what", what},
                          {"removed", removed},
                          {"percent", std::to_string(shrink_percent(before, after))},
                          {"before", before_text},
                          {"allowed", std::to_string(fraction_percent(c.cfg.sync.max_shrink))}}));
    identity(b, c);
    b.blank();
    b.heading(t.heading_what_to_do);
    b.paragraph(t.shrink_action, "  ");
}

std::string resolved_text(const Context& c) {
    std::string out;
    for (const auto& key : c.facts.resolved) {
        std::string item;
        if (key.rfind("token:", 0) == 0) {
            item = "AADSTS" + key.substr(6);
        } else if (key.rfind("consent:", 0) == 0) {
            item = fill_template(c.texts.resolved_permission, {{"permission", key.substr(8)}});
        } else if (key.rfind("sync_failing:", 0) == 0) {
            item = std::string(c.texts.resolved_sync_failing);
        } else if (key.rfind("stale:", 0) == 0) {
            item = std::string(c.texts.resolved_stale);
        } else {
            item = key;
        }
        if (out.find(item) == std::string::npos) {
            out += (out.empty() ? std::string() : std::string(c.texts.list_separator)) + item;
        }
    }
    return out;
}

void recovered(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    subject = subject_prefix(c) + std::string(t.recovered_subject);
    b.paragraph(fill_template(t.recovered_intro, {{"tenant", c.tenant.name},
                                                  {"when", when(c, c.facts.now)},
                                                  {"resolved", resolved_text(c)}}));
    identity(b, c);
    b.blank();
}

void secret_accepted(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    const bool cert = uses_certificate(c);
    subject = subject_prefix(c) + std::string(cert ? t.cert_accepted_subject : t.accepted_subject);
    b.paragraph(fill_template(cert ? t.cert_accepted_intro : t.accepted_intro,
                              {{"tenant", c.tenant.name}}));
    identity(b, c);
    if (c.facts.secret_expires != 0) {
        b.field(t.label_secret_expires, when(c, c.facts.secret_expires));
        b.field(t.label_expiry_source, source_text(c.facts.secret_expires_source, t));
    } else {
        b.field(t.label_secret_expires, t.accepted_expiry_unknown);
    }
    b.blank();
    b.paragraph(cert ? t.cert_accepted_delete_old : t.accepted_delete_old);
    credentials_page(b, c);
}

void list_stale(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    const std::string at = when_short(c, stale_at(c));
    subject = subject_prefix(c) + fill_template(t.stale_subject, {{"when", at}});
    b.paragraph(
        fill_template(t.stale_intro, {{"tenant", c.tenant.name},
                                      {"stale_at", at},
                                      {"last", when_short(c, c.facts.last_success)},
                                      {"stale", duration_text(c.cfg.sync.stale_after, t)}}));
    failure_fields(b, c);
    b.heading(t.heading_impact_now);
    b.paragraph(
        fill_template(t.stale_impact, {{"policy", on_stale_text(c.cfg.decision.on_stale, t)}}),
        "  ");
    b.heading(t.heading_what_to_do);
    b.paragraph(error_kind_hint(c.facts.error_kind, t), "  ");
    b.paragraph(fill_template(t.sync_failing_details, {{"tenant", c.tenant.name}}), "  ");
}

void test_message(const Context& c, std::string& subject, BodyWriter& b) {
    subject = subject_prefix(c) + std::string(c.texts.test_subject);
    b.paragraph(fill_template(c.texts.test_intro, {{"tenant", c.tenant.name}, {"host", c.host}}));
    identity(b, c);
    b.blank();
    credentials_page(b, c);
}

void store_damaged(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    subject = "[m365gate] " + std::string(t.store_damaged_subject);
    b.paragraph(
        fill_template(t.store_damaged_intro, {{"store", printable(c.facts.store_path, 300)},
                                              {"moved_to", printable(c.facts.moved_to, 300)}}));
    b.field(t.label_last_error, quoted_error(c));
    b.blank();
    b.heading(t.heading_impact_now);
    b.paragraph(
        fill_template(t.store_damaged_impact,
                      {{"verdict", unavailable_text(c.cfg.decision.on_cache_unavailable, t)}}),
        "  ");
    b.heading(t.heading_what_to_do);
    b.paragraph(t.store_damaged_action, "  ");
}

void secret_expiry_mismatch(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    subject = subject_prefix(c) + std::string(t.mismatch_subject);
    const std::string_view local_source = source_text(c.facts.secret_expires_local_source, t);
    b.paragraph(
        fill_template(t.mismatch_intro, {{"tenant", c.tenant.name},
                                         {"local_source", local_source},
                                         {"local", when_short(c, c.facts.secret_expires_local)},
                                         {"graph", when_short(c, c.facts.secret_expires)}}));
    identity(b, c);
    b.field(t.label_graph_date, when(c, c.facts.secret_expires));
    b.field(t.label_local_date, when(c, c.facts.secret_expires_local));
    b.field(t.label_expiry_source, local_source);
    b.blank();
    b.heading(t.heading_what_to_do);
    b.paragraph(fill_template(t.mismatch_action, {{"tenant", c.tenant.name}}), "  ");
    credentials_page(b, c);
}

void secret_expiry_unknown(const Context& c, std::string& subject, BodyWriter& b) {
    const AlertTexts& t = c.texts;
    subject = subject_prefix(c) + std::string(t.unknown_subject);
    b.paragraph(fill_template(t.unknown_intro, {{"tenant", c.tenant.name}}));
    identity(b, c);
    b.blank();
    b.heading(t.heading_what_to_do);
    b.paragraph(fill_template(t.unknown_action, {{"tenant", c.tenant.name}}), "  ");
    credentials_page(b, c);
}

nlohmann::json null_or(bool present, nlohmann::json value) {
    return present ? std::move(value) : nlohmann::json(nullptr);
}

}  // namespace

namespace {

// The webhook payload (docs/alerts.md has the schema): every field always present, null when
// it does not apply to the kind.
std::string webhook_json(const Alert& a, const Context& c, const std::string& language) {
    const AlertFacts& facts = c.facts;
    const bool secret_kind =
        facts.kind == AlertKind::secret_expiring || facts.kind == AlertKind::secret_expired ||
        facts.kind == AlertKind::secret_accepted || facts.kind == AlertKind::token_refused ||
        facts.kind == AlertKind::secret_expiry_mismatch;
    const bool has_expiry = secret_kind && facts.secret_expires != 0;
    const bool shrink = facts.kind == AlertKind::shrink_refused;
    nlohmann::json j;
    j["event"] = to_string(facts.kind);
    j["severity"] = to_string(a.severity);
    j["tenant"] = c.tenant.name;
    j["tenant_id"] = c.tenant.tenant_id;
    j["client_id"] = c.tenant.client_id;
    j["days_left"] = null_or(facts.kind == AlertKind::secret_expiring, facts.days_left);
    j["threshold_days"] = null_or(facts.kind == AlertKind::secret_expiring, facts.threshold_days);
    j["expires"] = null_or(has_expiry, format_utc(facts.secret_expires));
    j["expires_local"] = null_or(has_expiry, format_local(c.tz, facts.secret_expires));
    j["expires_source"] = null_or(has_expiry, facts.secret_expires_source);
    j["error_kind"] = null_or(!facts.error_kind.empty(), facts.error_kind);
    j["error_code"] = null_or(!facts.error_code.empty(), printable(facts.error_code, 64));
    j["missing_permission"] =
        null_or(facts.kind == AlertKind::consent_missing, printable(facts.missing_permission, 80));
    j["last_success"] = null_or(facts.last_success != 0, format_utc(facts.last_success));
    j["failing_since"] = null_or(facts.failing_since != 0, format_utc(facts.failing_since));
    j["addresses_before"] = null_or(shrink, facts.addresses_before);
    j["addresses_after"] = null_or(shrink, facts.addresses_after);
    j["sync_kind"] = null_or(shrink && !facts.sync_kind.empty(), facts.sync_kind);
    j["resolved"] = facts.resolved;
    const bool mismatch = facts.kind == AlertKind::secret_expiry_mismatch;
    j["local_expires"] = null_or(mismatch, format_utc(facts.secret_expires_local));
    j["local_expires_source"] = null_or(mismatch, facts.secret_expires_local_source);
    j["credentials_url"] =
        null_or(!c.tenant.client_id.empty(), credentials_url(c.portal, c.tenant.client_id));
    j["api_permissions_url"] =
        null_or(!c.tenant.client_id.empty(), api_permissions_url(c.portal, c.tenant.client_id));
    j["app_name"] = null_or(!facts.app_name.empty(), header_value(facts.app_name, 200));
    j["secret_name"] = null_or(!facts.secret_name.empty(), header_value(facts.secret_name, 200));
    j["secret_key_id"] = null_or(!facts.secret_key_id.empty(), printable(facts.secret_key_id, 64));
    j["reminder"] = facts.reminder;
    j["stale_at"] = null_or(facts.kind == AlertKind::list_stale && facts.last_success != 0,
                            format_utc(stale_at(c)));
    j["host"] = c.host;
    j["time"] = format_utc(facts.now);
    j["language"] = language;
    j["subject"] = a.subject;
    j["text"] = a.subject + "\n\n" + a.body;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

namespace {

// Subject and body (without the signature) of one alert in the language of `c`.
void render(const Context& c, std::string& subject, BodyWriter& b) {
    if (c.facts.reminder) {
        b.paragraph(fill_template(c.texts.reminder_intro,
                                  {{"repeat", duration_text(c.cfg.alerts.repeat, c.texts)}}));
    }
    switch (c.facts.kind) {
        case AlertKind::secret_expiring:
            return secret_expiring(c, subject, b);
        case AlertKind::secret_expired:
            return secret_expired(c, subject, b);
        case AlertKind::token_refused:
            return token_refused(c, subject, b);
        case AlertKind::consent_missing:
            return consent_missing(c, subject, b);
        case AlertKind::sync_failing:
            return sync_failing(c, subject, b);
        case AlertKind::shrink_refused:
            return shrink_refused(c, subject, b);
        case AlertKind::recovered:
            return recovered(c, subject, b);
        case AlertKind::secret_accepted:
            return secret_accepted(c, subject, b);
        case AlertKind::store_damaged:
            return store_damaged(c, subject, b);
        case AlertKind::secret_expiry_mismatch:
            return secret_expiry_mismatch(c, subject, b);
        case AlertKind::secret_expiry_unknown:
            return secret_expiry_unknown(c, subject, b);
        case AlertKind::list_stale:
            return list_stale(c, subject, b);
        case AlertKind::test:
            return test_message(c, subject, b);
    }
}

// A reminder's subject: the reminder word after the "[m365gate] tenant: " prefix.
std::string reminder_subject(const Context& c, const std::string& subject) {
    const std::string prefix = subject_prefix(c);
    const std::size_t at = subject.compare(0, prefix.size(), prefix) == 0 ? prefix.size() : 0;
    return subject.substr(0, at) + std::string(c.texts.reminder_subject) + subject.substr(at);
}

// One language's subject, body and signature paragraph.
struct Rendered {
    std::string subject, body, signature;
};

Rendered render_language(const Context& c) {
    Rendered r;
    BodyWriter b(c.texts.style);
    render(c, r.subject, b);
    if (c.facts.reminder) {
        r.subject = reminder_subject(c, r.subject);
    }
    r.body = b.text();
    BodyWriter sig(c.texts.style);
    footer(sig, c);
    r.signature = sig.text();
    return r;
}

// The text after the "[m365gate] tenant: " (or "[m365gate] ") prefix both languages share.
std::string without_prefix(const Context& c, const std::string& subject) {
    for (const std::string& prefix : {subject_prefix(c), std::string("[m365gate] ")}) {
        if (subject.compare(0, prefix.size(), prefix) == 0) {
            return subject.substr(prefix.size());
        }
    }
    return subject;
}

}  // namespace

Alert build_alert(const Config& cfg, const TenantConfig& tenant, const AlertFacts& facts,
                  const TimeZone& tz, const std::string& host) {
    const std::string& language = alert_language(cfg, tenant);
    const bool both = language == "en+ja";
    const std::string portal = portal_url(cfg.alerts, tenant);
    // alert_texts("en+ja") is English: the second half of a bilingual alert, and its JSON.
    const Context c{cfg, tenant, facts, tz, host, alert_texts(language), portal};
    const Rendered r = render_language(c);
    Alert a;
    a.kind = facts.kind;
    a.severity = severity_of(facts.kind);
    std::string body;
    if (both) {
        // Japanese first, then English, as Japanese notices usually are; one signature.
        const Context ja{cfg, tenant, facts, tz, host, japanese_texts(), portal};
        const Rendered j = render_language(ja);
        a.subject = j.subject + " / " + without_prefix(c, r.subject);
        body = j.body + std::string(wrap_width, '=') + "\n\n" + r.body + "-- \n" + j.signature +
               r.signature;
    } else {
        a.subject = r.subject;
        body = r.body + "-- \n" + r.signature;
    }
    a.subject = header_value(a.subject, 600);
    a.body = fold_long_lines(body);
    a.json = webhook_json(a, c, both ? language : std::string(c.texts.language));
    return a;
}

}  // namespace m365gate::sync
