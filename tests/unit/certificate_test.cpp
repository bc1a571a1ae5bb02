// Certificate credentials (common/certificate.h): the PEM file, the client assertion's header,
// claims and signature (verified here with OpenSSL against the certificate's public key), and
// the file checks of client_certificate_file.
#include "common/certificate.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/unit/temp_dir.h"

using namespace m365gate;
using nlohmann::json;

namespace {

std::int64_t now() { return 1796000000; }  // 2026-11-30

const NewCertificate& test_certificate() {
    static const NewCertificate c = make_self_signed_certificate("m365gate test", 30, now());
    return c;
}

Secret pem_of(const NewCertificate& c) { return Secret(c.key_pem.reveal() + c.cert_pem); }

std::string base64url_decode(std::string_view text) {
    static const std::string table =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned v = 0;
    int bits = 0;
    for (char c : text) {
        v = (v << 6) | static_cast<unsigned>(table.find(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((v >> bits) & 0xff));
        }
    }
    return out;
}

struct Parts {
    std::string header, claims, signed_part, signature;
};

Parts split(const std::string& jwt) {
    const auto a = jwt.find('.');
    const auto b = jwt.find('.', a + 1);
    return {base64url_decode(jwt.substr(0, a)), base64url_decode(jwt.substr(a + 1, b - a - 1)),
            jwt.substr(0, b), base64url_decode(jwt.substr(b + 1))};
}

// What the token endpoint does: the signature against the certificate's public key.
bool verifies(const std::string& cert_pem, const std::string& alg, const std::string& input,
              const std::string& signature) {
    BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok = cert != nullptr &&
              EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, X509_get0_pubkey(cert)) == 1;
    if (ok && alg == "PS256") {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    ok = ok && EVP_DigestVerify(
                   ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                   reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    X509_free(cert);
    return ok;
}

}  // namespace

TEST_CASE("a new certificate reads back with its thumbprints and dates", "[certificate]") {
    const NewCertificate& c = test_certificate();
    CHECK(c.key_pem.reveal().find("-----BEGIN PRIVATE KEY-----") == 0);
    CHECK(c.cert_pem.find("-----BEGIN CERTIFICATE-----") == 0);
    const CertificateInfo info = read_certificate_pem(pem_of(c), "test.pem");
    CHECK(info.sha1_hex == c.info.sha1_hex);
    CHECK(info.sha1_hex.size() == 40);
    CHECK(info.sha256_hex.size() == 64);
    CHECK(info.x5t_s256.size() == 43);
    CHECK(info.subject == "/CN=m365gate test");
    CHECK(to_unix(info.not_before) == now());
    CHECK(to_unix(info.not_after) == now() + 30 * 86400);
    // Certificate first, key second: the same.
    CHECK(read_certificate_pem(Secret(c.cert_pem + c.key_pem.reveal()), "x").sha1_hex ==
          info.sha1_hex);
}

TEST_CASE("a PEM file that cannot sign in is refused with a clear message", "[certificate]") {
    const NewCertificate& c = test_certificate();
    const NewCertificate other = make_self_signed_certificate("other", 30, now());
    struct Case {
        const char* label;
        std::string text;
        const char* message;
    };
    const Case cases[] = {
        {"no key", c.cert_pem, "no private key"},
        {"no certificate", c.key_pem.reveal(), "no certificate"},
        {"the certificate of another key", c.key_pem.reveal() + other.cert_pem,
         "does not belong to its private key"},
        {"an encrypted key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n", "encrypted"},
        {"empty", "", "no private key"},
    };
    for (const auto& k : cases) {
        INFO(k.label);
        try {
            read_certificate_pem(Secret(k.text), "f.pem");
            FAIL("accepted");
        } catch (const ConfigError& e) {
            const std::string what = e.what();
            CHECK(what.find("f.pem: ") == 0);
            CHECK(what.find(k.message) != std::string::npos);
            CHECK(what.find("MII") == std::string::npos);  // no key material
        }
    }
}

TEST_CASE("the client assertion carries Entra's header and claims and verifies", "[certificate]") {
    const NewCertificate& c = test_certificate();
    const std::string aud = "https://login.microsoftonline.com/tid/oauth2/v2.0/token";
    for (const auto alg : {AssertionAlg::ps256, AssertionAlg::rs256}) {
        INFO(to_string(alg));
        const Secret jwt = make_client_assertion(pem_of(c), "client-guid", aud, alg, now());
        const Parts p = split(jwt.reveal());
        const json header = json::parse(p.header);
        const json claims = json::parse(p.claims);
        CHECK(header["alg"] == to_string(alg));
        CHECK(header["typ"] == "JWT");
        CHECK(header["x5t#S256"] == c.info.x5t_s256);
        CHECK(claims["aud"] == aud);
        CHECK(claims["iss"] == "client-guid");
        CHECK(claims["sub"] == "client-guid");
        CHECK(claims["jti"].get<std::string>().size() == 36);
        CHECK(claims["nbf"] == now());
        CHECK(claims["iat"] == now());
        CHECK(claims["exp"] == now() + 600);
        CHECK(verifies(c.cert_pem, to_string(alg), p.signed_part, p.signature));

        SECTION("a flipped byte in the signature or the claims does not verify") {
            std::string bad = p.signature;
            bad[bad.size() / 2] ^= 0x01;
            CHECK_FALSE(verifies(c.cert_pem, to_string(alg), p.signed_part, bad));
            std::string changed = p.signed_part;
            changed[changed.size() - 3] ^= 0x01;
            CHECK_FALSE(verifies(c.cert_pem, to_string(alg), changed, p.signature));
        }
        SECTION("another certificate does not verify it") {
            const NewCertificate other = make_self_signed_certificate("other", 30, now());
            CHECK_FALSE(verifies(other.cert_pem, to_string(alg), p.signed_part, p.signature));
        }
    }
    // A new jti each time.
    CHECK(make_client_assertion(pem_of(c), "a", aud, AssertionAlg::ps256, now()) !=
          make_client_assertion(pem_of(c), "a", aud, AssertionAlg::ps256, now()));
}

TEST_CASE("client_certificate_file is loaded only when no one else can read it", "[certificate]") {
    const NewCertificate& c = test_certificate();
    testing::TempDir dir;
    const auto file = dir.path() / "contoso.pem";
    {
        std::ofstream out(file);
        out << c.key_pem.reveal() << c.cert_pem;
    }
    ::chmod(file.c_str(), 0640);
    CHECK_THROWS_WITH(load_certificate_credential(file),
                      Catch::Contains("accessible by group or others (mode 0640): chmod 600"));
    ::chmod(file.c_str(), 0600);
    const Credential cred = load_certificate_credential(file);
    CHECK(cred.certificate);
    REQUIRE(cred.expires);
    CHECK(to_unix(*cred.expires) == now() + 30 * 86400);
    std::filesystem::create_symlink(file, dir.path() / "link.pem");
    CHECK_THROWS(load_certificate_credential(dir.path() / "link.pem"));
}
