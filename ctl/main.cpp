// ctl/main.cpp - m365gatectl, the admin CLI: argument parsing and dispatch only.
//
// Each subcommand is a run_*() function of ctl/ctl.h. Results go to stdout, errors to stderr
// with a non-zero exit: 1 failed, 2 bad arguments, 3 `secret set`: the token endpoint refused
// the new secret, 77 `secret set` refused (unsafe directory or file), 78 invalid config;
// `alert test` passes on m365gate-sync --alert-test's status; `check` uses the Nagios codes 0-3
// for everything, a usage error included (UNKNOWN).
#include <CLI/CLI.hpp>
#include <ctime>
#include <iostream>
#include <tuple>

#include "common/text.h"
#include "ctl/ctl.h"

namespace {

using namespace m365gate;

constexpr const char* main_footer = R"(
Examples:
  m365gatectl status
  m365gatectl check                      # Nagios/Icinga probe, exit 0/1/2/3
  m365gatectl lookup alice@contoso.example bob+news@contoso.example
  m365gatectl report --since 7d /var/log/m365gate/rejections.jsonl
  m365gatectl report --since 7d --format html > report.html
  m365gatectl --config /etc/m365gate/test.toml check-config
  m365gatectl metrics
  m365gatectl alert test --tenant contoso
  az ad app credential reset --id APP --append --years 2 --query password -o tsv |
      m365gatectl secret set --tenant contoso --expires 2028-11-01
  m365gatectl cert new --tenant contoso     # a certificate instead of a secret
Each command has --help. Documentation: /usr/share/doc/m365gate/m365gatectl.md)";

std::optional<Config> load(const std::string& file, std::ostream& err) {
    try {
        return load_config(file);
    } catch (const ConfigError& e) {
        err << "m365gatectl: " << e.what() << "\n";
    }
    return std::nullopt;
}

// The values of the options and the subcommands, filled in by CLI11.
struct CommandLine {
    std::string config_file = default_config_path;
    bool json = false;  // status and lookup
    std::vector<std::string> lookup_addresses;
    std::string dump_tenant;
    bool dump_long = false;
    ctl::ReportOptions report_options;
    std::string since = "24h";
    std::string until = "all";
    std::string report_format = "text";
    bool report_json = false;
    std::string check_config_file;
    ctl::SecretSetOptions secret_options;
    bool no_reload = false;
    bool no_verify = false;
    ctl::AlertTestOptions alert_options{"", "", M365GATE_SYNC_PROGRAM};

    CLI::App* status = nullptr;
    CLI::App* check = nullptr;
    CLI::App* lookup = nullptr;
    CLI::App* dump = nullptr;
    CLI::App* report = nullptr;
    CLI::App* check_config = nullptr;
    CLI::App* reload = nullptr;
    CLI::App* metrics = nullptr;
    CLI::App* secret_set = nullptr;
    CLI::App* alert_test = nullptr;
    ctl::CertOptions cert_options;
    CLI::App* cert_new = nullptr;
    CLI::App* cert_set = nullptr;
};

CLI::App* add_status(CLI::App& app, CommandLine& cl) {
    auto* status = app.add_subcommand(
        "status",
        "Per tenant: last attempt and success, addresses, domains, full/delta state, "
        "secret expiry, last error, alerts sent.");
    status->add_flag("--json", cl.json, "machine-readable output");
    status->footer(R"(
Examples:
  m365gatectl status
  m365gatectl status --json | jq '.tenants[] | {name, health, secret_days_left}')");
    return status;
}

