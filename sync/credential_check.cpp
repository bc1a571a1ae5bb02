// sync/credential_check.cpp - a credential proved by a token request, `m365gate-sync
// --check-credential`, and the rotation's `.previous` file (see credential_check.h).
#include "sync/credential_check.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <istream>
#include <ostream>

#include "common/certificate.h"
#include "common/log.h"
#include "common/text.h"
#include "sync/http.h"
#include "sync/sync_error.h"
#include "sync/tenant_sync.h"
#include "sync/token.h"

namespace m365gate::sync {

namespace {

constexpr std::size_t max_credential_text = 64u << 10;

// The credential text on `in`; false when there is more than max_credential_text.
bool read_bounded(std::istream& in, std::string& text) {
    char buf[4096];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        text.append(buf, static_cast<std::size_t>(in.gcount()));
        if (text.size() > max_credential_text) {
            return false;
        }
    }
    return true;
}

// A value for a key=value line: quoted, printable, no quote or backslash inside.
std::string quoted(const std::string& text) {
    std::string v = printable(text, 400);
    std::replace(v.begin(), v.end(), '"', '\'');
    std::replace(v.begin(), v.end(), '\\', '/');
    return "\"" + v + "\"";
}

// An AADSTS number ("7000215"), not an HTTP status or an OAuth error word.
bool is_aadsts(const std::string& code) {
    return code.size() >= 5 && code.size() <= 9 &&
           code.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

SyncResult verify_credential(const Config& cfg, const TenantConfig& tenant,
                             const Credential& credential, const std::atomic<bool>* stop) {
    SyncResult result;
    try {
        HttpClient http(http_options(cfg), stop);
        RetryPolicy policy = retry_policy(cfg);
        policy.max_retries = std::min(policy.max_retries, 2);
        TokenClient tokens;  // nothing cached: this request proves the credential
        tokens.get(http, tenant, credential.secret, policy, stop);
        result.ok = true;
    } catch (const SyncError& e) {
        result = e.result();
    } catch (const SyncStopped&) {
        result.error_kind = error_kind_text(ErrorKind::stopped);
        result.message = "stopped before the token endpoint answered";
    }
    return result;
}

int run_check_credential(const Config& cfg, const std::string& tenant_name, std::istream& in,
                         std::ostream& out) {
    const TenantConfig* tenant = cfg.find_tenant(tenant_name);
    if (tenant == nullptr) {
        out << "status=error kind=config error=" << quoted("no tenant " + tenant_name) << "\n";
        return check_bad_input;
    }
    std::string text;
    if (!read_bounded(in, text)) {
        out << "status=error kind=config error=" << quoted("more than 64 KiB on standard input")
            << "\n";
        return check_bad_input;
    }
    std::optional<Credential> credential;
    try {
        if (tenant->client_certificate_file.empty()) {
            credential = parse_credential(text, "standard input");
        } else {  // a certificate tenant: the PEM (key and certificate) of cert set
            Credential c;
            c.secret = Secret(text);
            c.expires = read_certificate_pem(c.secret, "standard input").not_after;
            c.certificate = true;
            credential = std::move(c);
        }
    } catch (const ConfigError& e) {
        out << "status=error kind=config error=" << quoted(e.what()) << "\n";
        return check_bad_input;
    }
    const SyncResult r = verify_credential(cfg, *tenant, *credential, nullptr);
    if (r.ok) {
        spdlog::info("tenant={} event=check_credential status=accepted", tenant->name);
        out << "status=accepted\n";
        return check_accepted;
    }
    const bool refused = r.error_kind == error_kind_text(ErrorKind::token) &&
                         is_aadsts(r.error_code) &&
                         !token_error_is_transient(std::atol(r.error_code.c_str()));
    spdlog::warn("tenant={} event=check_credential status={} error_kind={} error_code={}",
                 tenant->name, refused ? "refused" : "unavailable", r.error_kind,
                 log_value(r.error_code, 80));
    out << "status=" << (refused ? "refused" : "unavailable") << " kind=" << r.error_kind
        << " code=" << quoted(r.error_code) << " error=" << quoted(r.message) << "\n";
    return refused ? check_refused : check_unavailable;
}

std::filesystem::path previous_credential_path(const std::filesystem::path& file) {
    return file.string() + ".previous";
}

void forget_previous_credential(const TenantConfig& tenant, const Credential& in_use) {
    const std::filesystem::path previous = previous_credential_path(credential_file(tenant));
    struct stat st {};
    if (::lstat(previous.c_str(), &st) != 0) {
        return;  // none kept (the usual case)
    }
    try {
        if (S_ISREG(st.st_mode) &&
            (in_use.certificate ? load_certificate_credential(previous) : load_credential(previous))
                    .secret == in_use.secret) {
            return;  // the old secret is still the one in use: the new one has not worked yet
        }
    } catch (const ConfigError& e) {
        spdlog::warn("tenant={} event=credential_previous status=unreadable file={} error={}",
                     tenant.name, log_value(previous.string()), log_value(e.what()));
    }
    if (::unlink(previous.c_str()) != 0) {
        spdlog::warn(
            "tenant={} event=credential_previous status=error file={} error={} "
            "note=\"the new credential works; remove the old one by hand\"",
            tenant.name, log_value(previous.string()), log_value(std::strerror(errno)));
        return;
    }
    spdlog::info(
        "tenant={} event=credential_previous status=removed file={} "
        "note=\"the new credential worked\"",
        tenant.name, log_value(previous.string()));
}

}  // namespace m365gate::sync
