// tests/fuzz/fuzz_check.h - invariants of the fuzz targets: a violation prints what broke and
// abort()s, which libFuzzer records as a crash (and keeps the input).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace m365gate::fuzz {

[[noreturn]] inline void fail(const char* file, int line, const char* condition,
                              std::string_view detail) {
    std::fprintf(stderr, "\nINVARIANT VIOLATED %s:%d: %s\n  detail: %.*s\n", file, line, condition,
                 static_cast<int>(detail.size() > 2000 ? 2000 : detail.size()), detail.data());
    std::abort();
}

// True when every byte is printable ASCII (0x20-0x7e).
inline bool printable_ascii(std::string_view s) {
    for (unsigned char c : s) {
        if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

}  // namespace m365gate::fuzz

#define FUZZ_CHECK(condition, detail)                                         \
    do {                                                                      \
        if (!(condition)) {                                                   \
            ::m365gate::fuzz::fail(__FILE__, __LINE__, #condition, (detail)); \
        }                                                                     \
    } while (0)
