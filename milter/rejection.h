// milter/rejection.h - what the milter says about a refused (or would-be refused) recipient.
//
// One key=value line per reject or tempfail for the main log, in the Postfix habit:
//   action=reject queue_id=- client=mx.example[192.0.2.7] from=<a@b.example>
//   to=<nobody@customer.example> tenant=contoso reason=unknown_recipient code=550 status=5.1.1
// and optionally one JSON object per line in log.rejections, the format m365gatectl report
// reads (keep the keys and their order). Client-supplied text is hostile: it is bounded and
// masked (log_value) or JSON-escaped, never used as a format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.h"
#include "decision/decision.h"
#include "milter/reply.h"

namespace m365gate::milter {

// Who sent what, as far as the milter knows at RCPT time. "" = unknown.
struct RcptContext {
    std::string_view queue_id;
    std::string_view client_name;
    std::string_view client_addr;
    std::string_view from;  // envelope sender, brackets stripped ("" for the null sender)
    std::string_view to;    // recipient as the MTA gave it, brackets stripped
};

// "reject", "tempfail", "would_reject", "would_tempfail"; nullopt when nothing is refused
// (and nothing would be): such decisions are not logged as rejections.
std::optional<std::string_view> rejection_action(const decision::Decision& d);

// The key=value line (no trailing newline). `reply` is the reply sent, or the one that would
// have been sent in report mode.
std::string rejection_line(std::string_view action, const RcptContext& ctx,
                           const decision::Decision& d, const SmtpReply& reply);

// One JSON object and a '\n'. `now` is Unix seconds.
std::string rejection_json(std::string_view action, const RcptContext& ctx,
                           const decision::Decision& d, const SmtpReply& reply, std::int64_t now);

// A client crossing the harvest threshold (milter/harvest.h), for the main log:
//   event=harvest client_addr=192.0.2.7 client_key=192.0.2.7 client=mx.example[192.0.2.7]
//   action=block code=450 unknown=20 window=600 block_for=1800
// (action=report, and no code or block_for, when nothing is refused). client_addr comes
// right after event=harvest, so a fail2ban filter can anchor on it (contrib/fail2ban).
struct HarvestEvent {
    std::string_view client_key;  // "192.0.2.7", "2001:db8::/64"
    std::string_view code;        // "450" | "421"; "" when only reported
    std::uint32_t unknown = 0;    // unknown recipients within the window
    std::int64_t window = 0;      // seconds
    std::int64_t block_for = 0;   // seconds; 0 when only reported
};
std::string harvest_line(const RcptContext& ctx, const HarvestEvent& event);
// The same for log.rejections, action "harvest" (m365gatectl report lists these clients).
std::string harvest_json(const RcptContext& ctx, const HarvestEvent& event, std::int64_t now);

// log.rejections: opened O_APPEND, one write() per line, so lines from several threads (and
// processes) never interleave; reopen() after logrotate moved the file (SIGUSR1).
// Thread safe. Errors are logged (rate-limited) and never reach the caller.
class RejectionLog {
public:
    RejectionLog() = default;
    RejectionLog(const RejectionLog&) = delete;
    RejectionLog& operator=(const RejectionLog&) = delete;

    // Opens `path` ("" = off), closing what was open. Returns false (and logs) on failure.
    bool open(const std::filesystem::path& path);
    bool reopen();  // the same path again
    bool enabled() const;
    void write(const std::string& line);

private:
    mutable std::mutex mu_;
    std::filesystem::path path_;
    UniqueFd fd_;
    std::int64_t last_error_log_ = 0;
};

}  // namespace m365gate::milter
