// tests/unit/temp_dir.h - a fresh directory for one test, removed with everything in it
// afterwards: under $M365GATE_BINARY_DIR when it is set, else the system's temp directory.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace m365gate::testing {

class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("M365GATE_BINARY_DIR");
        std::string pattern =
            ((base != nullptr && *base != '\0') ? std::filesystem::path(base)
                                                : std::filesystem::temp_directory_path()) /
            "m365gate-test.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace m365gate::testing
