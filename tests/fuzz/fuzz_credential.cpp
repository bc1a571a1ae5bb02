// tests/fuzz/fuzz_credential.cpp - the credential file parser (common/config.h
// parse_credential): the secret alone on one line, or TOML with secret and expires.
//
// Each input is parsed three ways: as it is; with a known secret line appended (TOML form);
// and after a known secret line (plain form). Invariants (abort() on violation):
//   - only ConfigError is thrown, and its message starts with the file name;
//   - an accepted secret is non-empty, holds no control byte, and in the plain form has no
//     blank at either end;
//   - an error message never holds the secret: no 8-byte piece of the known secret appears in
//     a message unless the input itself holds that piece.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/config.h"
#include "fuzz_check.h"

namespace {

using namespace m365gate;

const std::string file_name = "/etc/m365gate/fuzz.secret";
// Looks like an Entra secret value; no word a message would contain.
constexpr std::string_view marker = "Qx7~Zr2.Vb9_Kp4-Wm8~Jt3.Hs6_Ld5";

bool control_free(std::string_view s) {
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

// A piece of the marker in `message` that the input did not bring itself.
void check_no_secret(std::string_view message, std::string_view input) {
    constexpr std::size_t piece = 8;
    for (std::size_t i = 0; i + piece <= marker.size(); ++i) {
        const std::string_view p = marker.substr(i, piece);
        if (message.find(p) != std::string_view::npos && input.find(p) == std::string_view::npos) {
            fuzz::fail(__FILE__, __LINE__, "error message quotes the secret", message);
        }
    }
}

void parse(std::string_view text, std::string_view input, bool check_secret) {
    try {
        const Credential c = parse_credential(text, file_name);
        FUZZ_CHECK(!c.secret.empty(), text);
        FUZZ_CHECK(control_free(c.secret.reveal()), c.secret.reveal());
    } catch (const ConfigError& e) {
        const std::string_view what = e.what();
        FUZZ_CHECK(what.compare(0, file_name.size(), file_name) == 0, what);
        if (check_secret) {
            check_no_secret(what, input);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    parse(input, input, false);

    // TOML form: the fuzzed text, then the secret (maybe inside a table the text opened,
    // maybe a duplicate key, maybe after a broken line: the secret must stay out of messages).
    std::string toml(input);
    toml += "\nsecret = \"";
    toml += marker;
    toml += "\"\n";
    parse(toml, input, true);

    // Plain form: the secret on the first line, the fuzzed text after it.
    std::string plain(marker);
    plain += '\n';
    plain += input;
    parse(plain, input, true);
    return 0;
}
