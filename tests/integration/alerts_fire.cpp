// m365gate-alert-fire - drives the real Alerter (sync::make_alerter) once, for integration
// tests: builds a Config from the command line, loads a TenantState from --state (the store's
// own codec, so runs in a row behave like restarts), calls the Alerter as the worker would,
// writes the state back and prints the alert keys now recorded, one per line.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <iterator>

#include "store/store.h"
#include "sync/alerts.h"

using namespace m365gate;

int main(int argc, char** argv) {
    CLI::App app{"Fire m365gate alerts through the real Alerter (tests only)"};
    std::string event = "check_secret";
    std::string state_file;
    Config cfg;
    TenantConfig tenant;
    tenant.name = "contoso";
    tenant.tenant_id = "11111111-1111-1111-1111-111111111111";
    tenant.client_id = "22222222-2222-2222-2222-222222222222";
    std::int64_t now = 0;
    std::int64_t expires = 0;
    std::int64_t last_success = 0;
    std::int64_t failing_since = 0;
    std::string code;
    std::string sendmail;
    std::string ca_file;
    std::string permission;
    app.add_option("--event", event,
                   "check_secret | token | consent | network | shrink | success | "
                   "secret_ok | secret_refused")
        ->required();
    app.add_option("--state", state_file, "TenantState file (created when missing)");
    app.add_option("--now", now, "Unix seconds")->required();
    app.add_option("--expires", expires, "secret expiry, Unix seconds (0 = unknown)");
    app.add_option("--last-success", last_success);
    app.add_option("--failing-since", failing_since);
    app.add_option("--code", code, "AADSTS code for token / secret_refused");
    app.add_option("--permission", permission, "consent: the missing permission");
    app.add_option("--language", cfg.alerts.language);
    app.add_option("--timezone", cfg.alerts.timezone);
    app.add_option("--mail-to", cfg.alerts.mail_to)->delimiter(',');
    app.add_option("--tenant-mail-to", tenant.alert_mail_to)->delimiter(',');
    app.add_option("--mail-from", cfg.alerts.mail_from);
    app.add_option("--sendmail", sendmail);
    app.add_option("--webhook", cfg.alerts.webhook);
    app.add_option("--ca-file", ca_file);
    CLI11_PARSE(app, argc, argv);
    if (!sendmail.empty()) {
        cfg.alerts.sendmail = sendmail;
    }
    cfg.sync.ca_file = ca_file;

    auto logger = std::make_shared<spdlog::logger>(
        "alert-fire", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    spdlog::set_default_logger(logger);

    store::TenantState state;
    if (!state_file.empty()) {
        std::ifstream in(state_file, std::ios::binary);
        if (in) {
            const std::string bytes((std::istreambuf_iterator<char>(in)), {});
            auto decoded = store::decode_state(bytes);
            if (!decoded) {
                std::cerr << "bad state file\n";
                return 1;
            }
            state = *decoded;
        }
    }
    if (expires != 0) {
        state.secret_expires = expires;
        state.secret_expires_source = "config";
    }
    if (last_success != 0) {
        state.last_success = last_success;
    }
    if (failing_since != 0) {
        state.failing_since = failing_since;
    }

    sync::SyncResult r;
    r.error_code = code;
    r.message = code.empty() ? "" : "AADSTS" + code + ": refused by the test";
    auto alerter = sync::make_alerter();
    if (event == "check_secret") {
        alerter->check_secret(cfg, tenant, state, now);
    } else if (event == "token" || event == "secret_refused") {
        r.error_kind = "token";
        if (event == "token") {
            alerter->after_attempt(cfg, tenant, r, state, now);
        } else {
            alerter->secret_changed(cfg, tenant, r, state, now);
        }
    } else if (event == "consent") {
        r.error_kind = "consent";
        r.error_code = "Authorization_RequestDenied";
        r.missing_permission = permission;
        alerter->after_attempt(cfg, tenant, r, state, now);
    } else if (event == "network") {
        r.error_kind = "network";
        r.message = "Could not connect to server";
        alerter->after_attempt(cfg, tenant, r, state, now);
    } else if (event == "shrink") {
        r.error_kind = "shrink";
        r.addresses_before = 1000;
        r.addresses_after = 500;
        alerter->after_attempt(cfg, tenant, r, state, now);
    } else if (event == "success" || event == "secret_ok") {
        r = sync::SyncResult{};
        r.ok = true;
        if (event == "success") {
            alerter->after_attempt(cfg, tenant, r, state, now);
        } else {
            alerter->secret_changed(cfg, tenant, r, state, now);
        }
    } else {
        std::cerr << "unknown --event " << event << "\n";
        return 2;
    }
    if (!state_file.empty()) {
        std::ofstream(state_file, std::ios::binary | std::ios::trunc) << store::encode_state(state);
    }
    for (const auto& [key, when] : state.alerts_sent) {
        (void)when;
        std::cout << key << "\n";
    }
    return 0;
}
