// ctl/cert.cpp - `cert new` and `cert set`: certificate credentials (client_certificate_file).
//
// cert new makes a 3072-bit RSA key and a self-signed certificate, writes both into one PEM
// file the way secret set writes a credential file (a new file in a directory only root and
// sync.user can change, O_EXCL|O_NOFOLLOW, mode 0600 and owner set on the descriptor, renamed
// into place; common/safe_file.h), the public certificate as a .cer beside it (0644), and
// prints the thumbprints and the steps to upload the .cer in the Entra admin center. It never
// overwrites an existing file: the key in use stays until cert set installs the new one.
// cert set checks a PEM (key and certificate belong together, RSA, not expired) and installs
// it as the tenant's client_certificate_file (the one in use kept as FILE.previous), then
// signals m365gate-sync, which asks for a token with it at once. Key material is never printed.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <sstream>

#include "common/certificate.h"
#include "common/days.h"
#include "common/safe_file.h"
#include "common/text.h"
#include "ctl/ctl.h"

namespace m365gate::ctl {

namespace {

constexpr std::size_t max_pem_bytes = 64u << 10;

const TenantConfig* find_tenant(const Config& cfg, const std::string& name, std::ostream& err) {
    const TenantConfig* tenant = cfg.find_tenant(name);
    if (tenant == nullptr) {
        err << "m365gatectl: no tenant \"" << name << "\" in " << cfg.file.string() << "\n";
    }
    return tenant;
}

std::string date_of(std::int64_t t) { return format_time(t).substr(0, 10); }

// --out, or beside the tenant's credential file: <dir>/<tenant>-<YYYY-MM-DD>.pem.
std::filesystem::path new_pem_path(const TenantConfig& tenant, const std::string& out,
                                   std::int64_t now) {
    if (!out.empty()) {
        return out;
    }
    const std::filesystem::path dir = credential_file(tenant).parent_path();
    return dir / (tenant.name + "-" + date_of(now) + ".pem");
}

void print_upload_steps(const TenantConfig& tenant, const std::filesystem::path& pem,
                        const std::filesystem::path& cer, const CertificateInfo& info,
                        std::int64_t now, std::ostream& out) {
    const std::int64_t not_after = to_unix(info.not_after);
    out << "tenant " << tenant.name << ": new key and certificate\n"
        << "  key and certificate: " << pem.string() << " (mode 0600)\n"
        << "  certificate to upload: " << cer.string() << "\n"
        << "  subject: " << info.subject << "\n"
        << "  valid until: " << format_time(not_after) << " (" << days_left(not_after, now)
        << " days)\n"
        << "  SHA-1 thumbprint (Entra shows this one): " << info.sha1_hex << "\n"
        << "  SHA-256 thumbprint: " << info.sha256_hex << "\n\n"
        << "Next steps:\n"
        << "  1. Microsoft Entra admin center (https://entra.microsoft.com) > App registrations >\n"
        << "     the app (application id " << tenant.client_id << ") > Certificates & secrets >\n"
        << "     Certificates > Upload certificate: choose " << cer.filename().string()
        << ", Add.\n"
        << "  2. Check that the Thumbprint shown there is " << info.sha1_hex << ".\n";
    if (tenant.client_certificate_file.empty()) {
        out << "  3. In m365gate.toml, [[tenant]] \"" << tenant.name
            << "\": replace client_secret_file with\n"
            << "     client_certificate_file = \"" << pem.string() << "\"\n"
            << "     then m365gatectl check-config and m365gatectl reload.\n"
            << "  4. Once the tenant syncs (m365gatectl status), delete the client secret in the "
               "Entra admin center.\n";
    } else {
        out << "  3. m365gatectl cert set --tenant " << tenant.name << " " << pem.string() << "\n"
            << "  4. Once the tenant syncs (m365gatectl status), delete the old certificate in "
               "the Entra admin center.\n";
    }
}

// Writes a new file (never replacing one) through the checked directory.
int write_new_file(const Config& cfg, const std::filesystem::path& target, std::string_view text,
                   mode_t mode, const FileOwner& owner, std::ostream& err) {
    std::string why;
    const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const UniqueFd dir_fd = open_trusted_directory(dir, {owner.uid}, why);
    if (dir_fd.get() < 0) {
        err << "m365gatectl: refusing to write " << target.string() << ": " << why
            << "; the directory must be writable only by root and " << cfg.sync.user
            << " (sync.user)\n";
        return exit_unsafe;
    }
    struct stat st {};
    const std::string name = target.filename().string();
    if (::fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        err << "m365gatectl: " << target.string()
            << " exists: cert new never replaces a file (name another with --out)\n";
        return exit_failure;
    }
    why =
        replace_file_at(dir_fd.get(), name, text, mode,
                        ::geteuid() == owner.uid ? std::nullopt : std::optional<FileOwner>(owner));
    if (!why.empty()) {
        err << "m365gatectl: " << target.string() << " not written: " << why << "\n";
        return exit_failure;
    }
    return exit_ok;
}

void signal_sync(const Config& cfg, std::ostream& out) {
    std::string why;
    if (const auto pid = signal_daemon(cfg.sync.pid_file, "m365gate-sync", SIGHUP, why)) {
        out << "m365gate-sync: sent SIGHUP to pid " << *pid
            << ": it asks for a token with the new certificate now and logs whether it works\n";
    } else {
        out << "m365gate-sync: " << why << ": the new certificate is used when it next starts\n";
    }
}

// The PEM at `file` (not through a symlink), read as the caller.
bool read_pem_file(const std::string& file, Secret& pem, std::ostream& err) {
    const UniqueFd fd = open_read_no_follow(file);
    if (fd.get() < 0) {
        err << "m365gatectl: " << file << ": " << std::strerror(errno) << "\n";
        return false;
    }
    std::string text;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() <= max_pem_bytes) {
        text.append(buf, static_cast<std::size_t>(n));
    }
    pem = Secret(std::move(text));
    if (n < 0 || pem.reveal().size() > max_pem_bytes) {
        err << "m365gatectl: " << file << ": cannot read, or larger than 64 KiB\n";
        return false;
    }
    return true;
}

}  // namespace

