// sync/alert_mail.h - the RFC 5322 message that carries an alert to `sendmail -t -i`: its
// recipients, headers (RFC 2047 encoded where not ASCII) and body.
//
// Pure: no I/O, no clock, no randomness (the caller passes the send time and the Message-ID's
// unique part). Every header value goes through header_value(), so no text of an alert, a
// tenant name or a configured address can start a header of its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/zone.h"
#include "sync/alert_message.h"

namespace m365gate::sync {

// alerts.mail_to followed by the tenant's alert_mail_to, duplicates (ASCII case-insensitive)
// and entries with control characters dropped.
std::vector<std::string> mail_recipients(const AlertConfig& alerts, const TenantConfig& tenant);

// A header value: CR, LF and other control characters removed, so no value can start a new
// header; length capped.
std::string header_value(std::string_view in, std::size_t max_len = 900);
// The value as is when printable ASCII, else RFC 2047 "=?UTF-8?B?...?=" encoded-words of at
// most 75 characters, split on UTF-8 character boundaries and folded with "\n ".
std::string encode_header_text(std::string_view utf8);

struct MailEnvelope {
    std::string from;             // alerts.mail_from
    std::vector<std::string> to;  // mail_recipients()
    std::int64_t date = 0;        // Unix seconds of sending
    std::string message_id;       // "<1769850000.5f3a9c2e71d04b88@m365gate.mx1.example.net>"
};
// "<unix.unique@m365gate.host>"; `unique` is hex from the caller's random source.
std::string make_message_id(std::int64_t unix_seconds, std::string_view unique,
                            std::string_view host);
// The complete message for `sendmail -t -i`: headers (Date, From, To, Subject, Message-ID,
// MIME-Version, Content-Type text/plain UTF-8, Content-Transfer-Encoding 8bit,
// Auto-Submitted auto-generated, X-Auto-Response-Suppress, X-M365gate-Event/-Tenant), a
// blank line, the body; '\n' line ends; no line longer than 998 octets.
std::string build_mail(const MailEnvelope& envelope, const Alert& alert,
                       const std::string& tenant_name, const TimeZone& tz);

// RFC 5322 2.1.1: lines of at most 998 octets. Lines longer than 990 octets are cut on a
// UTF-8 character boundary; every line, the last one too, ends in '\n'.
std::string fold_long_lines(const std::string& body);

}  // namespace m365gate::sync
