// sync/credential_check.h - proving a credential with a real token request, and the
// `<client_secret_file>.previous` that rotation keeps until the new credential has worked.
//
// verify_credential() is the one test of a credential that is not yet in use: a token request
// to the tenant's configured token endpoint through the same HttpClient (TLS settings,
// sync.ca_file, timeouts) and TokenClient the worker uses, nothing cached. `m365gatectl secret
// set` runs it through `m365gate-sync --check-credential` (ctl does not link sync/ code,
// docs/architecture.md), before it replaces the old secret; `cert set` can do the same.
#pragma once

#include <atomic>
#include <filesystem>
#include <iosfwd>
#include <string>

#include "common/config.h"
#include "common/credentials.h"
#include "sync/alerts.h"

namespace m365gate::sync {

// A token request for `tenant` with `credential`: ok, or the token endpoint's refusal (kind
// "token", code the AADSTS number), or why it could not be tried (network, tls, config). At
// most two retries of a transient error, whatever sync.max_retries says: someone waits.
SyncResult verify_credential(const Config& cfg, const TenantConfig& tenant,
                             const Credential& credential, const std::atomic<bool>* stop);

// Exit statuses of `m365gate-sync --check-credential` (m365gate-sync(8)).
inline constexpr int check_accepted = 0;
inline constexpr int check_refused = 1;       // the token endpoint refused the credential
inline constexpr int check_unavailable = 69;  // EX_UNAVAILABLE: could not be tried (network...)
inline constexpr int check_bad_input = 78;    // EX_CONFIG: no such tenant, no credential on stdin

// `m365gate-sync --check-credential --tenant NAME`: the credential file's text (the secret on
// one line, or TOML with secret/expires) from `in`, at most 64 KiB; one key=value line on
// `out` (status=accepted | status=refused code=... | status=unavailable kind=...,
// error="one sentence", never the secret); one of the statuses above.
int run_check_credential(const Config& cfg, const std::string& tenant, std::istream& in,
                         std::ostream& out);

// "<file>.previous": the credential a rotation replaced, kept as the admin's way back.
std::filesystem::path previous_credential_path(const std::filesystem::path& file);

// After a token request with `in_use` succeeded: removes `<file>.previous` unless it holds the
// same secret (then the new one has not been used yet). Logs what it did; never throws.
void forget_previous_credential(const TenantConfig& tenant, const Credential& in_use);

}  // namespace m365gate::sync
