// sync/alert_mail.cpp - the RFC 5322 message of an alert: recipients, headers, RFC 2047
// encoded words, the body with its line length bounded.
#include "sync/alert_mail.h"

#include <openssl/evp.h>

#include <algorithm>

#include "common/text.h"

namespace m365gate::sync {
namespace {

// RFC 2047's "B" encoding is standard base64 (RFC 4648 section 4, with padding): OpenSSL's.
std::string base64(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

}  // namespace

std::string fold_long_lines(const std::string& body) {
    // Alert texts are wrapped far below the limit; this is the guarantee for quoted network
    // text.
    constexpr std::size_t max_line = 990;
    std::string out;
    std::size_t start = 0;
    while (start < body.size()) {
        std::size_t end = body.find('\n', start);
        if (end == std::string::npos) {
            end = body.size();
        }
        std::size_t pos = start;
        while (end - pos > max_line) {
            std::size_t cut = utf8_cut_point(body, pos + max_line, pos);
            if (cut == pos) {
                cut = pos + max_line;  // not UTF-8 at all: cut anywhere rather than loop
            }
            out.append(body, pos, cut - pos);
            out += '\n';
            pos = cut;
        }
        out.append(body, pos, end - pos);
        out += '\n';
        start = end + 1;
    }
    return out;
}

std::vector<std::string> mail_recipients(const AlertConfig& alerts, const TenantConfig& tenant) {
    std::vector<std::string> out;
    std::vector<std::string> seen;
    auto add = [&](const std::string& a) {
        if (a.empty() || !is_ascii_printable(a)) {
            return;
        }
        const std::string key = ascii_lower(a);
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
            return;
        }
        seen.push_back(key);
        out.push_back(a);
    };
    for (const auto& a : alerts.mail_to) {
        add(a);
    }
    for (const auto& a : tenant.alert_mail_to) {
        add(a);
    }
    return out;
}

std::string header_value(std::string_view in, std::size_t max_len) {
    std::string out;
    for (char ch : in) {
        const auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u == 0x7f) {
            continue;
        }
        out.push_back(ch);
    }
    if (out.size() > max_len) {
        out.resize(utf8_cut_point(out, max_len));
    }
    return out;
}

std::string encode_header_text(std::string_view utf8) {
    const std::string clean = header_value(utf8);
    if (is_ascii_printable(clean)) {
        return clean;
    }
    // "=?UTF-8?B?" + base64 + "?=" <= 75 characters: 45 input octets give 60 base64 characters.
    constexpr std::size_t chunk = 45;
    std::string out;
    std::size_t pos = 0;
    while (pos < clean.size()) {
        std::size_t end = utf8_cut_point(clean, pos + chunk, pos);
        if (end == pos) {
            end = std::min(clean.size(), pos + chunk);
        }
        if (!out.empty()) {
            out += "\n ";
        }
        out += "=?UTF-8?B?" + base64(std::string_view(clean).substr(pos, end - pos)) + "?=";
        pos = end;
    }
    return out;
}

std::string make_message_id(std::int64_t unix_seconds, std::string_view unique,
                            std::string_view host) {
    std::string h;
    for (char ch : host) {
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.') {
            h.push_back(ch);
        }
    }
    while (!h.empty() && h.back() == '.') {
        h.pop_back();
    }
    std::string u;
    for (char ch : unique) {
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            u.push_back(ch);
        }
    }
    return "<" + std::to_string(unix_seconds) + "." + (u.empty() ? "0" : u) + "@m365gate." +
           (h.empty() ? "localhost" : h) + ">";
}

std::string build_mail(const MailEnvelope& envelope, const Alert& alert,
                       const std::string& tenant_name, const TimeZone& tz) {
    std::string from = header_value(envelope.from, 300);
    if (from.find('<') == std::string::npos) {
        from = "m365gate <" + from + ">";
    }
    std::string to;
    std::size_t line_len = 4;  // "To: "
    for (const auto& raw : envelope.to) {
        const std::string a = header_value(raw, 300);
        if (a.empty()) {
            continue;
        }
        if (!to.empty()) {
            to += ",";
            ++line_len;
            if (line_len + 1 + a.size() > 78) {
                to += "\n ";
                line_len = 1;
            } else {
                to += " ";
                ++line_len;
            }
        }
        to += a;
        line_len += a.size();
    }
    std::string m;
    m += "Date: " + format_rfc5322(tz, envelope.date) + "\n";
    m += "From: " + from + "\n";
    m += "To: " + to + "\n";
    m += "Subject: " + encode_header_text(alert.subject) + "\n";
    m += "Message-ID: " + header_value(envelope.message_id, 300) + "\n";
    m += "MIME-Version: 1.0\n";
    m += "Content-Type: text/plain; charset=UTF-8\n";
    m += "Content-Transfer-Encoding: 8bit\n";
    m += "Auto-Submitted: auto-generated\n";
    m += "X-Auto-Response-Suppress: All\n";
    m += std::string("X-M365gate-Event: ") + to_string(alert.kind) + "\n";
    m += "X-M365gate-Tenant: " + header_value(tenant_name, 64) + "\n";
    m += "\n";
    m += fold_long_lines(alert.body);
    return m;
}

}  // namespace m365gate::sync
