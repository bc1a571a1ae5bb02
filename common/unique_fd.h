// common/unique_fd.h - the one owner of an open file descriptor.
//
// Every descriptor this project opens and must close (store lock file, spill file, pipes, log
// and pid files, directories opened for *at() calls) is held by a UniqueFd, so that no early
// return or exception leaks it. Move-only; closes on destruction; release() hands the
// descriptor over (to close() it and check the result, or to a long-lived owner).
#pragma once

#include <unistd.h>

#include <utility>

namespace m365gate {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            reset(other.release());
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    // The descriptor, or -1 when none is held.
    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    // Gives up ownership without closing; the caller closes it.
    int release() noexcept { return std::exchange(fd_, -1); }
    // Closes the held descriptor (if any) and takes `fd`.
    void reset(int fd = -1) noexcept {
        const int old = std::exchange(fd_, fd);
        if (old >= 0) {
            ::close(old);
        }
    }

private:
    int fd_ = -1;
};

}  // namespace m365gate
