// common/log.h - one logger per process: syslog (facility mail), stderr or a file.
//
// setup_logging() installs spdlog's default logger once in main(); everything else calls
// spdlog::info/warn/error with key=value text. Untrusted text (addresses, HTTP fields, client
// names) goes through printable() and is always a format *argument*, never the format.
// Secrets cannot be formatted at all (common/secret.h).
#pragma once

#include <string>
#include <string_view>

#include "common/config.h"
#include "common/text.h"  // printable(), log_value(): every log line of outside text

namespace m365gate {

// `program` is the syslog ident / log prefix ("m365gate-milter"). Throws ConfigError when a
// log file cannot be opened (or is a symlink, not a regular file, or has other hard links).
// Safe to call again on reload (replaces the default logger). As root, log.target = "file"
// logs to stderr instead: a daemon calls this again after its privilege drop, and only then
// opens the file, as its own user.
// `open_file_as_root` lifts that rule, for tests only.
void setup_logging(const LogConfig& cfg, const std::string& program,
                   bool open_file_as_root = false);

}  // namespace m365gate
