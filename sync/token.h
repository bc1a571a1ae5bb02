// sync/token.h - OAuth 2.0 client-credentials tokens from the Entra token endpoint.
//
// POST <login_endpoint>/<tenant_id>/oauth2/v2.0/token with scope <graph_endpoint>/.default
// (national clouds follow the configured Graph endpoint). The token is cached until 5 minutes
// before expires_in (half of a lifetime shorter than 10 minutes). Errors are told apart by
// `error_codes`, never by the description, which is never logged; the log carries error,
// error_codes, trace_id and correlation_id. The token and the secret live in Secret only.
#pragma once

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/secret.h"
#include "sync/http.h"

namespace m365gate::sync {

// The admin's sentence for an AADSTS code (table of reference A.5); "" when unknown.
std::string describe_token_error(long code);
// Transient AADSTS codes (90033, 90024, 50033, 90006): retry with backoff, no alert yet.
bool token_error_is_transient(long code);

// What m365gate reads of a token endpoint error body (reference A.5): `error`, the integer
// `error_codes` in order, `trace_id`, `correlation_id`; never error_description. Pure, never
// throws: a body that is not a JSON object, or a field of the wrong type, gives empty fields.
struct TokenErrorBody {
    std::string error;
    std::vector<long> codes;
    std::string trace_id;
    std::string correlation_id;
};
TokenErrorBody parse_token_error(const std::string& body);

// The token lifetime from the endpoint's `expires_in` (a number, or digits in a string as
// some endpoints send), range-checked before any arithmetic: within [min_token_lifetime,
// max_token_lifetime]; absent -> 3599 s (Entra's usual), anything unusable -> the minimum.
inline constexpr std::chrono::seconds min_token_lifetime{60};
inline constexpr std::chrono::seconds max_token_lifetime{24 * 3600};
std::chrono::seconds token_lifetime(const nlohmann::json* expires_in);
// How long a token of `lifetime` is kept: until 5 minutes before it expires, half of a lifetime
// of 10 minutes or less. `lifetime` as token_lifetime() returns it.
std::chrono::seconds token_cache_time(std::chrono::seconds lifetime);

class TokenClient {
public:
    // A bearer token for the tenant's app, from the cache or the endpoint. Throws SyncError
    // (kind token / network / tls) or SyncStopped.
    const Secret& get(HttpClient& http, const TenantConfig& tenant, const Secret& client_secret,
                      const RetryPolicy& policy, const std::atomic<bool>* stop);
    // Drops the cached token (Graph said 401; a secret changed).
    void invalidate();

private:
    Secret token_;
    Secret cached_for_secret_;
    std::string cached_for_;  // tenant id, client id, endpoints
    std::chrono::steady_clock::time_point valid_until_{};
};

}  // namespace m365gate::sync
