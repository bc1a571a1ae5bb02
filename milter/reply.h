// milter/reply.h - the one mapping from a verdict to the SMTP reply the MTA sends, and the
// sanitiser for text that reaches smfi_setreply().
//
// The reply class always matches the verdict (5xx with reject, 4xx with tempfail): libmilter
// silently drops a mismatched reply and Postfix treats a mismatched enhanced status as a
// milter configuration error (its milter8.c). Pure: no libmilter, no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"

namespace m365gate::milter {

// Longest reply text we hand to smfi_setreply() (libmilter's own limit is 980).
inline constexpr std::size_t max_reply_text = 400;

// For smfi_setreply(): CR, LF and other control bytes dropped, bytes outside ASCII become
// '?', every '%' doubled (Sendmail treats the text as a format, Postfix turns "%%" back into
// "%"), at most max_len bytes, never ending in half of a "%%" pair.
std::string reply_text(std::string_view in, std::size_t max_len = max_reply_text);

struct SmtpReply {
    std::string code;    // "550"
    std::string status;  // "5.1.1"
    std::string text;    // sanitised, `{address}` substituted
};

// The reply for a verdict: settings.reject for reject, settings.tempfail for tempfail, nullopt
// for accept. `{address}` in the configured text is replaced by `address`; the result goes
// through reply_text(). A configured code or status of the wrong class (never accepted by
// load_config, but cheap to check here) falls back to the built-in default for that verdict.
std::optional<SmtpReply> reply_for(Verdict verdict, std::string_view address,
                                   const DecisionSettings& settings);

}  // namespace m365gate::milter
