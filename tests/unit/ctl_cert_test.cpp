// m365gatectl cert new and cert set: the files, their modes and owner, what is printed.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "common/certificate.h"
#include "ctl/ctl.h"
#include "tests/unit/ctl_fixture.h"

using namespace m365gate;
using namespace m365gate::ctl;
using namespace m365gate::ctl::testing;

namespace {

std::int64_t now() { return 1796000000; }  // 2026-11-30

struct stat stat_of(const std::filesystem::path& file) {
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    return st;
}

// "nobody" as root, else the user running the tests (cert new runs as root or sync.user).
std::string sync_user_for_tests() {
    if (::geteuid() == 0) return "nobody";
    const passwd* pw = ::getpwuid(::geteuid());
    return pw != nullptr ? pw->pw_name : "";
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST_CASE("cert new writes the key 0600 for sync.user, the .cer beside it, and the steps",
          "[ctl][cert]") {
    StoreFixture fx;
    fx.cfg.sync.user = sync_user_for_tests();
    const passwd* pw = ::getpwnam(fx.cfg.sync.user.c_str());
    REQUIRE(pw != nullptr);
    std::ostringstream out, err;
    CertOptions options;
    options.tenant = "contoso";
    options.days = 400;
    REQUIRE(run_cert_new(fx.cfg, options, now(), out, err) == exit_ok);
    INFO(out.str() << err.str());
    const auto pem = fx.dir.path() / "contoso-2026-11-30.pem";
    const auto cer = fx.dir.path() / "contoso-2026-11-30.cer";
    const struct stat key_st = stat_of(pem);
    CHECK((key_st.st_mode & 07777) == 0600);
    CHECK(key_st.st_uid == pw->pw_uid);
    CHECK((stat_of(cer).st_mode & 07777) == 0644);
    CHECK(stat_of(cer).st_uid == pw->pw_uid);

    // The PEM is what client_certificate_file wants; the .cer holds no key.
    const CertificateInfo info = read_certificate_pem(Secret(read_text(pem)), pem.string());
    CHECK(to_unix(info.not_after) == now() + 400 * 86400);
    CHECK_FALSE(contains(read_text(cer), "PRIVATE KEY"));
    CHECK(read_certificate_only(read_text(cer), cer.string()).sha1_hex == info.sha1_hex);

    const std::string text = out.str();
    CHECK(contains(text, "SHA-1 thumbprint (Entra shows this one): " + info.sha1_hex));
    CHECK(contains(text, "SHA-256 thumbprint: " + info.sha256_hex));
    CHECK(contains(text, "App registrations >"));
    CHECK(contains(text, "Certificates > Upload certificate: choose contoso-2026-11-30.cer"));
    CHECK(contains(text, "client_certificate_file = \"" + pem.string() + "\""));
    CHECK_FALSE(contains(text, "PRIVATE KEY"));
    CHECK(err.str().empty());

    // It never replaces a file (one key pair per test case: 3072-bit keys take a while).
    std::ostringstream out2, err2;
    CHECK(run_cert_new(fx.cfg, options, now(), out2, err2) == exit_failure);
    CHECK(contains(err2.str(), "exists: cert new never replaces a file"));
    CHECK(read_certificate_pem(Secret(read_text(pem)), "x").sha1_hex == info.sha1_hex);
    // Bad --days and an unknown tenant are usage errors.
    options.days = 0;
    CHECK(run_cert_new(fx.cfg, options, now(), out2, err2) == exit_usage);
    options.days = 30;
    options.tenant = "nope";
    CHECK(run_cert_new(fx.cfg, options, now(), out2, err2) == exit_usage);
}

TEST_CASE("cert set installs a checked PEM as client_certificate_file", "[ctl][cert]") {
    StoreFixture fx;
    fx.cfg.sync.user = sync_user_for_tests();
    TenantConfig& tenant = fx.cfg.tenants[0];
    CertOptions options;
    options.tenant = "contoso";
    options.reload = false;
    options.verify = false;  // no token endpoint here: sync_cert_test tries certificates
    static const NewCertificate made = make_self_signed_certificate("t", 30, now());
    options.file = (fx.dir.path() / "new.pem").string();
    {
        std::ofstream f(options.file);
        f << made.key_pem.reveal() << made.cert_pem;
    }
    std::ostringstream out, err;

    SECTION("a tenant on a client secret is told to change its config") {
        CHECK(run_cert_set(fx.cfg, options, now(), out, err) == exit_usage);
        CHECK(contains(err.str(), "instead of client_secret_file"));
    }
    tenant.client_secret_file.clear();
    tenant.client_certificate_file = fx.dir.path() / "contoso.pem";
    SECTION("a good PEM is written 0600 and reads back the same") {
        REQUIRE(run_cert_set(fx.cfg, options, now(), out, err) == exit_ok);
        CHECK((stat_of(tenant.client_certificate_file).st_mode & 07777) == 0600);
        CHECK(read_text(tenant.client_certificate_file) == made.key_pem.reveal() + made.cert_pem);
        CHECK(contains(out.str(), made.info.sha1_hex));
        CHECK_FALSE(contains(out.str(), "PRIVATE KEY"));
        // A second cert set, with another certificate, keeps the one in use as .previous, 0600.
        const std::string first = read_text(tenant.client_certificate_file);
        static const NewCertificate next = make_self_signed_certificate("t2", 30, now());
        {
            std::ofstream f(options.file);
            f << next.key_pem.reveal() << next.cert_pem;
        }
        REQUIRE(run_cert_set(fx.cfg, options, now(), out, err) == exit_ok);
        auto previous = tenant.client_certificate_file;
        previous += ".previous";
        CHECK(read_text(previous) == first);
        CHECK((stat_of(previous).st_mode & 07777) == 0600);
    }
    SECTION("an expired certificate or a PEM without its key is refused, nothing written") {
        CHECK(run_cert_set(fx.cfg, options, now() + 31 * 86400, out, err) == exit_failure);
        CHECK(contains(err.str(), "the certificate expired on"));
        {
            std::ofstream f(options.file);
            f << made.cert_pem;
        }
        CHECK(run_cert_set(fx.cfg, options, now(), out, err) == exit_failure);
        CHECK(contains(err.str(), "no private key"));
        CHECK_FALSE(std::filesystem::exists(tenant.client_certificate_file));
    }
}
