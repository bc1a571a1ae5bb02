// common/certificate.cpp - certificate credentials with OpenSSL's EVP interface: reading the
// PEM file, the client assertion, a new self-signed certificate. Every OpenSSL handle has an
// owner; OpenSSL's error queue is cleared, never copied into a message (it says nothing the
// message does not, and names no key material, but it is not ours to promise).

#include "common/certificate.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/config_internal.h"

namespace m365gate {

using namespace config_detail;

namespace {

constexpr std::size_t max_certificate_file_bytes = 64u << 10;

struct BioFree {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct X509Free {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// A passphrase callback that refuses: an encrypted key fails instead of prompting on a tty.
int no_passphrase(char*, int, int, void*) { return -1; }

Bio memory_bio(std::string_view text) {
    return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

[[noreturn]] void fail(const std::string& name, const std::string& what) {
    ERR_clear_error();
    throw ConfigError(name + ": " + what);
}

std::string hex_upper(const unsigned char* p, std::size_t n) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

SysTime asn1_time(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        return SysTime{};
    }
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

CertificateInfo describe(X509* cert) {
    CertificateInfo info;
    unsigned char* der = nullptr;
    const int len = i2d_X509(cert, &der);
    if (len > 0) {
        info.der.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    }
    OPENSSL_free(der);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    X509_digest(cert, EVP_sha1(), md, &md_len);
    info.sha1_hex = hex_upper(md, md_len);
    X509_digest(cert, EVP_sha256(), md, &md_len);
    info.sha256_hex = hex_upper(md, md_len);
    info.x5t_s256 = base64url_encode(std::string_view(reinterpret_cast<const char*>(md), md_len));
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    info.subject = printable(subject, 200);
    info.not_before = asn1_time(X509_get0_notBefore(cert));
    info.not_after = asn1_time(X509_get0_notAfter(cert));
    return info;
}

Cert read_first_certificate(std::string_view pem, const std::string& name) {
    Bio bio = memory_bio(pem);
    Cert cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
    if (!cert) {
        fail(name, "no certificate (-----BEGIN CERTIFICATE-----) in the file");
    }
    return cert;
}

// The private key and the certificate of the PEM text, checked to belong together.
std::pair<Pkey, Cert> read_key_and_certificate(const Secret& pem, const std::string& name) {
    const std::string& text = pem.reveal();
    if (text.find("ENCRYPTED PRIVATE KEY") != std::string::npos ||
        text.find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
        fail(name,
             "the private key is encrypted: m365gate needs it unencrypted (the file is "
             "protected by its mode, 0600)");
    }
    Bio bio = memory_bio(text);
    Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (!key) {
        fail(name, "no private key (-----BEGIN PRIVATE KEY----- or RSA PRIVATE KEY) in the file");
    }
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
        fail(name, "the private key is not an RSA key (Entra ID needs RSA for PS256/RS256)");
    }
    if (EVP_PKEY_get_bits(key.get()) < 2048) {
        fail(name, "the RSA key has fewer than 2048 bits (Entra ID refuses it)");
    }
    Cert cert = read_first_certificate(text, name);
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        fail(name, "the certificate in the file does not belong to its private key");
    }
    return {std::move(key), std::move(cert)};
}

std::string sign(EVP_PKEY* key, AssertionAlg alg, std::string_view input) {
    MdCtx ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) {
        fail("client assertion", "cannot initialise the signature");
    }
    if (alg == AssertionAlg::ps256 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
        fail("client assertion", "cannot select PSS padding");
    }
    std::size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) {
        fail("client assertion", "cannot sign");
    }
    std::string out(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, data,
                       input.size()) != 1) {
        fail("client assertion", "cannot sign");
    }
    out.resize(len);
    return out;
}

std::string random_guid() {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        fail("client assertion", "no random bytes for jti");
    }
    b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
    std::string hex = ascii_lower(hex_upper(b, sizeof b));
    return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
           hex.substr(16, 4) + '-' + hex.substr(20);
}

}  // namespace

const char* to_string(AssertionAlg alg) { return alg == AssertionAlg::rs256 ? "RS256" : "PS256"; }

