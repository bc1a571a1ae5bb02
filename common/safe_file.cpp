// common/safe_file.cpp - see safe_file.h.
#include "common/safe_file.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <utility>

namespace m365gate {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::string octal(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

bool trusted_owner(uid_t uid, const std::vector<uid_t>& trusted) {
    return uid == 0 || std::find(trusted.begin(), trusted.end(), uid) != trusted.end();
}

}  // namespace

UniqueFd open_trusted_directory(const std::filesystem::path& dir, const std::vector<uid_t>& trusted,
                                std::string& why) {
    const std::filesystem::path path = dir.empty() ? std::filesystem::path(".") : dir;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) {
        why = "cannot open directory " + path.string() + ": " + errno_text(errno);
        return {};
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        why = "cannot stat " + path.string() + ": " + errno_text(errno);
        return {};
    }
    if (!trusted_owner(st.st_uid, trusted)) {
        why = "directory " + path.string() + " belongs to uid " + std::to_string(st.st_uid) +
              ", a user who may not decide what is written there";
        return {};
    }
    if ((st.st_mode & 022) != 0) {
        why = "directory " + path.string() + " is writable by group or others (mode " +
              octal(st.st_mode) + ")";
        return {};
    }
    // Up through "..": the directories that really hold this one, whatever symlinks led here.
    UniqueFd current(::dup(fd.get()));
    struct stat here = st;
    std::string where = path.string();
    for (int depth = 0; depth < 256; ++depth) {
        UniqueFd parent(::openat(current.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        struct stat up {};
        if (parent.get() < 0 || ::fstat(parent.get(), &up) != 0) {
            why = "cannot check the directories above " + path.string() + ": " + errno_text(errno);
            return {};
        }
        if (up.st_dev == here.st_dev && up.st_ino == here.st_ino) {
            return fd;  // "/" reached
        }
        where += "/..";
        const bool sticky = (up.st_mode & S_ISVTX) != 0;
        if (!trusted_owner(up.st_uid, trusted) || ((up.st_mode & 022) != 0 && !sticky)) {
            why = "a directory above " + path.string() + " (" + where + ", mode " +
                  octal(up.st_mode) + ", uid " + std::to_string(up.st_uid) +
                  ") can be changed by another user";
            return {};
        }
        current = std::move(parent);
        here = up;
    }
    why = "directory " + path.string() + " is nested too deep";
    return {};
}

std::string replace_file_at(int dir_fd, const std::string& name, std::string_view text, mode_t mode,
                            std::optional<FileOwner> owner) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
        return "not a file name: \"" + name + "\"";
    }
    std::random_device random;
    std::string temp;
    UniqueFd fd;
    for (int attempt = 0; attempt < 100 && fd.get() < 0; ++attempt) {
        char suffix[16];
        std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(random()));
        temp = "." + name + "." + suffix;
        fd = UniqueFd(::openat(dir_fd, temp.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (fd.get() < 0 && errno != EEXIST) {
            return "cannot create a temporary file: " + errno_text(errno);
        }
    }
    if (fd.get() < 0) {
        return "cannot create a temporary file: every name taken";
    }
    std::string why;
    if (::fchmod(fd.get(), mode) != 0) {
        why = "fchmod: " + errno_text(errno);
    } else if (owner && ::fchown(fd.get(), owner->uid, owner->gid) != 0) {
        why = "cannot give the file to uid " + std::to_string(owner->uid) + " gid " +
              std::to_string(owner->gid) + ": " + errno_text(errno);
    }
    std::size_t done = 0;
    while (why.empty() && done < text.size()) {
        const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno != EINTR) {
            why = "write: " + errno_text(errno);
        } else if (n > 0) {
            done += static_cast<std::size_t>(n);
        }
    }
    if (why.empty() && ::fsync(fd.get()) != 0) {
        why = "fsync: " + errno_text(errno);
    }
    if (::close(fd.release()) != 0 && why.empty()) {
        why = "close: " + errno_text(errno);
    }
    if (why.empty() && ::renameat(dir_fd, temp.c_str(), dir_fd, name.c_str()) != 0) {
        why = "rename: " + errno_text(errno);
    }
    if (!why.empty()) {
        ::unlinkat(dir_fd, temp.c_str(), 0);
        return why;
    }
    ::fsync(dir_fd);  // the rename survives a crash
    return "";
}

