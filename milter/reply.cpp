// milter/reply.cpp - verdict -> SMTP reply, and the smfi_setreply() text sanitiser.
#include "milter/reply.h"

#include <algorithm>

namespace m365gate::milter {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "550" with the class digit `cls`.
bool valid_code(std::string_view code, char cls) {
    return code.size() == 3 && code[0] == cls && is_digit(code[1]) && is_digit(code[2]);
}

// "5.1.1": class.subject(1-3 digits).detail(1-3 digits), RFC 3463.
bool valid_status(std::string_view status, char cls) {
    if (status.size() < 5 || status[0] != cls || status[1] != '.') {
        return false;
    }
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        std::size_t digits = 0;
        while (i < status.size() && is_digit(status[i])) {
            ++i;
            ++digits;
        }
        if (digits == 0 || digits > 3) {
            return false;
        }
        if (part == 0) {
            if (i >= status.size() || status[i] != '.') {
                return false;
            }
            ++i;
        }
    }
    return i == status.size();
}

std::string substitute_address(std::string_view text, std::string_view address) {
    static constexpr std::string_view placeholder = "{address}";
    std::string out;
    out.reserve(text.size() + address.size());
    std::size_t pos = 0;
    while (true) {
        const auto hit = text.find(placeholder, pos);
        if (hit == std::string_view::npos) {
            out.append(text.substr(pos));
            return out;
        }
        out.append(text.substr(pos, hit - pos));
        out.append(address);
        pos = hit + placeholder.size();
    }
}

}  // namespace

std::string reply_text(std::string_view in, std::size_t max_len) {
    std::string out;
    out.reserve(std::min(in.size() + 8, max_len));
    for (unsigned char c : in) {
        if (c < 0x20 || c == 0x7f) {
            continue;
        }
        const std::size_t need = c == '%' ? 2 : 1;
        if (out.size() + need > max_len) {
            break;
        }
        if (c == '%') {
            out.append("%%");
        } else if (c >= 0x80) {
            out.push_back('?');
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

std::optional<SmtpReply> reply_for(Verdict verdict, std::string_view address,
                                   const DecisionSettings& settings) {
    if (verdict == Verdict::accept) {
        return std::nullopt;
    }
    const bool reject = verdict == Verdict::reject;
    const char cls = reject ? '5' : '4';
    static const DecisionSettings defaults;
    const Reply& configured = reject ? settings.reject : settings.tempfail;
    const Reply& fallback = reject ? defaults.reject : defaults.tempfail;
    const Reply& use = valid_code(configured.code, cls) && valid_status(configured.status, cls)
                           ? configured
                           : fallback;
    return SmtpReply{use.code, use.status, reply_text(substitute_address(use.text, address))};
}

}  // namespace m365gate::milter
