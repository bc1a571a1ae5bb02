// tests/fuzz/fuzz_token_error.cpp - the token endpoint's error body (sync/token.h
// parse_token_error) and what m365gate-sync makes of it: the AADSTS code's sentence, the
// transient rule, the log fields; and the Retry-After header (sync/http.h parse_retry_after)
// of a 429 from the same endpoint.
//
// Input: the response body; its first line, up to 64 bytes, is also tried as a Retry-After
// value. Invariants (abort() on violation): nothing throws; the logged fields are printable
// ASCII and bounded; an unknown code has no sentence; Retry-After is -1 or >= 0.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/log.h"
#include "fuzz_check.h"
#include "sync/http.h"
#include "sync/token.h"

namespace {

using namespace m365gate;
using namespace m365gate::sync;

void check_field(const std::string& value, std::size_t max_len) {
    const std::string shown = printable(value, max_len);
    FUZZ_CHECK(fuzz::printable_ascii(shown), shown);
    FUZZ_CHECK(shown.size() <= max_len + 3, shown);
    const std::string logged = log_value(value, max_len);
    FUZZ_CHECK(fuzz::printable_ascii(logged), logged);
    FUZZ_CHECK(logged.size() <= 2 * (max_len + 3) + 2, logged);
    // Quoted when it holds a blank, '"' or '=': the key=value line cannot be split or forged.
    if (shown.find_first_of(" \"=") != std::string::npos) {
        FUZZ_CHECK(logged.size() >= 2 && logged.front() == '"' && logged.back() == '"', logged);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);
    const TokenErrorBody e = parse_token_error(body);
    check_field(e.error, 64);
    check_field(e.trace_id, 64);
    check_field(e.correlation_id, 64);
    for (const long code : e.codes) {
        const std::string text = describe_token_error(code);
        FUZZ_CHECK(fuzz::printable_ascii(text), text);
        (void)token_error_is_transient(code);
    }
    const long code = e.codes.empty() ? 0 : e.codes.front();
    FUZZ_CHECK(code != 0 || describe_token_error(code).empty(), "code 0 has a sentence");

    const std::string first_line = body.substr(0, std::min(body.find('\n'), std::size_t{64}));
    const long after = parse_retry_after(first_line);
    FUZZ_CHECK(after >= -1, first_line);
    return 0;
}
