// common/clock.cpp - now_seconds(). The test clock (M365GATE_TEST_NOW) is compiled in only when
// the build is configured with M365GATE_TEST_CLOCK=ON, which scripts/test does and a shipped
// build never does: a default build has no code that reads the variable.
#include <chrono>
#include <cstdlib>

#include "common/time.h"

namespace m365gate {

std::int64_t now_seconds() {
#ifdef M365GATE_TEST_CLOCK
    if (const char* fake = std::getenv("M365GATE_TEST_NOW"); fake != nullptr && *fake != '\0') {
        char* end = nullptr;
        const long long value = std::strtoll(fake, &end, 10);
        if (end != nullptr && *end == '\0') {
            return value;
        }
    }
#endif
    return std::chrono::duration_cast<Seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace m365gate
