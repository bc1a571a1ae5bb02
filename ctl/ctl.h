// ctl/ctl.h - the commands of m365gatectl, callable without a command line.
//
// main.cpp parses arguments (CLI11) and calls one run_*() function; tests call the same
// functions with string streams. Every run_*() returns the process exit status, writes results
// to `out` and errors to `err`, and never throws for an operator mistake (bad config, missing
// store, malformed log line): that becomes a message on `err` and a non-zero status.
// m365gatectl reads the config and the store (read-only), writes only credential files
// (`secret set`) and talks to the daemons only by signal (DESIGN.md, trust boundaries).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/safe_file.h"
#include "store/store.h"

namespace m365gate::ctl {

// Exit statuses shared by the commands (check has its own: Nagios 0-3).
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // the command could not do what was asked
inline constexpr int exit_usage = 2;    // bad arguments
inline constexpr int exit_refused = 3;  // secret set: the token endpoint refused the new secret
inline constexpr int exit_unsafe = 77;  // EX_NOPERM: refused, files could be changed by others
inline constexpr int exit_config = 78;  // EX_CONFIG: the config or a credential file is invalid

// "45s", "12m", "5h", "3d" (floor; negative input is treated as its absolute value).
std::string format_age(std::int64_t seconds);
// format_utc() ("2026-11-23T09:00:00Z"), or "never" for 0. Dates are read with
// parse_timestamp() and "now" is now_seconds(), both from common/time.h.
std::string format_time(std::int64_t unix_seconds);

// `items` with `separator` between them ("a, b"); none while the result is still empty.
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

// Opens the store read-only at the config's ceiling; nullptr and a reason when it cannot.
std::unique_ptr<store::Store> open_store(const Config& cfg, std::string& why);

// ---- status / check -------------------------------------------------------------------
enum class Health { ok = 0, warning = 1, critical = 2, unknown = 3 };
const char* to_string(Health h);  // "OK", "WARNING", "CRITICAL", "UNKNOWN"

struct TenantHealth {
    Health level = Health::ok;
    std::vector<std::string> problems;  // "secret expires in 10 days", "stale: ..."
};

// Days left of a client secret at which `check` says WARNING (check-config warns there too)
// and CRITICAL.
inline constexpr std::int64_t warning_secret_days = 14;
inline constexpr std::int64_t critical_secret_days = 1;

// The thresholds of `check` (docs/m365gatectl.md): secret <= 14 days WARNING, <= 1 day or
// expired CRITICAL; never synced or stale CRITICAL; last attempt failed WARNING.
// `config_expires` is the config's client_secret_expires, used when the state has none.
TenantHealth evaluate_tenant(const Config& cfg, const std::optional<store::TenantState>& state,
                             std::optional<std::int64_t> config_expires, std::int64_t now);

int run_status(const Config& cfg, bool json, std::int64_t now, std::ostream& out,
               std::ostream& err);
int run_check(const Config& cfg, std::int64_t now, std::ostream& out);

// ---- lookup / dump --------------------------------------------------------------------
int run_lookup(const Config& cfg, const std::vector<std::string>& addresses, bool json,
               std::int64_t now, std::ostream& out, std::ostream& err);
int run_dump(const Config& cfg, const std::string& tenant, bool long_format, std::ostream& out,
             std::ostream& err);

// ---- metrics --------------------------------------------------------------------------
// Prints m365gate_milter.prom and m365gate_sync.prom from [metrics] textfile_dir, each after a
// "# FILE: written 5s ago" line; a file missing or older than three intervals is said so on
// stdout and stderr. `wall_now`: the real clock (file times), Unix seconds. 0 both fresh, 1 not
// (or metrics are off).
int run_metrics(const Config& cfg, std::int64_t wall_now, std::ostream& out, std::ostream& err);

// ---- report ---------------------------------------------------------------------------
enum class ReportFormat { text, json, csv, html };

struct ReportOptions {
    std::vector<std::string> files;     // "-" = standard input
    std::optional<std::int64_t> since;  // Unix seconds, inclusive; nullopt: from the start
    std::optional<std::int64_t> until;  // Unix seconds, exclusive; nullopt: to the end
    std::vector<std::string> tenants;   // only these tenants' rejections; empty: every tenant
    std::size_t top = 10;               // rows in each top list
    ReportFormat format = ReportFormat::text;
};

// --since and --until: "all" (no bound: nullopt), a duration back from now ("30m", "7d"), or an
// ISO-8601 date or date-time with offset (common/time.h). False when the text is none of these.
bool parse_report_bound(std::string_view text, std::int64_t now,
                        std::optional<std::int64_t>& bound);
// "text", "json", "csv", "html"; nullopt for anything else.
std::optional<ReportFormat> parse_report_format(std::string_view text);

int run_report(const ReportOptions& options, std::istream& in, std::int64_t now, std::ostream& out,
               std::ostream& err);

// ---- check-config / reload ------------------------------------------------------------
int run_check_config(const std::filesystem::path& file, std::int64_t now, std::ostream& out,
                     std::ostream& err);
int run_reload(const Config& cfg, std::ostream& out, std::ostream& err);

// alert test: runs `sync_program --config FILE --alert-test --tenant NAME` (ctl/alert.cpp),
// its output to `out`. Its exit status: 0 every configured channel delivered, 1 one failed or
// none is configured (it says which), 78 config, 77 privilege drop; 2 unknown tenant.
struct AlertTestOptions {
    std::string config_file;
    std::string tenant;
    std::filesystem::path sync_program;
};
int run_alert_test(const Config& cfg, const AlertTestOptions& options, std::ostream& out,
                   std::ostream& err);

// Sends `signal` to the process whose pid is in `pid_file` after checking that it is alive
// and is `program`. Returns the pid signalled, or nullopt with the reason in `why`.
std::optional<long> signal_daemon(const std::filesystem::path& pid_file, const std::string& program,
                                  int signal, std::string& why);

// ---- secret set -----------------------------------------------------------------------
struct SecretSetOptions {
    std::string tenant;
    std::string expires;   // "" = not given
    bool reload = true;    // signal the sync worker afterwards
    bool verify = true;    // try the new secret with a token request before installing it
    int wait_seconds = 0;  // keep retrying a refusal (AADSTS7000215) this long: replication
};
int run_secret_set(const Config& cfg, const SecretSetOptions& options, std::istream& in,
                   std::ostream& out, std::ostream& err);

// ---- trying a credential --------------------------------------------------------------
// What a token request with a new credential said (ctl/credential_verify.cpp).
enum class CredentialCheck { accepted, refused, unavailable };
struct CredentialVerdict {
    CredentialCheck status = CredentialCheck::unavailable;
    std::string code;     // refused: the AADSTS number ("7000215")
    std::string message;  // one sentence, never the credential
    std::string detail;   // what m365gate-sync logged meanwhile (printable lines)
};
// Tries `credential_text` (a credential file's text) for `tenant` with a real token request to
// its configured token endpoint, through `m365gate-sync --config cfg.file --check-credential`
// (same TLS settings and token code as the daemon; run as sync.user). Blocks until answered.
CredentialVerdict verify_credential(const Config& cfg, const TenantConfig& tenant,
                                    const std::string& credential_text);
// The m365gate-sync next to this program (see credential_verify.cpp); empty when none.
std::filesystem::path sync_program();
// Shared by secret set and cert set (ctl/secret.cpp). credential_owner: sync.user's uid and
// gid, refused (exit_unsafe) unless run as root or sync.user. install_credential: `target`
// replaced by a new file holding `text`, mode 0600, owned by `owner`, in a directory only root
// and sync.user can change, once `verify` (the token request with the new credential, or a
// function that says why it was skipped) returned exit_ok; the file replaced is kept as
// `target`.previous. exit_ok, or the status with the reason on `err`.
int credential_owner(const Config& cfg, FileOwner& owner, std::ostream& err);
int install_credential(const Config& cfg, const std::filesystem::path& target,
                       const std::string& text, const FileOwner& owner,
                       const std::function<int()>& verify, std::ostream& err);
// Both commands' last step: `owner` set to sync.user's ids (credential_owner), the new
// credential tried with verify_new_credential() unless `verify` is false (then a line says it
// was not tried), and installed with install_credential(). exit_ok, or the first failure's
// status with its reason on `err`.
struct TryOptions {
    bool verify = true;
    int wait_seconds = 0;
};
int try_and_install(const Config& cfg, const TenantConfig& tenant,
                    const std::filesystem::path& target, const std::string& text,
                    const TryOptions& options, FileOwner& owner, std::ostream& out,
                    std::ostream& err);
// The verify step of secret set and cert set: the new credential's text tried with
// verify_credential(), retried for `wait_seconds` while Entra answers AADSTS7000215 (a secret
// not yet replicated). exit_ok, exit_refused (the AADSTS reason on `err`) or exit_failure.
int verify_new_credential(const Config& cfg, const TenantConfig& tenant, const std::string& text,
                          int wait_seconds, std::ostream& out, std::ostream& err);

// ---- cert new / cert set (ctl/cert.cpp) ---------------------------------------------------
struct CertOptions {
    std::string tenant;
    int days = 730;      // cert new: validity
    std::string out;     // cert new: "" = next to the tenant's credential file
    std::string file;    // cert set: the new PEM (key and certificate)
    bool reload = true;  // cert set: signal the sync worker afterwards
    bool verify = true;  // cert set: try the new certificate with a token request first
};
// A new RSA key and self-signed certificate: the PEM (key and certificate, 0600, owner
// sync.user) and the public .cer beside it (0644); prints the thumbprints and the upload steps.
int run_cert_new(const Config& cfg, const CertOptions& options, std::int64_t now, std::ostream& out,
                 std::ostream& err);
// Installs a new PEM as the tenant's client_certificate_file (as secret set does) after
// checking it (key and certificate belong together, RSA, not expired), then signals
// m365gate-sync, which asks for a token with it at once and logs and alerts the result.
int run_cert_set(const Config& cfg, const CertOptions& options, std::int64_t now, std::ostream& out,
                 std::ostream& err);

// The credential file text secret set writes (TOML; the secret escaped for a basic string).
std::string credential_file_text(const std::string& secret, std::optional<std::int64_t> expires);

}  // namespace m365gate::ctl