int run_cert_new(const Config& cfg, const CertOptions& options, std::int64_t now, std::ostream& out,
                 std::ostream& err) {
    const TenantConfig* tenant = find_tenant(cfg, options.tenant, err);
    if (tenant == nullptr) {
        return exit_usage;
    }
    if (options.days < 1 || options.days > 3650) {
        err << "m365gatectl: --days " << options.days << ": from 1 to 3650\n";
        return exit_usage;
    }
    const std::filesystem::path pem = new_pem_path(*tenant, options.out, now);
    std::filesystem::path cer = pem;
    cer.replace_extension(".cer");
    if (cer == pem) {
        err << "m365gatectl: --out " << pem.string() << ": name the key file *.pem\n";
        return exit_usage;
    }
    FileOwner owner{};
    if (const int status = credential_owner(cfg, owner, err); status != exit_ok) {
        return status;
    }
    const NewCertificate made =
        make_self_signed_certificate("m365gate " + tenant->name, options.days, now);
    const std::string both = made.key_pem.reveal() + made.cert_pem;
    if (const int status = write_new_file(cfg, pem, both, 0600, owner, err); status != exit_ok) {
        return status;
    }
    if (const int status = write_new_file(cfg, cer, made.cert_pem, 0644, owner, err);
        status != exit_ok) {
        return status;
    }
    print_upload_steps(*tenant, pem, cer, made.info, now, out);
    return exit_ok;
}

int run_cert_set(const Config& cfg, const CertOptions& options, std::int64_t now, std::ostream& out,
                 std::ostream& err) {
    const TenantConfig* tenant = find_tenant(cfg, options.tenant, err);
    if (tenant == nullptr) {
        return exit_usage;
    }
    if (tenant->client_certificate_file.empty()) {
        err << "m365gatectl: tenant " << tenant->name
            << " signs in with a client secret: set client_certificate_file in its [[tenant]] "
               "instead of client_secret_file (docs/admin-guide.md, moving to a certificate)\n";
        return exit_usage;
    }
    Secret pem;
    if (!read_pem_file(options.file, pem, err)) {
        return exit_failure;
    }
    CertificateInfo info;
    try {
        info = read_certificate_pem(pem, options.file);
    } catch (const ConfigError& e) {
        err << "m365gatectl: " << e.what() << "; nothing written\n";
        return exit_failure;
    }
    const std::int64_t not_after = to_unix(info.not_after);
    if (not_after <= now) {
        err << "m365gatectl: " << options.file << ": the certificate expired on "
            << format_time(not_after) << "; nothing written\n";
        return exit_failure;
    }
    // Tried with a token request first (m365gate-sync --check-credential, as secret set does);
    // the certificate in use is kept as FILE.previous until the sync has signed in with the new
    // one: the way back.
    FileOwner owner{};
    if (const int status = try_and_install(cfg, *tenant, tenant->client_certificate_file,
                                           pem.reveal(), {options.verify, 0}, owner, out, err);
        status != exit_ok) {
        return status;
    }
    out << "tenant " << tenant->name << ": wrote " << tenant->client_certificate_file.string()
        << " (mode 0600, uid " << owner.uid << ", gid " << owner.gid << "); certificate "
        << info.sha1_hex << " valid until " << format_time(not_after) << " ("
        << days_left(not_after, now) << " days)\n";
    if (!options.reload) {
        out << "not signalling m365gate-sync (--no-reload): run m365gatectl reload\n";
        return exit_ok;
    }
    signal_sync(cfg, out);
    return exit_ok;
}

}  // namespace m365gate::ctl
