// sync/token.cpp - client-credentials token requests, error classification and caching.
#include "sync/token.h"

#include <spdlog/spdlog.h>
#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "common/certificate.h"
#include "common/log.h"
#include "sync/sync_error.h"
#include "sync/sync_metrics.h"

namespace m365gate::sync {
namespace {

using json = nlohmann::json;

// An access token goes into a header of every Graph request: Entra's app-only tokens are a few
// KiB; one of more than this is no token we want to send around.
constexpr std::size_t max_access_token_bytes = 64u << 10;

std::string string_field(const json& j, const char* key) {
    const auto it = j.find(key);
    return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

std::string join_codes(const std::vector<long>& codes) {
    std::string out;
    for (long c : codes) {
        if (!out.empty()) {
            out += ',';
        }
        out += std::to_string(c);
    }
    return out;
}

bool is_retryable_status(long status) {
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504 ||
           status == 509;
}

}  // namespace

std::string describe_token_error(long code) {
    switch (code) {
        case 7000222:
            return "the client secret has expired: create a new secret for the app, install it "
                   "(m365gatectl secret set) and reload";
        case 7000215:
            return "the client secret is wrong (or the secret ID was installed instead of the "
                   "secret value)";
        case 7000218:
            return "no client secret was sent: the credential file is empty";
        case 700016:
            return "the application (client_id) was not found in the tenant: wrong client_id, "
                   "tenant or cloud";
        case 90002:
            return "the tenant was not found: wrong tenant_id or cloud (login_endpoint)";
        case 900023:
            return "the tenant_id is neither a valid GUID nor a domain name";
        case 90038:
            return "the tenant belongs to a national cloud: set login_endpoint and graph_endpoint "
                   "for that cloud";
        case 7000112:
            return "the application is disabled";
        case 70011:
        case 1002012:
            return "the token scope was refused (check graph_endpoint)";
        case 500011:
            return "the resource (Graph) was not found in the tenant: graph_endpoint does not "
                   "match the tenant's cloud";
        case 53003:
            return "Conditional Access blocks the application";
        case 700027:
            return "Entra ID does not know the certificate (thumbprint) or the assertion's "
                   "signature is invalid: upload the .cer of client_certificate_file to the app";
        case 700024:
            return "the client assertion is not within its valid time range: check the clock "
                   "of this host (NTP)";
        case 700023:
            return "the client assertion's audience does not match the token endpoint: check "
                   "login_endpoint and tenant_id";
        default:
            return "";
    }
}

TokenErrorBody parse_token_error(const std::string& body) {
    TokenErrorBody e;
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return e;
    }
    e.error = string_field(j, "error");
    e.trace_id = string_field(j, "trace_id");
    e.correlation_id = string_field(j, "correlation_id");
    const auto codes = j.find("error_codes");
    if (codes != j.end() && codes->is_array()) {
        for (const auto& c : *codes) {
            if (c.is_number_integer()) {
                e.codes.push_back(c.get<long>());
            }
        }
    }
    return e;
}

std::chrono::seconds token_lifetime(const json* expires_in) {
    using std::chrono::seconds;
    if (expires_in == nullptr) {
        return seconds(3599);
    }
    const auto clamp = [](std::int64_t s) {
        return seconds(
            std::clamp<std::int64_t>(s, min_token_lifetime.count(), max_token_lifetime.count()));
    };
    const std::int64_t max = max_token_lifetime.count();
    if (expires_in->is_number_unsigned()) {
        const std::uint64_t v = expires_in->get<std::uint64_t>();
        return clamp(v > static_cast<std::uint64_t>(max) ? max : static_cast<std::int64_t>(v));
    }
    if (expires_in->is_number_integer()) {
        return clamp(expires_in->get<std::int64_t>());
    }
    if (expires_in->is_number_float()) {
        const double v = expires_in->get<double>();
        if (!std::isfinite(v) || v <= 0) {
            return min_token_lifetime;
        }
        return clamp(v >= static_cast<double>(max) ? max : static_cast<std::int64_t>(v));
    }
    if (expires_in->is_string()) {
        const std::string& text = expires_in->get_ref<const std::string&>();
        if (text.empty() || text.size() > 18 ||
            text.find_first_not_of("0123456789") != std::string::npos) {
            return min_token_lifetime;
        }
        return clamp(std::stoll(text));  // at most 18 digits: fits in 64 bits
    }
    return min_token_lifetime;
}

std::chrono::seconds token_cache_time(std::chrono::seconds lifetime) {
    return lifetime > std::chrono::seconds(600) ? lifetime - std::chrono::seconds(300)
                                                : lifetime / 2;
}

bool token_error_is_transient(long code) {
    return code == 90033 || code == 90024 || code == 50033 || code == 90006;
}

void TokenClient::invalidate() {
    token_ = Secret();
    valid_until_ = {};
}

namespace {

// A transport error: TLS and errors no retry mends are thrown, as are the others once the
// retries are used up; else the backoff before the next attempt.
std::chrono::milliseconds wait_after_transport_error(const HttpResponse& r,
                                                     const TenantConfig& tenant,
                                                     const RetryPolicy& policy, int retry) {
    if (r.error == TransportError::stopped) {
        throw SyncStopped();
    }
    if (r.error == TransportError::tls) {
        spdlog::error("tenant={} event=token status=error kind=tls error={}", tenant.name,
                      log_value(r.error_message));
        throw sync_error(ErrorKind::tls, "",
                         "TLS error talking to the token endpoint " +
                             printable(tenant.login_endpoint) + ": " + printable(r.error_message));
    }
    const std::string why = std::string(to_string(r.error)) + ": " + r.error_message;
    if (r.error == TransportError::too_large || r.error == TransportError::other ||
        retry >= policy.max_retries) {
        spdlog::error("tenant={} event=token status=error kind=network error={}", tenant.name,
                      log_value(why));
        throw sync_error(ErrorKind::network, "",
                         "cannot reach the token endpoint " + printable(tenant.login_endpoint) +
                             ": " + printable(why));
    }
    return backoff_delay(retry, policy);
}

// A 200: the bearer token and its expires_in, or SyncError (malformed_response).
struct IssuedToken {
    Secret token;
    std::chrono::seconds lifetime;
};

IssuedToken read_token(const HttpResponse& r, const TenantConfig& tenant) {
    const json j = json::parse(r.body, nullptr, false);
    const auto tok = j.is_object() ? j.find("access_token") : j.end();
    const auto type = j.is_object() ? j.find("token_type") : j.end();
    const auto exp = j.is_object() ? j.find("expires_in") : j.end();
    if (j.is_discarded() || !j.is_object() || tok == j.end() || !tok->is_string() ||
        tok->get_ref<const std::string&>().empty() ||
        tok->get_ref<const std::string&>().size() > max_access_token_bytes || type == j.end() ||
        !type->is_string() ||
        strcasecmp(type->get_ref<const std::string&>().c_str(), "bearer") != 0) {
        spdlog::error("tenant={} event=token status=error kind=malformed_response", tenant.name);
        throw sync_error(ErrorKind::token, "malformed_response",
                         "the token endpoint sent a response that is not a bearer token");
    }
    return IssuedToken{Secret(tok->get<std::string>()),
                       token_lifetime(exp != j.end() ? &*exp : nullptr)};
}

// An error status: logged; a permanent error, or a transient one past the retries or asking
// for more than sync.max_backoff, is thrown; else the wait before the next attempt.
std::chrono::milliseconds wait_after_token_error(const HttpResponse& r, const TenantConfig& tenant,
                                                 const RetryPolicy& policy, int retry,
                                                 bool certificate_expired) {
    const TokenErrorBody e = parse_token_error(r.body);
    const long code = e.codes.empty() ? 0 : e.codes.front();
    // Entra answers an expired certificate with 700027 too; m365gate knows the notAfter.
    if (code == 700027 && certificate_expired) {
        spdlog::error(
            "tenant={} event=token status=error http_status={} error_codes={} "
            "reason=certificate_expired trace_id={}",
            tenant.name, r.status, join_codes(e.codes), log_value(e.trace_id, 64));
        throw sync_error(ErrorKind::token, "certificate_expired",
                         "token request failed: " + describe_token_error(code) +
                             " (AADSTS700027; the certificate's notAfter has passed)");
    }
    const bool transient = is_retryable_status(r.status) || e.error == "temporarily_unavailable" ||
                           token_error_is_transient(code);
    spdlog::log(transient ? spdlog::level::warn : spdlog::level::err,
                "tenant={} event=token status=error http_status={} error={} "
                "error_codes={} trace_id={} correlation_id={} retry={}",
                tenant.name, r.status, log_value(e.error, 64), join_codes(e.codes),
                log_value(e.trace_id, 64), log_value(e.correlation_id, 64), retry);
    if (!transient || retry >= policy.max_retries) {
        std::string text = describe_token_error(code);
        if (text.empty()) {
            text = "the token endpoint refused the request (HTTP " + std::to_string(r.status) +
                   ", " + printable(e.error, 64) + ")";
        }
        throw sync_error(ErrorKind::token,
                         code != 0 ? std::to_string(code) : printable(e.error, 64),
                         "token request failed: " + text +
                             (code != 0 ? " (AADSTS" + std::to_string(code) + ")" : ""));
    }
    const long after = parse_retry_after(r.retry_after);
    const std::chrono::milliseconds wait =
        after >= 0 ? std::chrono::milliseconds(after * 1000) : backoff_delay(retry, policy);
    if (after > policy.max_backoff.count()) {
        throw sync_error(ErrorKind::token, std::to_string(r.status),
                         "the token endpoint asked to wait " + std::to_string(after) +
                             " s, longer than sync.max_backoff");
    }
    return wait;
}

// The form holds the secret or the assertion: built into a Secret so it is wiped when done.
// With client_certificate_file, `credential` is the PEM (key and certificate): the form
// carries a client assertion (RFC 7523) for `url`; `expired` says whether the certificate's
// notAfter has passed (Entra then answers 700027, as for an unknown certificate).
Secret token_form(HttpClient& http, const TenantConfig& tenant, const Secret& credential,
                  const std::string& url, bool& expired) {
    const std::string head = "client_id=" + http.escape(tenant.client_id) +
                             "&scope=" + http.escape(tenant.graph_endpoint + "/.default");
    if (tenant.client_certificate_file.empty()) {
        return Secret(head + "&client_secret=" + http.escape(credential.reveal()) +
                      "&grant_type=client_credentials");
    }
    const std::int64_t now = now_seconds();
    try {
        const CertificateInfo info = read_certificate_pem(credential, "client_certificate_file");
        expired = to_unix(info.not_after) <= now;
        const AssertionAlg alg =
            tenant.assertion_alg == "RS256" ? AssertionAlg::rs256 : AssertionAlg::ps256;
        const Secret assertion = make_client_assertion(credential, tenant.client_id, url, alg, now);
        return Secret(head +
                      "&client_assertion_type="
                      "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                      "&client_assertion=" +
                      assertion.reveal() + "&grant_type=client_credentials");
    } catch (const ConfigError& e) {
        throw sync_error(ErrorKind::config, "certificate", e.what());
    }
}

}  // namespace

const Secret& TokenClient::get(HttpClient& http, const TenantConfig& tenant,
                               const Secret& client_secret, const RetryPolicy& policy,
                               const std::atomic<bool>* stop) {
    const std::string key = tenant.tenant_id + '\n' + tenant.client_id + '\n' +
                            tenant.login_endpoint + '\n' + tenant.graph_endpoint;
    const auto now = std::chrono::steady_clock::now();
    if (!token_.empty() && key == cached_for_ && client_secret == cached_for_secret_ &&
        now < valid_until_) {
        return token_;
    }
    invalidate();
    if (client_secret.empty()) {
        throw sync_error(ErrorKind::config, "7000218", describe_token_error(7000218));
    }

    const std::string url =
        tenant.login_endpoint + '/' + http.escape(tenant.tenant_id) + "/oauth2/v2.0/token";
    bool expired = false;
    const Secret form = token_form(http, tenant, client_secret, url, expired);
    const std::vector<std::string> headers{"Accept: application/json"};

    for (int retry = 0;; ++retry) {
        if (stop != nullptr && stop->load()) {
            throw SyncStopped();
        }
        const HttpResponse r = http.post_form(url, form.reveal(), headers);
        if (SyncMetrics* m = http.metrics(); m != nullptr && r.error != TransportError::stopped) {
            m->token_request(tenant.name, r.error == TransportError::none && r.status == 200);
        }
        std::chrono::milliseconds wait{0};
        if (r.error != TransportError::none) {
            wait = wait_after_transport_error(r, tenant, policy, retry);
        } else if (r.status == 200) {
            IssuedToken issued = read_token(r, tenant);
            const std::chrono::seconds keep = token_cache_time(issued.lifetime);
            token_ = std::move(issued.token);
            cached_for_ = key;
            cached_for_secret_ = client_secret;
            valid_until_ = std::chrono::steady_clock::now() + keep;
            spdlog::debug("tenant={} event=token status=ok expires_in={} cached_s={}", tenant.name,
                          issued.lifetime.count(), keep.count());
            return token_;
        } else {
            wait = wait_after_token_error(r, tenant, policy, retry, expired);
        }
        spdlog::warn("tenant={} event=token_retry wait_ms={} retry={}", tenant.name, wait.count(),
                     retry + 1);
        if (!sleep_unless_stopped(wait, stop)) {
            throw SyncStopped();
        }
    }
}

}  // namespace m365gate::sync