UniqueFd open_append_no_follow(const std::filesystem::path& file, mode_t mode, std::string& why) {
    UniqueFd fd(::open(
        file.c_str(),
        O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode));
    if (!fd.valid()) {
        why = errno == ELOOP ? "is a symbolic link: refusing to follow it" : errno_text(errno);
        return fd;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        why = "fstat: " + errno_text(errno);
    } else if (!S_ISREG(st.st_mode)) {
        why = "not a regular file";
    } else if (st.st_nlink != 1) {
        why = "has " + std::to_string(st.st_nlink) +
              " hard links: refusing to write to a file that is also elsewhere";
    } else {
        const int flags = ::fcntl(fd.get(), F_GETFL);
        if (flags >= 0) {
            ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
        }
        return fd;
    }
    return UniqueFd();
}

UniqueFd open_read_no_follow(const std::filesystem::path& file) {
    return UniqueFd(
        ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
}

std::string write_pid_file(const std::filesystem::path& file) {
    if (file.empty()) {
        return "";
    }
    std::string why;
    const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
    const UniqueFd dir_fd = open_trusted_directory(dir, {::geteuid()}, why);
    if (dir_fd.get() < 0) {
        return why;
    }
    why = replace_file_at(dir_fd.get(), file.filename().string(), std::to_string(::getpid()) + "\n",
                          0644, std::nullopt);
    return why;
}

void remove_pid_file(const std::filesystem::path& file) {
    if (file.empty()) {
        return;
    }
    const UniqueFd fd = open_read_no_follow(file);
    if (fd.get() < 0) {
        return;
    }
    char buf[32] = {};
    const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n > 0 &&
        std::string(buf, static_cast<std::size_t>(n)) == std::to_string(::getpid()) + "\n") {
        ::unlink(file.c_str());
    }
}

ActAs::ActAs(uid_t uid, gid_t gid, const std::vector<gid_t>& groups)
    : saved_uid_(::geteuid()), saved_gid_(::getegid()) {
    const int count = ::getgroups(0, nullptr);
    saved_groups_.resize(count > 0 ? static_cast<std::size_t>(count) : 0);
    if (count > 0 && ::getgroups(count, saved_groups_.data()) < 0) {
        throw std::runtime_error(std::string("getgroups: ") + std::strerror(errno));
    }
    // Groups and gid need root, so they go first; the uid last.
    if (::setgroups(groups.size(), groups.data()) != 0) {
        throw std::runtime_error(std::string("setgroups: ") + std::strerror(errno));
    }
    if (::setegid(gid) != 0) {
        const int err = errno;
        ::setgroups(saved_groups_.size(), saved_groups_.data());
        throw std::runtime_error("setegid(" + std::to_string(gid) + "): " + std::strerror(err));
    }
    if (::seteuid(uid) != 0) {
        const int err = errno;
        ::setegid(saved_gid_);
        ::setgroups(saved_groups_.size(), saved_groups_.data());
        throw std::runtime_error("seteuid(" + std::to_string(uid) + "): " + std::strerror(err));
    }
}

ActAs::~ActAs() {
    if (::seteuid(saved_uid_) != 0 || ::setegid(saved_gid_) != 0 ||
        ::setgroups(saved_groups_.size(), saved_groups_.data()) != 0) {
        std::abort();
    }
}

std::vector<gid_t> groups_of(const std::string& user, gid_t gid) {
    int count = 32;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    while (::getgrouplist(user.c_str(), gid, groups.data(), &count) < 0) {
        groups.resize(static_cast<std::size_t>(count) + 16);
        count = static_cast<int>(groups.size());
    }
    groups.resize(static_cast<std::size_t>(count));
    return groups;
}

}  // namespace m365gate
