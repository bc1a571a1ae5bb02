// sync/alert_values.h - the values an alert quotes, in the words of its language: counts with
// a unit, durations, days left, where an expiry date came from, what the milter's policies do
// to mail, the kind of a sync, what to check for a kind of failure, what a token error means.
//
// Pure, like sync/alert_message.h, which builds the alerts from these: no I/O, no clock.
#pragma once

#include <string>
#include <string_view>

#include "common/config.h"
#include "common/time.h"
#include "sync/alert_texts.h"

namespace m365gate::sync {

// `unit` ("{n} days") with {n} filled.
std::string count_text(std::string_view unit, long long n);
// "24h", "6h", "90m", "2d" (en) / "24時間", "2日" (ja): the largest whole unit.
std::string duration_text(Seconds d, const AlertTexts& t);
// "1 day", "5 days".
std::string days_text(int days, const AlertTexts& t);

// AlertFacts::secret_expires_source ("credential_file", "config", "graph") in words.
std::string_view source_text(const std::string& source, const AlertTexts& t);
// milter.on_stale in force, and what milter.on_cache_unavailable does to mail.
std::string_view on_stale_text(Verdict v, const AlertTexts& t);
std::string_view unavailable_text(Verdict v, const AlertTexts& t);
// "full sync" / "delta sync"; "sync" when the kind is not known.
std::string_view sync_kind_phrase(const std::string& kind, const AlertTexts& t);
// What to check for a failure of SyncResult::error_kind `error_kind`.
std::string_view error_kind_hint(const std::string& error_kind, const AlertTexts& t);

// The explanation of AADSTS `code` in `t`; nullptr when the code is not explained.
const TokenErrorText* find_token_text(const AlertTexts& t, std::string_view code);
// The token errors whose fix is a new secret: the renewal steps follow their explanation.
bool fixed_by_new_secret(std::string_view code);

}  // namespace m365gate::sync
