// common/config.h - the whole of m365gate.toml as one typed struct. The credential files it
// names are common/credentials.h's.
//
// Nothing else in m365gate reads TOML. load_config() either returns a complete, validated
// Config or throws ConfigError whose message names the file, the line and the key
// ("/etc/m365gate/m365gate.toml:14: [milter] on_stal: unknown key"). Defaults are the
// member initialisers below; conf/m365gate.toml documents every key. A daemon that reloads
// builds a new Config and swaps it in only when load_config() returned (ConfigHolder, P12).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"

namespace m365gate {

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class Verdict { accept, reject, tempfail };
enum class MilterMode { enforce, report };
// "enforce" | "report": the words m365gate.toml, logs and status use.
const char* mode_name(MilterMode mode);
enum class LogTarget { syslog, stderr_, file };

// A reply: "550", "5.1.1", "<{address}>: Recipient address rejected: user unknown".
// `{address}` in text is replaced by the recipient (sanitised at the smfi_setreply edge).
struct Reply {
    std::string code;
    std::string status;
    std::string text;
};

struct StoreConfig {
    std::filesystem::path path = "/var/lib/m365gate";  // directory holding data.mdb, lock.mdb
    std::uint64_t max_size = 4ull << 30;               // "4G": every process maps this much
};

struct LogConfig {
    LogTarget target = LogTarget::syslog;  // "syslog" | "stderr" | "file"
    std::filesystem::path file;            // required when target = "file"
    std::string level = "info";            // trace | debug | info | warn | error
    std::filesystem::path rejections;      // optional JSON-lines rejection log ("" = off)
};

// The decision settings ([milter] keys the decision function reads). Pure data.
struct DecisionSettings {
    MilterMode mode = MilterMode::enforce;
    std::vector<std::string> always_accept{"postmaster", "abuse"};  // lowercased local parts
    std::string subaddress_delimiters = "+";
    Verdict on_cache_unavailable = Verdict::tempfail;
    Verdict on_stale = Verdict::reject;
    Seconds stale_after{std::chrono::hours(24)};  // copied from [sync] stale_after
    Reply reject{"550", "5.1.1", "<{address}>: Recipient address rejected: user unknown"};
    Reply tempfail{"451", "4.3.0", "<{address}>: Recipient address lookup failed: try again later"};
};

// [milter.harvest]: the directory-harvest defence (milter/harvest.h). A client (an IPv4
// address, an IPv6 /64) that sends `threshold` unknown recipients within `window` crosses it:
// one `event=harvest` line, and with action "450" or "421" every RCPT of that client is
// answered so for `block_for`. State is in the milter's memory, at most `max_clients` clients.
enum class HarvestAction { report, tempfail, disconnect };  // "report" | "450" | "421"
const char* harvest_action_name(HarvestAction action);

struct HarvestConfig {
    int threshold = 20;  // unknown recipients per client within `window`; 0 = off
    Seconds window{std::chrono::minutes(10)};
    HarvestAction action = HarvestAction::report;
    Seconds block_for{std::chrono::minutes(30)};
    std::uint64_t max_clients = 50'000;  // least recently seen clients are forgotten first
};

struct MilterConfig {
    std::string socket = "unix:/var/spool/postfix/m365gate/milter.sock";
    std::uint32_t socket_mode = 0660;  // TOML string "0660" (octal)
    std::string socket_group = "postfix";
    std::string user = "m365gate-milter";
    std::string group = "m365gate";
    std::filesystem::path pid_file = "/run/m365gate-milter/milter.pid";
    Seconds timeout{7210};     // libmilter smfi_settimeout
    Seconds stop_timeout{30};  // how long a stop waits for callbacks in flight
    HarvestConfig harvest;
};

struct SyncConfig {
    Seconds interval{std::chrono::minutes(5)};
    Seconds full_every{std::chrono::hours(24)};
    Seconds stale_after{std::chrono::hours(24)};
    double max_shrink = 0.25;       // fraction 0..1 of a tenant's addresses a full sync may drop
    std::filesystem::path ca_file;  // extra CA bundle; "" = system CAs only
    Seconds request_timeout{60};
    Seconds connect_timeout{10};
    int max_retries = 6;  // per request, for 429/5xx/timeouts
    Seconds max_backoff{std::chrono::minutes(5)};
    // Bounds of one tenant's round against a hostile or broken Graph: past one, that tenant's
    // round fails (error kind "limit"), its last good list stays, the next tenant syncs.
    std::uint64_t max_objects = 20'000'000;  // objects per collection (users, groups...) per round
    std::uint64_t max_pages = 0;             // pages per collection per round; 0 = derived
    Seconds round_budget{std::chrono::hours(8)};  // wall time of one tenant's round
    std::uint64_t max_spill_size = 0;  // bytes of a full sync's spill file; 0 = store.max_size
    std::string user = "m365gate";     // dropped to when started as root
    std::filesystem::path pid_file = "/run/m365gate/sync.pid";
};

// max_pages, or when 0 the derived bound: an average page of 100 objects (Graph pages hold up
// to 999) plus 1000 pages of slack for empty or small delta pages.
std::uint64_t effective_max_pages(const SyncConfig& sync);
// max_spill_size, or when 0 store.max_size: a spill larger than the store could not be
// published anyway (the store holds the same records, plus its B-tree).
std::uint64_t effective_max_spill_size(const SyncConfig& sync, const StoreConfig& store);

struct AlertConfig {
    std::vector<std::string> mail_to;
    std::string mail_from = "m365gate@localhost";
    std::filesystem::path sendmail = "/usr/sbin/sendmail";
    std::string webhook;                         // https URL, "" = off
    std::string language = "en";                 // "en" | "ja" | "en+ja" (Japanese first)
    std::string timezone = "UTC";                // IANA name
    std::vector<int> secret_days{30, 14, 7, 1};  // sorted descending after load
    Seconds sync_failure_after{std::chrono::hours(6)};
    Seconds repeat{std::chrono::hours(24)};  // reminder of a failure that lasts; at least 1h
    std::string host_label;                  // names the gateway in alerts; "" = the host's FQDN
    std::string portal_url;  // admin portal for links, "https://host"; "" = from login_endpoint
};

// [metrics]: Prometheus text for node_exporter's textfile collector (common/metrics.h). Each
// daemon writes its own file (m365gate_milter.prom, m365gate_sync.prom) into textfile_dir
// every `interval`, as a new file renamed over the old one. "" = no metrics are written.
struct MetricsConfig {
    std::filesystem::path textfile_dir;  // absolute; "" = off
    Seconds interval{15};                // from 1s to 1h
};

// [postfix]: Postfix lookup tables written from the store after each round that published a
// list (sync/postfix_tables.h): managed domains for relay_domains, known recipients for
// relay_recipient_maps, in Postfix's lmdb format, each a new file renamed over the old one.
// "" = no tables are written.
struct PostfixExportConfig {
    std::filesystem::path export_dir;  // absolute; "" = off
};

struct TenantConfig {
    std::string name;  // [a-z0-9._-]{1,64}, unique: key in the store and in logs
    std::string tenant_id;
    std::string client_id;
    std::filesystem::path client_secret_file;
    std::optional<SysTime> client_secret_expires;
    // Exactly one of client_secret_file and client_certificate_file (a PEM file with the RSA
    // private key and its certificate: the token request sends a client assertion signed with
    // it, common/certificate.h). assertion_alg: "PS256" (default) or "RS256".
    std::filesystem::path client_certificate_file;
    std::string assertion_alg = "PS256";
    std::vector<std::string> domains;  // canonical (A-labels, lowercased); empty = from Graph
    bool include_upn = false;
    std::string login_endpoint = "https://login.microsoftonline.com";  // no trailing slash
    std::string graph_endpoint = "https://graph.microsoft.com";        // no trailing slash
    std::vector<std::string> alert_mail_to;
    std::string language;  // alerts for this tenant: "en" | "ja" | "en+ja"; "" = alerts.language
    std::vector<std::string> extra_recipients;  // lowercased, domain as an A-label
    std::filesystem::path extra_recipients_file;
    // Per-tenant rollout: a tenant's own mode ([milter] mode when absent), and enabled = false
    // to keep a tenant configured but neither synced nor enforced (its domains are answered
    // as unmanaged, its stored list is kept for when it is enabled again).
    std::optional<MilterMode> mode;
    bool enabled = true;
    int line = 0;  // line of the [[tenant]] table, for messages
};

struct Config {
    std::filesystem::path file;  // where it was loaded from
    StoreConfig store;
    LogConfig log;
    DecisionSettings decision;
    MilterConfig milter;
    SyncConfig sync;
    AlertConfig alerts;
    MetricsConfig metrics;
    PostfixExportConfig postfix;
    std::vector<TenantConfig> tenants;

    const TenantConfig* find_tenant(std::string_view name) const;
};

inline constexpr const char* default_config_path = "/etc/m365gate/m365gate.toml";

// Parses and validates. Throws ConfigError("FILE:LINE: [section] key: what is wrong").
Config load_config(const std::filesystem::path& file);
// Same, from text (tests, fuzzing); `name` stands for the file name in messages.
Config parse_config(std::string_view text, const std::string& name);

// "512M", "4G", "65536" (bytes), "1T" -> bytes; nullopt on junk or overflow.
std::optional<std::uint64_t> parse_size(std::string_view text);

// Holds the config in force; readers take current() once per unit of work (P12).
class ConfigHolder {
public:
    explicit ConfigHolder(std::shared_ptr<const Config> cfg) : cfg_(std::move(cfg)) {}
    std::shared_ptr<const Config> current() const {
        std::lock_guard<std::mutex> lock(mu_);
        return cfg_;
    }
    void replace(std::shared_ptr<const Config> next) {
        std::lock_guard<std::mutex> lock(mu_);
        cfg_ = std::move(next);
    }

private:
    mutable std::mutex mu_;
    std::shared_ptr<const Config> cfg_;
};

}  // namespace m365gate
