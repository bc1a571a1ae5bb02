// sync/secret_expiry.h - which secret a tenant uses and when it expires.
//
// When Graph's passwordCredentials of the application (matched by hint) can be read, Graph is
// the authority; else the credential file's date, else client_secret_expires in the config.
// The TenantState records the date in use with its source ("credential_file" | "config" |
// "graph") for m365gatectl and the alerts, and the local date beside it
// (secret_expires_local): one that differs from Graph's is a warning, never the date in use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/credentials.h"
#include "store/store.h"

namespace m365gate::sync {

class GraphClient;
class HttpClient;
struct TenantRuntime;

// First 8 hex digits of SHA-256 of the secret: tells secrets apart, reveals nothing.
std::string secret_fingerprint(const Secret& secret);

// A credential's endDateTime from Graph (passwordCredentials / keyCredentials): an ISO 8601
// date-time as parse_datetime() reads it. A year past what SysTime holds (secrets made to
// "never expire" end in 2299 or 9999) is 2261-12-31T23:59:59Z, far enough to never alert;
// anything else malformed is nullopt.
std::optional<SysTime> parse_graph_end_date(std::string_view text);

// Secret fingerprint, the local date (credential file, then config) and the expiry known
// without asking Graph now: Graph's earlier answer for the same secret, else the local date.
void apply_secret_fields(store::TenantState& st, const TenantConfig& t, const Credential& cred);

// Secret expiry from Graph: passwordCredentials of the application whose appId is the client
// id, matched by hint (first 3 characters of the secret). Never fails the sync: a 403 is
// logged once per process and the lookup skipped from then on; other errors are logged.
void lookup_secret_expiry(GraphClient& graph, HttpClient& http, const TenantConfig& t,
                          TenantRuntime& rt, const Secret& secret, store::TenantState& st,
                          std::int64_t now);

}  // namespace m365gate::sync
