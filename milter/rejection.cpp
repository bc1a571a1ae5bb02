// milter/rejection.cpp - rejection log lines (key=value and JSON) and the JSON-lines file.
#include "milter/rejection.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/safe_file.h"
#include "common/time.h"

namespace m365gate::milter {
namespace {

constexpr std::size_t max_field = 320;

std::string or_dash(std::string_view value) {
    return value.empty() ? std::string("-") : log_value(value);
}

// A JSON string value: bounded; bytes that are not valid UTF-8 become U+FFFD on dump().
std::string bounded(std::string_view value) {
    return std::string(value.substr(0, std::min(value.size(), max_field)));
}

}  // namespace

std::optional<std::string_view> rejection_action(const decision::Decision& d) {
    const bool report = d.verdict == Verdict::accept;
    switch (d.would_be) {
        case Verdict::reject:
            return report ? "would_reject" : "reject";
        case Verdict::tempfail:
            return report ? "would_tempfail" : "tempfail";
        case Verdict::accept:
            break;
    }
    return std::nullopt;
}

std::string rejection_line(std::string_view action, const RcptContext& ctx,
                           const decision::Decision& d, const SmtpReply& reply) {
    std::string line;
    line.reserve(256);
    line += "action=";
    line += action;
    line += " queue_id=";
    line += or_dash(ctx.queue_id);
    line += " client=";
    line += log_value(std::string(ctx.client_name.empty() ? "unknown" : ctx.client_name) + "[" +
                      std::string(ctx.client_addr.empty() ? "unknown" : ctx.client_addr) + "]");
    line += " from=";
    line += log_value("<" + std::string(ctx.from) + ">");
    line += " to=";
    line += log_value("<" + std::string(ctx.to) + ">");
    line += " tenant=";
    line += or_dash(d.tenant);
    line += " reason=";
    line += d.reason;
    line += " code=";
    line += log_value(reply.code);
    line += " status=";
    line += log_value(reply.status);
    return line;
}

std::string rejection_json(std::string_view action, const RcptContext& ctx,
                           const decision::Decision& d, const SmtpReply& reply, std::int64_t now) {
    nlohmann::ordered_json j;
    j["ts"] = format_utc(now);
    j["action"] = std::string(action);
    j["queue_id"] = bounded(ctx.queue_id);
    j["client_addr"] = bounded(ctx.client_addr);
    j["client_name"] = bounded(ctx.client_name);
    j["from"] = bounded(ctx.from);
    j["to"] = bounded(ctx.to);
    j["tenant"] = d.tenant;
    j["reason"] = d.reason;
    j["code"] = reply.code;
    j["status"] = reply.status;
    std::string out = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    out.push_back('\n');
    return out;
}

std::string harvest_line(const RcptContext& ctx, const HarvestEvent& event) {
    std::string line = "event=harvest client_addr=";
    line += or_dash(ctx.client_addr);
    line += " client_key=";
    line += or_dash(event.client_key);
    line += " client=";
    line += log_value(std::string(ctx.client_name.empty() ? "unknown" : ctx.client_name) + "[" +
                      std::string(ctx.client_addr.empty() ? "unknown" : ctx.client_addr) + "]");
    if (event.code.empty()) {
        line += " action=report";
    } else {
        line += " action=block code=";
        line += log_value(event.code);
    }
    line += " unknown=" + std::to_string(event.unknown);
    line += " window=" + std::to_string(event.window);
    if (!event.code.empty()) {
        line += " block_for=" + std::to_string(event.block_for);
    }
    return line;
}

std::string harvest_json(const RcptContext& ctx, const HarvestEvent& event, std::int64_t now) {
    nlohmann::ordered_json j;
    j["ts"] = format_utc(now);
    j["action"] = "harvest";
    j["client_addr"] = bounded(ctx.client_addr);
    j["client_name"] = bounded(ctx.client_name);
    j["client_key"] = bounded(event.client_key);
    j["unknown"] = event.unknown;
    j["window"] = event.window;
    j["response"] = event.code.empty() ? std::string("report") : std::string(event.code);
    j["block_until"] = event.code.empty() ? std::string() : format_utc(now + event.block_for);
    std::string out = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    out.push_back('\n');
    return out;
}

bool RejectionLog::open(const std::filesystem::path& path) {
    UniqueFd fd;
    if (!path.empty()) {
        // Never through a symlink or a second hard link (common/safe_file.h).
        std::string why;
        fd = open_append_no_follow(path, 0640, why);
        if (!fd.valid()) {
            spdlog::error("event=rejection_log status=error file={} error={}",
                          log_value(path.string()), log_value(why));
        }
    }
    std::lock_guard<std::mutex> lock(mu_);
    fd_ = std::move(fd);
    path_ = path;
    return path.empty() || fd_.valid();
}

bool RejectionLog::reopen() {
    std::filesystem::path path;
    {
        std::lock_guard<std::mutex> lock(mu_);
        path = path_;
    }
    return open(path);
}

bool RejectionLog::enabled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return fd_.valid();
}

void RejectionLog::write(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fd_.valid()) {
        return;
    }
    // One write() per line: O_APPEND keeps concurrent lines whole.
    const ssize_t n = ::write(fd_.get(), line.data(), line.size());
    if (n == static_cast<ssize_t>(line.size())) {
        return;
    }
    const int err = n < 0 ? errno : ENOSPC;
    const std::int64_t now = std::time(nullptr);
    if (now - last_error_log_ >= 60) {
        last_error_log_ = now;
        spdlog::error("event=rejection_log status=error file={} error={}",
                      log_value(path_.string()), log_value(std::strerror(err)));
    }
}

}  // namespace m365gate::milter