CLI::App* add_check(CLI::App& app) {
    auto* check =
        app.add_subcommand("check",
                           "Monitoring probe: one status line and a Nagios/Icinga exit code (0 OK, "
                           "1 WARNING, 2 CRITICAL, 3 UNKNOWN).");
    check->footer(R"(
WARNING: a secret expires within 14 days; the last sync attempt failed; "expiry unknown: grant
Application.Read.All or set expires"; a local expiry date that differs from Graph's; a date
that is past while sign-in works.
CRITICAL: a secret expires within 1 day or has expired; a tenant never synced or is stale
(no successful sync for sync.stale_after). UNKNOWN: config or store unreadable.
Examples:
  m365gatectl check
  # /etc/icinga2/conf.d: object CheckCommand "m365gate" { command = [ "/usr/bin/m365gatectl", "check" ] })");
    return check;
}

CLI::App* add_lookup(CLI::App& app, CommandLine& cl) {
    auto* lookup =
        app.add_subcommand("lookup",
                           "What the milter would answer for each address, why, the tenant and the "
                           "directory object that holds it.");
    lookup->add_option("ADDRESS", cl.lookup_addresses, "recipient addresses")->required();
    lookup->add_flag("--json", cl.json, "machine-readable output");
    lookup->footer(R"(
Examples:
  m365gatectl lookup alice@contoso.example
  m365gatectl lookup '<Sales+Q4@Contoso.Example>' nobody@contoso.example --json)");
    return lookup;
}

CLI::App* add_dump(CLI::App& app, CommandLine& cl) {
    auto* dump = app.add_subcommand("dump", "Every known address, one per line.");
    dump->add_option("--tenant", cl.dump_tenant, "only this tenant");
    dump->add_flag("-l,--long", cl.dump_long,
                   "also tenant, object kind and object id (tab-separated)");
    dump->footer(R"(
Examples:
  m365gatectl dump | wc -l
  m365gatectl dump --tenant contoso --long | grep -i alice)");
    return dump;
}

CLI::App* add_report(CLI::App& app, CommandLine& cl) {
    auto* report = app.add_subcommand(
        "report",
        "For postmasters: rejections by reason, tenant, sender, sender domain, client, "
        "recipient and hour, from the JSON-lines rejection log (log.rejections); as text, "
        "JSON, CSV or one self-contained HTML page.");
    report
        ->add_option("--since", cl.since,
                     "start of the period: a duration back from now (30m, 24h, 7d), a date or "
                     "date-time (2026-11-22, 2026-11-22T08:00:00Z), or \"all\"")
        ->capture_default_str();
    report->add_option("--until", cl.until,
                       "end of the period, not included, in the same forms (default: no end)");
    // One name per --tenant, so that "--tenant contoso FILE" does not take FILE for a tenant.
    report
        ->add_option("--tenant", cl.report_options.tenants,
                     "only this tenant's rejections (repeat for more)")
        ->allow_extra_args(false);
    report->add_option("--top", cl.report_options.top, "rows in each top list")
        ->capture_default_str();
    auto* format = report->add_option("--format", cl.report_format, "text, json, csv or html")
                       ->check(CLI::IsMember({"text", "json", "csv", "html"}))
                       ->capture_default_str();
    report->add_flag("--json", cl.report_json, "the same as --format json")->excludes(format);
    report->add_option("FILE", cl.report_options.files,
                       "rejection log(s); \"-\" is standard input (default: log.rejections)");
    report->footer(R"(
CSV is one table: section,tenant,key,value,detail (tenant empty = all tenants together).
HTML is one page with nothing to fetch: inline style, an SVG chart per hour, no script.
Examples:
  m365gatectl report
  m365gatectl report --since 7d --top 25 --tenant contoso
  m365gatectl report --since 2026-11-01 --until 2026-12-01 --format csv > november.csv
  m365gatectl report --since 7d --format html > /var/www/postmaster/report.html
  zcat /var/log/m365gate/rejections.jsonl.2.gz | m365gatectl report --since all -
  m365gatectl report --json | jq '.by_reason')");
    return report;
}

CLI::App* add_check_config(CLI::App& app, CommandLine& cl) {
    auto* check_config =
        app.add_subcommand("check-config",
                           "Validate the config and the credential files (permissions included) "
                           "and say what would be used.");
    check_config->add_option("FILE", cl.check_config_file, "config file (default: --config)");
    check_config->footer(R"(
Exit status: 0 valid (warnings allowed), 78 invalid.
Examples:
  m365gatectl check-config
  m365gatectl check-config /etc/m365gate/m365gate.toml.new && mv ...)");
    return check_config;
}

CLI::App* add_reload(CLI::App& app) {
    auto* reload = app.add_subcommand(
        "reload",
        "Make the daemons re-read the config: SIGHUP to m365gate-sync (also re-reads "
        "credential files), SIGUSR1 to m365gate-milter.");
    reload->footer(R"(
Exit status: 0 when at least one daemon was signalled, 1 when neither runs.
Examples:
  m365gatectl check-config && m365gatectl reload)");
    return reload;
}

CLI::App* add_metrics(CLI::App& app) {
    auto* metrics = app.add_subcommand(
        "metrics",
        "Print the Prometheus metrics the daemons write into [metrics] textfile_dir "
        "(m365gate_milter.prom, m365gate_sync.prom); say which is missing or stale.");
    metrics->footer(R"(
Exit status: 0 both files present and written within three intervals; 1 otherwise, or
metrics off ([metrics] textfile_dir = "").
Examples:
  m365gatectl metrics
  m365gatectl metrics | grep '^m365gate_milter_rcpt_total')");
    return metrics;
}

// `secret` and its one subcommand, `secret set`, which it returns.
CLI::App* add_secret_set(CLI::App& app, CommandLine& cl) {
    auto* secret = app.add_subcommand("secret", "Client secret management.");
    secret->require_subcommand(1);
    auto* secret_set = secret->add_subcommand(
        "set",
        "Read a tenant's new client secret from standard input, try it with a token request, "
        "then replace its credential file atomically with a new file (mode 0600, owner "
        "sync.user), keep the old one as FILE.previous until m365gate-sync has used the new "
        "one, and signal m365gate-sync.");
    secret_set->add_option("--tenant", cl.secret_options.tenant, "tenant name from the config")
        ->required();
    secret_set->add_option("--expires", cl.secret_options.expires,
                           "expiry of the new secret: 2028-11-01 or 2028-11-01T00:00:00Z");
    secret_set->add_flag("--no-reload", cl.no_reload,
                         "write the file, do not signal m365gate-sync");
    secret_set->add_flag("--no-verify", cl.no_verify,
                         "install the secret without trying it first (no token request)");
    secret_set
        ->add_option("--wait", cl.secret_options.wait_seconds,
                     "seconds to keep retrying while Entra answers AADSTS7000215 (a new secret "
                     "takes a while to replicate)")
        ->check(CLI::Range(0, 3600))
        ->capture_default_str();
    secret_set->footer(R"(
Exit status: 0 tried, accepted and written; 1 failed, nothing written (also when the new
secret could not be tried: network, TLS); 2 bad arguments; 3 the token endpoint refused the
new secret (the AADSTS reason is printed), nothing written, the old secret stays; 77 refused,
nothing written: the file's directory can be changed by others than root and sync.user, the
file there belongs to another user, or not run as root or sync.user; 78 invalid config.
The secret is tried by m365gate-sync --check-credential (same TLS settings), whether the
daemon runs or not. The old file stays as FILE.previous until m365gate-sync has signed in with
the new secret; to go back: mv FILE.previous FILE && m365gatectl reload.
The secret is never taken from the command line (ps, shell history). On a terminal it is
read without echo.
Examples:
  m365gatectl secret set --tenant contoso --expires 2028-11-01 < new-secret.txt
  az ad app credential reset --id "$APP_ID" --append --display-name m365gate --years 2 \
      --query password -o tsv | m365gatectl secret set --tenant contoso --expires 2028-11-01
  contrib/rotate-secret contoso     # the whole path, see docs/admin-guide.md)");
    return secret_set;
}

// `alert` and its one subcommand, `alert test`, which it returns.
CLI::App* add_alert_test(CLI::App& app, CommandLine& cl) {
    auto* alert = app.add_subcommand("alert", "Alert channels.");
    alert->require_subcommand(1);
    auto* test = alert->add_subcommand(
        "test",
        "Send a test alert for a tenant through every configured channel (mail to "
        "[alerts] mail_to and the tenant's alert_mail_to, the webhook), in the tenant's "
        "language, and say per channel whether it was delivered.");
    test->add_option("--tenant", cl.alert_options.tenant, "tenant name from the config")
        ->required();
    test->add_option("--sync", cl.alert_options.sync_program,
                     "the m365gate-sync binary that sends it")
        ->capture_default_str();
    test->footer(R"(
Runs m365gate-sync --alert-test (as sync.user when started as root), so the test goes out the
way the daemon's alerts do. Nothing is recorded in the store.
Exit status: 0 every configured channel delivered; 1 a channel failed or none is configured
(the output says which); 2 bad arguments or unknown tenant; 77 privilege drop; 78 invalid config.
Examples:
  m365gatectl alert test --tenant contoso
  sudo m365gatectl alert test --tenant contoso && mailq)");
    return test;
}

// `cert new` and `cert set` (certificate credentials, ctl/cert.cpp).
void add_cert(CLI::App& app, CommandLine& cl) {
    auto* cert = app.add_subcommand("cert", "Certificate credentials (client_certificate_file).");
    cert->require_subcommand(1);
    cl.cert_new = cert->add_subcommand(
        "new",
        "Make a 3072-bit RSA key and a self-signed certificate: one PEM file with both (mode "
        "0600, owner sync.user) and the public .cer beside it; print the thumbprints and how to "
        "upload the .cer in the Entra admin center. Never replaces a file.");
    cl.cert_new->add_option("--tenant", cl.cert_options.tenant, "tenant name from the config")
        ->required();
    cl.cert_new->add_option("--days", cl.cert_options.days, "validity in days (1-3650)")
        ->capture_default_str();
    cl.cert_new->add_option("--out", cl.cert_options.out,
                            "the new PEM file (default: <tenant>-<date>.pem beside the tenant's "
                            "credential file); the .cer gets the same name");
    cl.cert_new->footer(R"(
Exit status: 0 written; 1 failed (the file exists); 2 bad arguments; 77 refused (directory
writable by others than root and sync.user, or not run as root or sync.user); 78 invalid config.
Example:
  m365gatectl cert new --tenant contoso --days 730 --out /etc/m365gate/secrets/contoso-2027.pem)");
    cl.cert_set = cert->add_subcommand(
        "set",
        "Check a PEM file (private key and its certificate, RSA, not expired), try it with a "
        "token request (m365gate-sync --check-credential, daemon running or not), and only then "
        "install it as the tenant's client_certificate_file (a new file, mode 0600, owner "
        "sync.user; the one in use kept as FILE.previous until the sync has used the new one); "
        "then signal m365gate-sync.");
    cl.cert_set->add_option("--tenant", cl.cert_options.tenant, "tenant name from the config")
        ->required();
    cl.cert_set->add_option("FILE", cl.cert_options.file, "the new PEM (key and certificate)")
        ->required();
    cl.cert_set->add_flag("--no-reload", cl.no_reload,
                          "write the file, do not signal m365gate-sync");
    cl.cert_set->add_flag("--no-verify", cl.no_verify,
                          "install it without trying it first (a host that cannot reach Entra)");
    cl.cert_set->footer(R"(
Exit status as for secret set: 0 tried, accepted and installed; 3 refused by the token endpoint
(the AADSTS reason is printed; nothing changed); 1 could not be tried or written; 77 unsafe
directory or file. Upload the certificate to the app first (cert new prints how).
Example:
  m365gatectl cert set --tenant contoso /etc/m365gate/secrets/contoso-2027.pem)");
}

// The whole command line, the subcommands in the order --help lists them.
void add_commands(CLI::App& app, CommandLine& cl) {
    app.footer(main_footer);
    app.require_subcommand(1);
    app.fallthrough();
    app.add_option("-c,--config", cl.config_file, "configuration file")->capture_default_str();
    cl.status = add_status(app, cl);
    cl.check = add_check(app);
    cl.lookup = add_lookup(app, cl);
    cl.dump = add_dump(app, cl);
    cl.report = add_report(app, cl);
    cl.check_config = add_check_config(app, cl);
    cl.reload = add_reload(app);
    cl.metrics = add_metrics(app);
    cl.secret_set = add_secret_set(app, cl);
    cl.alert_test = add_alert_test(app, cl);
    add_cert(app, cl);
}

// `report`: --since, --until, --format, and the config's log.rejections when no FILE is named.
int run_report_command(CommandLine& cl, std::int64_t now) {
    ctl::ReportOptions& options = cl.report_options;
    for (const auto& [name, text, bound] : {std::tuple{"--since", &cl.since, &options.since},
                                            std::tuple{"--until", &cl.until, &options.until}}) {
        if (!ctl::parse_report_bound(*text, now, *bound)) {
            std::cerr << "m365gatectl: " << name << " \"" << printable(*text)
                      << "\": expected a duration such as 30m, 24h, 7d, a date such as "
                         "2026-11-22 or 2026-11-22T08:00:00Z, or \"all\"\n";
            return ctl::exit_usage;
        }
    }
    if (options.since && options.until && *options.until <= *options.since) {
        std::cerr << "m365gatectl: --until must be later than --since\n";
        return ctl::exit_usage;
    }
    options.format =
        cl.report_json ? ctl::ReportFormat::json : *ctl::parse_report_format(cl.report_format);
    if (options.files.empty()) {
        const auto cfg = load(cl.config_file, std::cerr);
        if (!cfg) {
            return ctl::exit_config;
        }
        if (cfg->log.rejections.empty()) {
            std::cerr << "m365gatectl: log.rejections is not set in " << cl.config_file
                      << ": name the rejection log as FILE\n";
            return ctl::exit_usage;
        }
        options.files.push_back(cfg->log.rejections.string());
    }
    return ctl::run_report(options, std::cin, now, std::cout, std::cerr);
}

// The subcommand that was given. Throws what the command does not catch itself.
int run_command(CommandLine& cl, std::int64_t now) {
    if (cl.check_config->parsed()) {
        return ctl::run_check_config(
            cl.check_config_file.empty() ? cl.config_file : cl.check_config_file, now, std::cout,
            std::cerr);
    }
    if (cl.report->parsed()) {
        return run_report_command(cl, now);
    }
    if (cl.check->parsed()) {
        try {
            const Config cfg = load_config(cl.config_file);
            return ctl::run_check(cfg, now, std::cout);
        } catch (const std::exception& e) {
            std::cout << "M365GATE UNKNOWN - " << e.what() << "\n";
            return static_cast<int>(ctl::Health::unknown);
        }
    }
    const auto cfg = load(cl.config_file, std::cerr);
    if (!cfg) {
        return ctl::exit_config;
    }
    if (cl.status->parsed()) {
        return ctl::run_status(*cfg, cl.json, now, std::cout, std::cerr);
    }
    if (cl.lookup->parsed()) {
        return ctl::run_lookup(*cfg, cl.lookup_addresses, cl.json, now, std::cout, std::cerr);
    }
    if (cl.dump->parsed()) {
        return ctl::run_dump(*cfg, cl.dump_tenant, cl.dump_long, std::cout, std::cerr);
    }
    if (cl.reload->parsed()) {
        return ctl::run_reload(*cfg, std::cout, std::cerr);
    }
    if (cl.metrics->parsed()) {
        return ctl::run_metrics(*cfg, static_cast<std::int64_t>(std::time(nullptr)), std::cout,
                                std::cerr);
    }
    if (cl.alert_test->parsed()) {
        cl.alert_options.config_file = cl.config_file;
        return ctl::run_alert_test(*cfg, cl.alert_options, std::cout, std::cerr);
    }
    if (cl.secret_set->parsed()) {
        cl.secret_options.reload = !cl.no_reload;
        cl.secret_options.verify = !cl.no_verify;
        return ctl::run_secret_set(*cfg, cl.secret_options, std::cin, std::cout, std::cerr);
    }
    if (cl.cert_new->parsed()) {
        return ctl::run_cert_new(*cfg, cl.cert_options, now, std::cout, std::cerr);
    }
    if (cl.cert_set->parsed()) {
        cl.cert_options.reload = !cl.no_reload;
        cl.cert_options.verify = !cl.no_verify;
        return ctl::run_cert_set(*cfg, cl.cert_options, now, std::cout, std::cerr);
    }
    std::cerr << "m365gatectl: no command given (see --help)\n";
    return ctl::exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "m365gatectl - look after m365gate: sync state, lookups, rejection reports, "
        "config checks, reloads, secret rotation.",
        "m365gatectl"};
    CommandLine cl;
    add_commands(app, cl);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e, std::cout, std::cerr);
        if (code == 0) {
            return ctl::exit_ok;
        }
        return cl.check->parsed() ? static_cast<int>(ctl::Health::unknown) : ctl::exit_usage;
    }
    const std::int64_t now = now_seconds();
    try {
        return run_command(cl, now);
    } catch (const std::exception& e) {
        std::cerr << "m365gatectl: " << e.what() << "\n";
        return ctl::exit_failure;
    }
}
