// tests/unit/credential_test.cpp - credential files: permissions, the plain and TOML forms,
// and the one promise that matters most: no error message ever carries the secret.
#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/config.h"
#include "common/credentials.h"
#include "tests/unit/temp_dir.h"

using namespace m365gate;

namespace {

constexpr const char* secret_value = "Zq8Q~kV3.mN7_pL2-xR9sT4uW6yA1bC5dE0fG8hJ";

using m365gate::testing::TempDir;

std::filesystem::path write_credential(const std::filesystem::path& file, const std::string& text,
                                       mode_t mode = 0600) {
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out << text;
    }
    ::chmod(file.c_str(), mode);
    return file;
}

// The message load_credential throws, or "<no error>".
std::string credential_error(const std::filesystem::path& file) {
    try {
        load_credential(file);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "<no error>";
}

}  // namespace

TEST_CASE("a credential file readable by group or others is refused", "[credential]") {
    TempDir dir;
    struct Case {
        const char* label;
        mode_t mode;
        const char* problem;  // nullptr: accepted
    };
    const Case cases[] = {
        {"owner only", 0600, nullptr},
        {"owner read-only", 0400, nullptr},
        {"group readable", 0640, "readable by group or others (mode 0640)"},
        {"others readable", 0604, "readable by group or others (mode 0604)"},
        {"world readable", 0644, "readable by group or others (mode 0644)"},
        {"group writable only", 0620, "accessible by group or others (mode 0620)"},
        {"others executable only", 0601, "accessible by group or others (mode 0601)"},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        const auto file = write_credential(dir.path() / "contoso.secret",
                                           std::string(secret_value) + "\n", c.mode);
        if (c.problem == nullptr) {
            CHECK(load_credential(file).secret.reveal() == secret_value);
        } else {
            CHECK(credential_error(file) == file.string() + ": credential file is " + c.problem +
                                                ": chmod 600 " + file.string());
        }
    }
}

TEST_CASE("a missing, odd or oversized credential file is named in the error", "[credential]") {
    TempDir dir;
    const auto absent = dir.path() / "absent.secret";
    CHECK(credential_error(absent) ==
          absent.string() + ": cannot open credential file: No such file or directory");
    CHECK(credential_error(dir.path()) ==
          dir.path().string() + ": credential file is not a regular file");

    const auto big = write_credential(dir.path() / "big.secret", std::string(65537, 'x'));
    CHECK(credential_error(big) ==
          big.string() + ": credential file is larger than 64 KiB; refusing it");
    const auto at_limit = write_credential(dir.path() / "limit.secret", std::string(65536, 'x'));
    CHECK(load_credential(at_limit).secret.reveal().size() == 65536);
}

TEST_CASE("a credential file is not read through a symlink", "[credential]") {
    TempDir dir;
    const auto real = write_credential(dir.path() / "real.secret", "s3cret\n");
    const auto link = dir.path() / "link.secret";
    std::filesystem::create_symlink(real, link);
    CHECK(credential_error(link) ==
          link.string() +
              ": credential file is a symbolic link: point the config at the real file");
}

TEST_CASE("the plain form is the one non-empty line, trimmed", "[credential]") {
    struct Case {
        const char* label;
        std::string text;
        const char* want;
    };
    const Case cases[] = {
        {"newline", "abc~123\n", "abc~123"},
        {"no newline", "abc~123", "abc~123"},
        {"CRLF from Windows", "abc~123\r\n", "abc~123"},
        {"trailing spaces", "abc~123  \t\n", "abc~123"},
        {"blank lines around", "\n\nabc~123\n\n  \n", "abc~123"},
        {"UTF-8 byte order mark",
         "\xEF\xBB\xBF"
         "abc~123\n",
         "abc~123"},
        {"an equals sign is still plain", "abc=123\n", "abc=123"},
        {"'secrets' is not the TOML key", "secrets\n", "secrets"},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        const Credential got = parse_credential(c.text, "contoso.secret");
        CHECK(got.secret.reveal() == c.want);
        CHECK_FALSE(got.expires);
    }
}

TEST_CASE("the TOML form gives the secret and its expiry", "[credential]") {
    struct Case {
        const char* label;
        std::string text;
        const char* want_expires;  // nullptr: none
    };
    const Case cases[] = {
        {"secret alone", "secret = \"abc~123\"\n", nullptr},
        {"no spaces around =", "secret=\"abc~123\"\n", nullptr},
        {"date-time", "secret = \"abc~123\"\nexpires = 2027-01-31T21:00:00+09:00\n",
         "2027-01-31T12:00:00Z"},
        {"date", "expires = 2027-01-31\nsecret = 'abc~123'\n", "2027-01-31T00:00:00Z"},
        {"string",
         "# rotated by script\nsecret = \"abc~123\"\nexpires = \"2027-01-31T12:00:00Z\"\n",
         "2027-01-31T12:00:00Z"},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        const Credential got = parse_credential(c.text, "contoso.secret");
        CHECK(got.secret.reveal() == "abc~123");
        if (c.want_expires == nullptr) {
            CHECK_FALSE(got.expires);
        } else {
            REQUIRE(got.expires);
            CHECK(format_datetime_utc(*got.expires) == c.want_expires);
        }
    }
}

