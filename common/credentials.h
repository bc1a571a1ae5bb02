// common/credentials.h - a tenant's credential file (client_secret_file in m365gate.toml).
//
// Either the secret alone on one line, or TOML with `secret = "..."` and optional
// `expires = 2027-01-31T00:00:00Z` (TOML date-time or date). No message built here ever holds
// the secret.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"  // ConfigError
#include "common/secret.h"
#include "common/time.h"

namespace m365gate {

struct Credential {
    Secret secret;
    std::optional<SysTime> expires;
    // From client_certificate_file (common/certificate.h): secret is the PEM text (key and
    // certificate), expires its notAfter.
    bool certificate = false;
};
// Throws ConfigError naming the file: missing, unreadable, empty, readable by group or others
// ("... is readable by group or others (mode 0644): chmod 600 FILE"), bad TOML, unknown key.
Credential load_credential(const std::filesystem::path& file);
Credential parse_credential(std::string_view text, const std::string& name);

}  // namespace m365gate