std::string base64url_encode(std::string_view bytes) {
    static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += table[v & 63];
    }
    if (i + 1 == bytes.size()) {
        const unsigned v = byte(i) << 16;
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
    } else if (i + 2 == bytes.size()) {
        const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
    }
    return out;
}

CertificateInfo read_certificate_pem(const Secret& pem, const std::string& name) {
    auto [key, cert] = read_key_and_certificate(pem, name);
    return describe(cert.get());
}

CertificateInfo read_certificate_only(std::string_view pem, const std::string& name) {
    return describe(read_first_certificate(pem, name).get());
}

Credential load_certificate_credential(const std::filesystem::path& file) {
    const std::string name = file.string();
    struct stat st {};
    const UniqueFd fd = open_regular(name, "certificate file", st, false);
    const unsigned mode = st.st_mode & 07777;
    if ((mode & 077) != 0) {
        char octal[8];
        std::snprintf(octal, sizeof octal, "%04o", mode);
        throw ConfigError(name +
                          ": certificate file (it holds the private key) is accessible "
                          "by group or others (mode " +
                          octal + "): chmod 600 " + name);
    }
    Credential out;
    out.secret = Secret(read_whole(fd.get(), max_certificate_file_bytes, name, "certificate file"));
    out.expires = read_certificate_pem(out.secret, name).not_after;
    out.certificate = true;
    return out;
}

Credential load_tenant_credential(const TenantConfig& tenant) {
    return tenant.client_certificate_file.empty()
               ? load_credential(tenant.client_secret_file)
               : load_certificate_credential(tenant.client_certificate_file);
}

const std::filesystem::path& credential_file(const TenantConfig& tenant) {
    return tenant.client_certificate_file.empty() ? tenant.client_secret_file
                                                  : tenant.client_certificate_file;
}

Secret make_client_assertion(const Secret& pem, const std::string& client_id,
                             const std::string& audience, AssertionAlg alg, std::int64_t now) {
    auto [key, cert] = read_key_and_certificate(pem, "client_certificate_file");
    const CertificateInfo info = describe(cert.get());
    const nlohmann::json header = {
        {"alg", to_string(alg)}, {"typ", "JWT"}, {"x5t#S256", info.x5t_s256}};
    const nlohmann::json claims = {
        {"aud", audience},
        {"iss", client_id},
        {"sub", client_id},
        {"jti", random_guid()},
        {"nbf", now},
        {"iat", now},
        {"exp", now + assertion_lifetime_seconds},
    };
    const std::string input =
        base64url_encode(header.dump()) + '.' + base64url_encode(claims.dump());
    return Secret(input + '.' + base64url_encode(sign(key.get(), alg, input)));
}

NewCertificate make_self_signed_certificate(const std::string& common_name, int days,
                                            std::int64_t now) {
    const std::string what = "new certificate";
    Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(3072)));
    Cert cert(X509_new());
    if (!key || !cert) {
        fail(what, "cannot make an RSA key");
    }
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;  // a positive serial number
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    X509_set_version(cert.get(), 2);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
    ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(now));
    ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                  static_cast<time_t>(now + std::int64_t{days} * 86400));
    X509_NAME* subject = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                               0);
    X509_set_issuer_name(cert.get(), subject);
    X509_set_pubkey(cert.get(), key.get());
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
        fail(what, "cannot sign the certificate");
    }
    NewCertificate out;
    Bio key_bio(BIO_new(BIO_s_mem()));
    Bio cert_bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
            1 ||
        PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1) {
        fail(what, "cannot write PEM");
    }
    char* p = nullptr;
    long n = BIO_get_mem_data(key_bio.get(), &p);
    out.key_pem = Secret(std::string(p, static_cast<std::size_t>(n)));
    OPENSSL_cleanse(p, static_cast<std::size_t>(n));
    n = BIO_get_mem_data(cert_bio.get(), &p);
    out.cert_pem.assign(p, static_cast<std::size_t>(n));
    out.info = describe(cert.get());
    return out;
}

}  // namespace m365gate