TEST_CASE("every broken credential file is named, and the secret never appears", "[credential]") {
    const std::string s = secret_value;
    struct Case {
        const char* label;
        std::string text;
        std::string want;
    };
    const Case cases[] = {
        {"empty", "",
         "contoso.secret: credential file is empty; a credential file holds the secret "
         "alone on one line, or TOML with secret = \"...\" and optional expires = "
         "2027-01-31T00:00:00Z"},
        {"blank", " \n\r\n",
         "contoso.secret: credential file is empty; a credential file holds "
         "the secret alone on one line, or TOML with secret = \"...\" and "
         "optional expires = 2027-01-31T00:00:00Z"},
        {"two secrets", s + "\n" + s + "-old\n",
         "contoso.secret:2: more than one non-empty line; a credential file holds the secret alone "
         "on one line, or TOML with secret = \"...\" and optional expires = 2027-01-31T00:00:00Z"},
        {"control character", s + "\x01\n",
         "contoso.secret:1: the secret contains control characters"},
        {"TOML without quotes", "secret = " + s + "\n",
         "contoso.secret:1:10: not valid TOML (the parser's details are withheld: they could quote "
         "the secret)"},
        {"TOML unterminated", "secret = \"" + s + "\n",
         "contoso.secret:1:" + std::to_string(11 + s.size()) +
             ": not valid TOML (the parser's details are withheld: they could quote the secret)"},
        {"TOML secret twice", "secret = \"" + s + "\"\nsecret = \"" + s + "\"\n",
         "contoso.secret:2:10: not valid TOML (the parser's details are withheld: they could quote "
         "the secret)"},
        {"TOML unknown key", "secret = \"" + s + "\"\nexpiry = 2027-01-31\n",
         "contoso.secret:2: expiry: unknown key (a credential file knows secret and expires)"},
        {"TOML key that holds the secret", "secret = \"" + s + "\"\n\"" + s + "\" = 1\n",
         "contoso.secret:2: unknown key (a credential file knows secret and expires)"},
        // Found by fuzz_credential: a key that is a mistyped copy of the secret was quoted.
        {"TOML key that is a near copy of the secret",
         "secret = \"" + s + "\"\n\"" + s.substr(0, 20) + "#" + s.substr(21) + "\" = 1\n",
         "contoso.secret:2: unknown key (a credential file knows secret and expires)"},
        {"TOML key holding 8 bytes of the secret",
         "secret = \"" + s + "\"\n\"note " + s.substr(10, 8) + "\" = 1\n",
         "contoso.secret:2: unknown key (a credential file knows secret and expires)"},
        {"TOML other keys are still named", "secret = \"" + s + "\"\nexpiry_date = 1\n",
         "contoso.secret:2: expiry_date: unknown key (a credential file knows secret and expires)"},
        {"TOML expiry holding the secret", "secret = \"" + s + "\"\nexpires = \"" + s + "\"\n",
         "contoso.secret:2: expires: bad date (withheld) (use e.g. 2027-01-31, "
         "2027-01-31T12:00:00Z or 2027-01-31T21:00:00+09:00)"},
        {"TOML secret not a string", "secret = 12345\n",
         "contoso.secret:1: secret: expected a string, got integer"},
        {"TOML empty secret", "secret = \"\"\n", "contoso.secret:1: secret: is empty"},
        {"TOML secret with a newline", "secret = \"" + s + "\\n\"\n",
         "contoso.secret:1: secret: contains control characters"},
        {"TOML bad expiry", "secret = \"" + s + "\"\nexpires = \"soon\"\n",
         "contoso.secret:2: expires: bad date \"soon\" (use e.g. 2027-01-31, 2027-01-31T12:00:00Z "
         "or 2027-01-31T21:00:00+09:00)"},
        {"TOML expiry without offset", "secret = \"" + s + "\"\nexpires = 2027-01-31T00:00:00\n",
         "contoso.secret:2: expires: date-time needs a time zone offset (e.g. "
         "2027-01-31T00:00:00Z or +09:00)"},
        {"TOML expiry as number", "secret = \"" + s + "\"\nexpires = 20270131\n",
         "contoso.secret:2: expires: expected a date or date-time, got integer"},
        {"TOML expiry alone", "expires = 2027-01-31\nsecret =\n",
         "contoso.secret:2:9: not valid TOML (the parser's details are withheld: they could quote "
         "the secret)"},
        {"too big", std::string(65537, 'x'),
         "contoso.secret: credential file is larger than 64 KiB; refusing it"},
    };
    for (const auto& c : cases) {
        INFO(c.label);
        std::string error = "<no error>";
        try {
            parse_credential(c.text, "contoso.secret");
        } catch (const ConfigError& e) {
            error = e.what();
        }
        CHECK(error == c.want);
        CHECK(error.find(s) == std::string::npos);
        CHECK(error.find(s.substr(0, 12)) == std::string::npos);
    }
}

TEST_CASE("a missing secret key in TOML form is named", "[credential]") {
    // Detection needs a `secret =` line; a TOML file that only comments it out is plain text,
    // so the two-line rule names it.
    CHECK_THROWS_WITH(parse_credential("# secret = \"x\"\nexpires = 2027-01-31\n", "c.secret"),
                      Catch::StartsWith("c.secret:2: more than one non-empty line"));
}
