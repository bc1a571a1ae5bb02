// common/certificate.h - certificate credentials (client_certificate_file in m365gate.toml).
//
// One PEM file holds the tenant's RSA private key and its X.509 certificate (in either order).
// The token request proves the key with a client assertion (RFC 7523 JWT: aud = the token
// endpoint, iss = sub = the client id, jti, nbf, iat, exp 10 minutes on; header alg, typ JWT,
// x5t#S256), signed PS256 or RS256 with OpenSSL's EVP interface. Also the key pair and
// self-signed certificate of `m365gatectl cert new`. Built as its own library
// (m365_certificate, linked by m365gate-sync and m365gatectl only, never by the milter). No
// message built here holds key material or an assertion.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/credentials.h"
#include "common/secret.h"
#include "common/time.h"

namespace m365gate {

// assertion_alg in m365gate.toml: "PS256" (default, what Entra documents) or "RS256".
enum class AssertionAlg { ps256, rs256 };
const char* to_string(AssertionAlg alg);

// What m365gate reads of a certificate: never secret.
struct CertificateInfo {
    std::string der;         // the certificate, DER
    std::string sha1_hex;    // upper-case hex, as the Entra admin center shows the thumbprint
    std::string sha256_hex;  // upper-case hex
    std::string x5t_s256;    // base64url of the SHA-256 of the DER (the JWT header's x5t#S256)
    std::string subject;     // one line, e.g. "CN=m365gate contoso"
    SysTime not_before;
    SysTime not_after;
};

// Parses a PEM text holding one unencrypted RSA private key and the certificate that belongs
// to it. Throws ConfigError naming `name` (no key, no certificate, an encrypted key, a key
// that is not RSA or shorter than 2048 bits, a certificate of another key).
CertificateInfo read_certificate_pem(const Secret& pem, const std::string& name);
// Only the first certificate of a PEM text (a .cer); throws ConfigError naming `name`.
CertificateInfo read_certificate_only(std::string_view pem, const std::string& name);

// client_certificate_file: the same file checks as load_credential() (a regular file, not a
// symlink, not readable by group or others), then read_certificate_pem(). The Credential's
// secret is the PEM text, expires the certificate's notAfter, certificate true.
Credential load_certificate_credential(const std::filesystem::path& file);
// The tenant's credential: load_certificate_credential(client_certificate_file) when set,
// else load_credential(client_secret_file).
Credential load_tenant_credential(const TenantConfig& tenant);
// The file that holds the tenant's credential (certificate or secret).
const std::filesystem::path& credential_file(const TenantConfig& tenant);

std::string base64url_encode(std::string_view bytes);

// The signed client assertion, valid from `now` for 10 minutes. The PEM as
// read_certificate_pem() accepts it; throws ConfigError when it does not.
inline constexpr std::int64_t assertion_lifetime_seconds = 600;
Secret make_client_assertion(const Secret& pem, const std::string& client_id,
                             const std::string& audience, AssertionAlg alg, std::int64_t now);

// A new 3072-bit RSA key and a self-signed certificate for it (CN = `common_name`, valid from
// `now` for `days` days, SHA-256). key_pem is PKCS#8, unencrypted.
struct NewCertificate {
    Secret key_pem;
    std::string cert_pem;
    CertificateInfo info;
};
NewCertificate make_self_signed_certificate(const std::string& common_name, int days,
                                            std::int64_t now);

}  // namespace m365gate
