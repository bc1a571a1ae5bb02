// common/secret.h - a client secret or bearer token that cannot be logged by accident.
//
// No operator<<, no fmt::formatter: passing one to a log call does not compile. reveal() is
// greppable, so every place that needs the value is a reviewed decision. The destructor
// overwrites the bytes so a core file holds less.
#pragma once

#include <string>
#include <utility>

namespace m365gate {

class Secret {
public:
    Secret() = default;
    explicit Secret(std::string value) : value_(std::move(value)) {}
    Secret(const Secret&) = default;
    Secret(Secret&&) noexcept = default;
    Secret& operator=(const Secret&) = default;
    Secret& operator=(Secret&&) noexcept = default;
    ~Secret() { wipe(); }

    const std::string& reveal() const noexcept { return value_; }
    bool empty() const noexcept { return value_.empty(); }
    bool operator==(const Secret& other) const noexcept { return value_ == other.value_; }
    bool operator!=(const Secret& other) const noexcept { return value_ != other.value_; }

private:
    void wipe() noexcept {
        volatile char* p = value_.data();
        for (std::size_t i = 0; i < value_.size(); ++i) p[i] = 0;
    }
    std::string value_;
};

}  // namespace m365gate
