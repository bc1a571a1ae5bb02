// tests/fuzz/fuzz_credential.cpp - the credential file parser (common/credentials.h
// parse_credential): the secret alone on one line, or TOML with secret and expires.
//
// Each input is parsed four ways: as it is; after a known secret line in TOML form; before
// one; and after a known secret line in plain form. Invariants (abort() on violation):
//   - only ConfigError is thrown, and its message starts with the file name;
//   - an accepted secret is non-empty, holds no control byte, and in the plain form has no
//     blank at either end;
//   - an error message never holds the secret: no 8 bytes in a row of the known secret appear
//     in a message, even when the fuzzed text repeats pieces of it (as a key, as a value).
#include <cstdint>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/credentials.h"
#include "fuzz_check.h"

namespace {

using namespace m365gate;

const std::string file_name = "/etc/m365gate/fuzz.secret";
// Looks like an Entra secret value. No '.', '"', ':' or blank, the bytes messages put around
// a value ("...", quotes), so a piece in a message comes from the secret, not from decoration.
constexpr std::string_view marker = "Qx7~Zr2_Vb9-Kp4~Wm8_Jt3-Hs6~Ld5";

bool control_free(std::string_view s) {
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

// No 8 bytes in a row of the secret in `message`. The parser withholds any key or value that
// shares 8 bytes with the secret, so this holds even when the input itself holds a piece.
void check_no_secret(std::string_view message) {
    constexpr std::size_t piece = 8;
    for (std::size_t i = 0; i + piece <= marker.size(); ++i) {
        if (message.find(marker.substr(i, piece)) != std::string_view::npos) {
            fuzz::fail(__FILE__, __LINE__, "error message quotes the secret", message);
        }
    }
}

void parse(std::string_view text, bool check_secret) {
    try {
        const Credential c = parse_credential(text, file_name);
        FUZZ_CHECK(!c.secret.empty(), text);
        FUZZ_CHECK(control_free(c.secret.reveal()), c.secret.reveal());
    } catch (const ConfigError& e) {
        const std::string_view what = e.what();
        FUZZ_CHECK(what.compare(0, file_name.size(), file_name) == 0, what);
        if (check_secret) {
            check_no_secret(what);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    parse(input, false);

    // TOML form: the secret first, at the top level, then the fuzzed text (keys, tables,
    // expires values, a duplicate secret, broken lines): the secret must stay out of messages.
    std::string toml("secret = \"");
    toml += marker;
    toml += "\"\n";
    toml += input;
    parse(toml, true);

    // The fuzzed text first: the secret may land in a table the text opened (then the file's
    // secret is not the marker, so only the type of error is checked).
    std::string after(input);
    after += "\nsecret = \"";
    after += marker;
    after += "\"\n";
    parse(after, false);

    // Plain form: the secret on the first line, the fuzzed text after it.
    std::string plain(marker);
    plain += '\n';
    plain += input;
    parse(plain, true);
    return 0;
}
