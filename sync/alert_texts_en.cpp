// sync/alert_texts_en.cpp - the English alert texts.
#include "sync/alert_texts.h"

namespace m365gate::sync {
namespace {

// Numbers with units, expiry sources, policies, the impact on mail.
void set_units_policies_and_impact(AlertTexts& t) {
    t.language = "en";
    t.style = BodyStyle{LineBreaking::words, "", 28};

    t.days = "{n}d";
    t.hours = "{n}h";
    t.minutes = "{n}m";
    t.seconds = "{n}s";
    t.one_day = "{n} day";
    t.many_days = "{n} days";
    t.list_separator = ", ";

    t.source_credential_file = "the credential file (expires = ...)";
    t.source_config = "client_secret_expires in m365gate.toml";
    t.source_graph = "Microsoft Graph (the app's passwordCredentials)";
    t.source_unknown = "unknown";
    t.on_stale_reject =
        "(milter.on_stale = reject): addresses not on the last list keep being rejected (550 "
        "5.1.1).";
    t.on_stale_tempfail =
        "(milter.on_stale = tempfail): addresses not on the last list get a temporary failure "
        "(451 4.3.0); senders keep retrying and bounce the mail when their queue lifetime runs "
        "out.";
    t.on_stale_accept =
        "(milter.on_stale = accept): addresses not on the last list are accepted without "
        "checking, and Microsoft 365 bounces mail for addresses that do not exist.";
    t.unavailable_tempfail = "a temporary failure (451 4.3.0); senders retry";
    t.unavailable_accept = "accepted without checking";
    t.unavailable_reject = "rejected";
    t.impact_never_synced =
        "This tenant has never synced successfully, so m365gate has no recipient list for it: "
        "mail to its domains is {verdict} (milter.on_cache_unavailable).";
    t.impact_when_expired =
        "When the secret expires, m365gate-sync can no longer sign in to Microsoft 365 and the "
        "recipient list of this tenant stops updating. Mail to addresses already on the list "
        "keeps being accepted, but users, groups and aliases created after that are rejected as "
        "unknown recipients. Once the last successful sync is older than sync.stale_after "
        "({stale}), the stale policy applies {policy}";
    t.impact_until_fixed =
        "Until this is fixed, the recipient list of this tenant is not updated. Mail to "
        "addresses already on the list keeps being accepted, but users, groups and aliases "
        "created since the last successful sync ({last}) are rejected as unknown recipients. "
        "Once the last successful sync is older than sync.stale_after ({stale}), at "
        "{stale_at}, the stale policy applies {policy}";
}

// Labels, headings, the renewal steps, the footer.
void set_labels_headings_and_steps(AlertTexts& t) {
    t.label_tenant = "Tenant";
    t.label_tenant_id = "Tenant id";
    t.label_client_id = "Application (client) id";
    t.label_app_name = "Application name";
    t.label_secret = "Client secret";
    t.secret_name = "\"{name}\"";
    t.secret_key_id = "Secret ID {key_id}";
    t.label_secret_expires = "Secret expires";
    t.label_days_left = "Days left";
    t.label_expiry_source = "Expiry date from";
    t.label_missing_permission = "Missing permission";
    t.label_last_success = "Last successful sync";
    t.label_failing_since = "Failing since";
    t.label_last_error = "Last error";
    t.never = "never";

    t.heading_when_expired = "What happens when it expires:";
    t.heading_impact_now = "What happens now:";
    t.heading_what_to_do = "What to do:";
    t.heading_renew = "How to renew the secret:";
    t.heading_credentials_page = "Credentials page of the application:";
    t.heading_api_permissions_page = "API permissions page of the application:";

    t.renew_create =
        "In the Microsoft Entra admin center, go to App registrations → the app (application "
        "id {client_id}) → Certificates & secrets → New client secret. Copy the secret's Value "
        "(not the Secret ID); it is shown only once.";
    t.renew_install = "On this gateway, install it (the secret is read from standard input):";
    t.renew_command =
        "       m365gatectl secret set --tenant {tenant} --expires <expiry date of the new "
        "secret>";
    t.renew_notice =
        "m365gate-sync tries the new secret at once and sends a notice saying whether it works.";
    t.renew_delete_old = "Once it works, delete the old secret in the Entra admin center.";
    t.footer =
        "Sent by m365gate-sync on {host}. Each notice is sent once; a problem that lasts is "
        "reminded every {repeat}.";
    t.reminder_subject = "REMINDER: ";
    t.reminder_intro =
        "Reminder: the problem below is not resolved yet. This notice is repeated every "
        "{repeat} while it lasts.";
}

// The alerts secret_expiring and secret_expired.
void set_secret_texts(AlertTexts& t) {
    t.expiring_subject = "client secret expires in {days} ({when})";
    t.expiring_intro = "The client secret m365gate uses for tenant \"{tenant}\" expires in {days}.";
    t.next_reminder =
        "If the secret is not renewed, the next reminder goes out {days} before it expires.";
    t.expired_subject = "client secret EXPIRED ({when})";
    t.expired_intro =
        "The client secret m365gate uses for tenant \"{tenant}\" has expired. m365gate-sync "
        "cannot sign in to Microsoft 365 and no longer updates the recipient list.";
}

// The alert token_refused, with the AADSTS codes it explains.
void set_token_texts(AlertTexts& t) {
    t.token_errors = {{
        {"7000222", "the client secret has expired",
         "Entra ID refused the client secret because it has expired (AADSTS7000222).",
         "Create a new client secret and install it as described below."},
        {"7000215", "the client secret is invalid",
         "Entra ID does not accept the configured client secret (AADSTS7000215). Most often "
         "the secret's Secret ID (a GUID) was installed instead of its Value, the value was "
         "mistyped or cut off, or it belongs to another application.",
         "Install the secret's Value (not the Secret ID). If the value is no longer at hand, "
         "create a new client secret as described below; Entra shows a value only once."},
        {"700016", "the application was not found",
         "Entra ID found no application with client id {client_id} in tenant {tenant_id} "
         "(AADSTS700016). The client_id in m365gate.toml is wrong, the app is registered in "
         "another tenant, tenant_id names another tenant, or login_endpoint belongs to another "
         "cloud (global vs. national cloud).",
         "Compare client_id and tenant_id of [[tenant]] \"{tenant}\" in m365gate.toml with the "
         "app's Overview page in the Entra admin center, check login_endpoint and "
         "graph_endpoint for the tenant's cloud, then reload m365gate-sync (m365gatectl "
         "reload)."},
        {"90002", "the tenant was not found",
         "Entra ID does not know the tenant {tenant_id} (AADSTS90002). The tenant_id in "
         "m365gate.toml is wrong, or the tenant lives in another cloud than login_endpoint.",
         "Compare tenant_id of [[tenant]] \"{tenant}\" with Entra admin center → Overview → "
         "Tenant ID, check login_endpoint for the tenant's cloud, then reload m365gate-sync "
         "(m365gatectl reload)."},
        {"7000112", "the application is disabled",
         "Entra ID refused the sign-in because the application is disabled (AADSTS7000112): "
         "its enterprise application (service principal) is not enabled for sign-in, or "
         "Microsoft disabled the app.",
         "In the Entra admin center, open Enterprise applications → the app → Properties and "
         "set \"Enabled for users to sign-in?\" to Yes. If Microsoft disabled the app, the app "
         "registration says why."},
    }};
    t.token_unexplained_title = "the token request was refused";
    t.token_unexplained_cause = "Entra ID refused the token request ({code}): {error}";
    t.token_unexplained_action =
        "Look the code up at https://login.microsoftonline.com/error?code={code_number} ; "
        "after fixing m365gate.toml, reload with m365gatectl reload.";
    t.new_secret_refused_subject = "the new client secret does not work: {title} ({code})";
    t.new_secret_refused_intro =
        "After the reload, m365gate-sync asked for a token with the new client secret of "
        "tenant \"{tenant}\", and Entra ID refused it.";
    t.sign_in_refused_subject = "sign-in refused: {title} ({code})";
    t.retrying = "m365gate-sync keeps retrying and sends a notice once the tenant syncs again.";
}

// The alerts consent_missing and sync_failing.
void set_consent_and_sync_texts(AlertTexts& t) {
    t.permission_not_named = "(not named by Graph)";
    t.consent_subject = "Microsoft Graph permission missing: {permission}";
    t.consent_intro =
        "Microsoft Graph answered 403 (Authorization_RequestDenied): the application has not "
        "been granted the Microsoft Graph application permission {permission}. Either the "
        "permission was never added, or admin consent was not granted (or was revoked).";
    t.consent_action =
        "In the Entra admin center, go to App registrations → the app → API permissions → Add "
        "a permission → Microsoft Graph → Application permissions, add {permission}, then "
        "choose \"Grant admin consent for <your organization>\". A new consent can take a few "
        "minutes to reach new tokens; m365gate-sync retries by itself and sends a notice once "
        "the tenant syncs again.";

    t.hint_network =
        "m365gate-sync cannot reach the Microsoft endpoints: check DNS, the firewall (HTTPS to "
        "login_endpoint and graph_endpoint) and any proxy.";
    t.hint_tls =
        "The TLS certificate of a Microsoft endpoint could not be verified: check the system "
        "CA certificates, sync.ca_file, and any TLS-inspecting proxy.";
    t.hint_store = "The LMDB store could not be written: check free disk space and store.max_size.";
    t.hint_config =
        "The credential file could not be read: check client_secret_file (it must exist, "
        "belong to the sync user and have mode 0600).";
    t.hint_limit =
        "Graph kept sending more pages or objects than [sync] max_pages, max_objects or "
        "max_spill_size allow, or the round took longer than round_budget: a fault on "
        "Microsoft's side or something between. The last good list stays in force. If the "
        "tenant really is that large, raise the bound.";
    t.hint_separate_notice = "A separate notice explains this error and how to fix it.";
    t.hint_graph =
        "Microsoft Graph answered with an error; this is often temporary. If it persists, the "
        "log of m365gate-sync has the Graph error code and request-id for Microsoft support.";
    t.sync_failing_subject = "no successful sync for {after}";
    t.sync_failing_intro =
        "m365gate-sync has not synced tenant \"{tenant}\" successfully for {after}.";
    t.sync_failing_details =
        "The log of m365gate-sync has the details (lines with tenant={tenant}). A notice "
        "follows once the tenant syncs again.";
}

// The alerts shrink_refused, recovered and secret_accepted.
void set_shrink_and_notice_texts(AlertTexts& t) {
    t.sync_kind_delta = "delta sync";
    t.sync_kind_full = "full sync";
    t.sync_kind_unknown = "sync";
    t.shrink_subject = "{kind} not applied: it would remove {removed} of {before} addresses";
    t.shrink_what_delta = "A delta sync of tenant \"{tenant}\" would leave {after} addresses, ";
    t.shrink_what_other = "A {kind} of tenant \"{tenant}\" returned {after} addresses, ";
    t.shrink_result =
        "{what}{removed} ({percent}%) fewer than the {before} in the store, more than "
        "sync.max_shrink ({allowed}%) allows. The new list was NOT applied; the milter keeps "
        "using the previous one.";
    t.shrink_action =
        "This guard protects against a partial answer from Graph, or a permission or domain "
        "removed by mistake, rejecting real recipients. If the removal is intended (a domain or "
        "many users were removed), apply it by running m365gate-sync --once --force as the "
        "sync user. Otherwise check the app's permissions and the tenant's domains.";

    t.resolved_permission = "missing permission {permission}";
    t.resolved_sync_failing = "no successful sync";
    t.recovered_subject = "syncing again";
    t.recovered_intro =
        "Tenant \"{tenant}\" synced successfully at {when}. The problem reported earlier "
        "({resolved}) is resolved, and the recipient list is up to date again.";

    t.accepted_subject = "new client secret accepted";
    t.accepted_intro =
        "After the reload, m365gate-sync asked for a token with the new client secret of "
        "tenant \"{tenant}\", and Entra ID accepted it.";
    t.accepted_expiry_unknown =
        "unknown: without it no expiry reminder can be sent; set it with m365gatectl secret "
        "set --expires DATE";
    t.accepted_delete_old =
        "If the old secret still exists, delete it in the Entra admin center once the tenant "
        "has synced with the new one.";

    t.stale_subject = "recipient list is STALE since {when}";
    t.stale_intro =
        "The recipient list of tenant \"{tenant}\" turned stale at {stale_at}: its last "
        "successful sync ({last}) is older than sync.stale_after ({stale}).";
    t.stale_impact =
        "Mail to addresses created since the last successful sync is rejected as unknown, "
        "and the stale policy applies {policy}";
    t.resolved_stale = "stale recipient list";
    t.test_subject = "test message";
    t.test_intro =
        "This is a test of the alert channels of m365gate-sync on {host} for tenant "
        "\"{tenant}\" (m365gatectl alert test). Nothing needs to be done.";

    t.store_damaged_subject = "recipient store damaged, being rebuilt";
    t.store_damaged_intro =
        "m365gate-sync found the recipient store {store} damaged (its pages failed the check "
        "every process runs before it reads the store). It moved the damaged files to "
        "{moved_to} and is rebuilding every tenant's list with a full sync from Microsoft "
        "Graph.";
    t.store_damaged_impact =
        "Until a tenant's full sync has finished, mail to its domains is {verdict} "
        "(milter.on_cache_unavailable); mail to other "
        "domains is not affected. m365gatectl status shows when each tenant has synced again.";
    t.store_damaged_action =
        "Check the disk that holds the store (the kernel log, SMART, free space): a store "
        "does not damage itself. Keep the moved files for a bug report, or delete them.";
}

// The notices secret_expiry_mismatch and secret_expiry_unknown.
void set_expiry_note_texts(AlertTexts& t) {
    t.label_graph_date = "Expiry date from Graph";
    t.label_local_date = "Local expiry date";
    t.mismatch_subject = "the local expiry date of the client secret is not Graph's";
    t.mismatch_intro =
        "The expiry date of the client secret of tenant \"{tenant}\" in {local_source} "
        "({local}) is not the one Microsoft Graph reports for that secret ({graph}). m365gate "
        "goes by Graph's date for its reminders and ignores the local one.";
    t.mismatch_action =
        "Correct or remove the local date: run m365gatectl secret set --tenant {tenant} again "
        "with the right --expires, or fix client_secret_expires in m365gate.toml. This notice is "
        "sent once for these two dates.";
    t.unknown_subject = "expiry of the client secret unknown: no reminder will go out";
    t.unknown_intro =
        "m365gate does not know when the client secret of tenant \"{tenant}\" expires: "
        "Microsoft Graph did not say (the app lacks the application permission "
        "Application.Read.All, or none of its secrets matches the one in use), and neither the "
        "credential file nor m365gate.toml gives a date. No reminder will go out before the "
        "secret expires, and then mail to new recipients is rejected.";
    t.unknown_action =
        "Grant the app the Microsoft Graph application permission Application.Read.All (with "
        "admin consent), or give the date: m365gatectl secret set --tenant {tenant} --expires "
        "<expiry date>, or client_secret_expires in m365gate.toml. This notice is sent once.";
}

// Certificate credentials (client_certificate_file).
void set_certificate_texts(AlertTexts& t) {
    t.cert_expiring_subject = "certificate expires in {days} ({when})";
    t.cert_expiring_intro =
        "The certificate m365gate uses to sign in for tenant \"{tenant}\" expires in {days}.";
    t.cert_expired_subject = "certificate EXPIRED ({when})";
    t.cert_expired_intro =
        "The certificate m365gate uses to sign in for tenant \"{tenant}\" has expired. "
        "m365gate-sync cannot sign in to Microsoft 365 and no longer updates the recipient list.";
    t.source_certificate = "the certificate (notAfter)";
    t.heading_renew_certificate = "How to renew the certificate:";
    t.renew_certificate =
        "On this gateway, run m365gatectl cert new --tenant {tenant} --out <new file>; upload "
        "the .cer it writes in the Microsoft Entra admin center (App registrations → the app "
        "(application id {client_id}) → Certificates & secrets → Certificates → Upload "
        "certificate); then install the new file with m365gatectl cert set --tenant {tenant} "
        "<new file>. Once it works, delete the old certificate in the Entra admin center.";
    t.cert_new_refused_subject = "the new certificate does not work: {title} ({code})";
    t.cert_new_refused_intro =
        "After the reload, m365gate-sync asked for a token with the new certificate of tenant "
        "\"{tenant}\", and Entra ID refused it. The certificate it replaced is kept as "
        "client_certificate_file.previous (m365gatectl cert set puts it back).";
    t.cert_accepted_subject = "new certificate accepted";
    t.cert_accepted_intro =
        "After the reload, m365gate-sync asked for a token with the new certificate of tenant "
        "\"{tenant}\", and Entra ID accepted it.";
    t.cert_accepted_delete_old =
        "Delete the old certificate (or client secret) in the Entra admin center once the "
        "tenant has synced with the new one.";
    t.certificate_token_errors = {{
        {"700027", "the certificate is not accepted",
         "Entra ID refused the client assertion (AADSTS700027): the app has no certificate "
         "with the thumbprint m365gate sent, or the signature does not verify.",
         "Upload the .cer of client_certificate_file of [[tenant]] \"{tenant}\" to the app "
         "(application id {client_id}), or install the key of a certificate the app has."},
        {"certificate_expired", "the certificate has expired",
         "Entra ID refused the client assertion (AADSTS700027) and the certificate of "
         "[[tenant]] \"{tenant}\" is past its notAfter date.",
         "Make and upload a new certificate as described below."},
        {"700024", "the client assertion is outside its valid time",
         "Entra ID refused the client assertion as not yet or no longer valid (AADSTS700024): "
         "the clock of this gateway is probably wrong.",
         "Check the gateway's clock and time synchronisation (timedatectl, NTP)."},
        {"700023", "the client assertion names another audience",
         "Entra ID refused the client assertion because its audience is not this token "
         "endpoint (AADSTS700023).",
         "Check login_endpoint and tenant_id of [[tenant]] \"{tenant}\" in m365gate.toml."},
    }};
}

AlertTexts make_english() {
    AlertTexts t;
    set_units_policies_and_impact(t);
    set_labels_headings_and_steps(t);
    set_secret_texts(t);
    set_certificate_texts(t);
    set_token_texts(t);
    set_consent_and_sync_texts(t);
    set_shrink_and_notice_texts(t);
    set_expiry_note_texts(t);
    return t;
}

}  // namespace

const AlertTexts& english_texts() {
    static const AlertTexts texts = make_english();
    return texts;
}

}  // namespace m365gate::sync
