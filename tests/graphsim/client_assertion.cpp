// graphsim client assertions: certificate credentials (RFC 7523 private_key_jwt) as the
// Microsoft identity platform checks them - the certificate found by the header's x5t#S256
// (or x5t) among the app's uploaded certificates, the PS256/RS256 signature really verified
// with OpenSSL, the certificate's validity, `aud` (the token endpoint URL), `iss`/`sub`, and
// `nbf`/`exp` with Entra's 5 minutes of clock skew. Errors carry Entra's AADSTS codes:
// 700027 (key not found, signature does not verify, key expired), 700023 (audience),
// 700021 (issuer/subject), 700024 (time range), 50027 (not a JWT).
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "simulator.h"

namespace graphsim {

using nlohmann::json;

namespace {

constexpr UnixSeconds clock_skew = 300;

struct X509Free {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr read_x509(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    return cert;
}

UnixSeconds asn1_seconds(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return static_cast<UnixSeconds>(timegm(&tm));
}

std::string hex_upper(std::string_view bytes) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string digest(const std::string& der, const EVP_MD* md) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(der.data(), der.size(), out, &len, md, nullptr);
    return std::string(reinterpret_cast<const char*>(out), len);
}

bool verify_signature(const Certificate& cert, const std::string& alg, std::string_view input,
                      const std::string& signature) {
    X509Ptr x509 = read_x509(*cert.pem);
    EVP_PKEY* key = x509 ? X509_get0_pubkey(x509.get()) : nullptr;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    bool ok = key != nullptr && ctx != nullptr &&
              EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, key) == 1;
    if (ok && alg == "PS256") {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    ok = ok && EVP_DigestVerify(
                   ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                   reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

struct Jwt {
    json header;
    json claims;
    std::string signed_part;  // header.claims, as sent
    std::string signature;
};

std::optional<Jwt> split_jwt(const std::string& text) {
    const std::size_t a = text.find('.');
    const std::size_t b = a == std::string::npos ? a : text.find('.', a + 1);
    if (b == std::string::npos || text.find('.', b + 1) != std::string::npos) {
        return std::nullopt;
    }
    const auto header = base64url_decode(std::string_view(text).substr(0, a));
    const auto claims = base64url_decode(std::string_view(text).substr(a + 1, b - a - 1));
    const auto signature = base64url_decode(std::string_view(text).substr(b + 1));
    if (!header || !claims || !signature) {
        return std::nullopt;
    }
    Jwt jwt{json::parse(*header, nullptr, false), json::parse(*claims, nullptr, false),
            text.substr(0, b), *signature};
    if (!jwt.header.is_object() || !jwt.claims.is_object()) {
        return std::nullopt;
    }
    return jwt;
}

std::string string_claim(const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<UnixSeconds> time_claim(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) {
        return std::nullopt;
    }
    return it->get<UnixSeconds>();
}

std::string key_found_text(const Certificate& c) {
    return "Found key 'Start=" + format_iso8601(c.start) + ", End=" + format_iso8601(c.end) + "'";
}

}  // namespace

Certificate parse_certificate(const std::string& pem) {
    X509Ptr x509 = read_x509(pem);
    if (!x509) {
        throw std::runtime_error("certificate: no PEM certificate");
    }
    Certificate c;
    unsigned char* der = nullptr;
    const int len = i2d_X509(x509.get(), &der);
    c.der.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    c.x5t_s256 = base64url_encode(digest(c.der, EVP_sha256()));
    const std::string sha1 = digest(c.der, EVP_sha1());
    c.x5t = base64url_encode(sha1);
    c.sha1_hex = hex_upper(sha1);
    c.pem = std::make_shared<const std::string>(pem);
    c.start = asn1_seconds(X509_get0_notBefore(x509.get()));
    c.end = asn1_seconds(X509_get0_notAfter(x509.get()));
    return c;
}

bool check_client_assertion(Simulator& sim, const App& app, const std::string& assertion,
                            const std::string& audience, const httplib::Request& req,
                            httplib::Response& res) {
    const auto refuse = [&](long code, const std::string& text) {
        write_token_error(sim, req, res, 401, "invalid_client", code, text);
        return false;
    };
    const auto jwt = split_jwt(assertion);
    if (!jwt) {
        return refuse(50027, "JWT token is invalid or malformed.");
    }
    const std::string alg = string_claim(jwt->header, "alg");
    const std::string s256 = string_claim(jwt->header, "x5t#S256");
    const std::string s1 = string_claim(jwt->header, "x5t");
    const Certificate* cert = nullptr;
    for (const Certificate& c : app.certificates) {
        if ((!s256.empty() && s256 == c.x5t_s256) || (s256.empty() && !s1.empty() && s1 == c.x5t)) {
            cert = &c;
        }
    }
    const auto sent = base64url_decode(s256.empty() ? s1 : s256);
    const std::string thumbprint =
        "Thumbprint of key used by client: '" + hex_upper(sent ? *sent : std::string()) + "'";
    const std::string see_keys =
        "Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see "
        "configured keys for app Id '" +
        app.app_id + "'.";
    if (cert == nullptr) {
        return refuse(700027,
                      "Client assertion contains an invalid signature. [Reason - The key "
                      "was not found., " +
                          thumbprint + ", " + see_keys + "]");
    }
    if ((alg != "PS256" && alg != "RS256") ||
        !verify_signature(*cert, alg, jwt->signed_part, jwt->signature)) {
        return refuse(700027,
                      "Client assertion contains an invalid signature. [Reason - The provided "
                      "signature value did not match the expected signature value., " +
                          thumbprint + ", " + key_found_text(*cert) + "]");
    }
    const UnixSeconds now = sim.clock.now();
    if (cert->end <= now) {
        return refuse(700027,
                      "Client assertion contains an invalid signature. [Reason - The key "
                      "used is expired., " +
                          thumbprint + ", " + key_found_text(*cert) + ", " + see_keys + "]");
    }
    if (string_claim(jwt->claims, "aud") != audience) {
        return refuse(
            700023,
            "Client assertion audience claim does not match Realm issuer. Review the "
            "documentation at "
            "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .");
    }
    if (!iequals(string_claim(jwt->claims, "iss"), app.app_id) ||
        !iequals(string_claim(jwt->claims, "sub"), app.app_id)) {
        return refuse(700021,
                      "Client assertion application identifier doesn't match "
                      "'client_id' parameter. Review the documentation at "
                      "https://learn.microsoft.com/entra/identity-platform/"
                      "certificate-credentials .");
    }
    const auto nbf = time_claim(jwt->claims, "nbf");
    const auto exp = time_claim(jwt->claims, "exp");
    if (!exp || now >= *exp + clock_skew || (nbf && now + clock_skew < *nbf)) {
        return refuse(700024,
                      "Client assertion is not within its valid time range. Current "
                      "time: " +
                          format_iso8601(now) + ", assertion valid from " +
                          format_iso8601(nbf.value_or(0)) + ", expiry time of assertion " +
                          format_iso8601(exp.value_or(0)) +
                          ". Review the documentation at "
                          "https://learn.microsoft.com/entra/identity-platform/"
                          "certificate-credentials .");
    }
    return true;
}

}  // namespace graphsim
