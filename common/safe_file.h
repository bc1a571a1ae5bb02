// common/safe_file.h - files created or written in directories that other users may control.
//
// A process with more rights than the owner of a directory (root, or the sync worker writing
// under a directory of the milter's user) must never let that owner choose what it writes to:
// a symlink or a hard link planted at the name turns "append to my log" into "append to the
// store" or "chown this file". The rules, and where each daemon uses them, are in
// docs/security.md ("File-system operations"):
//   - a file we replace (pid file, credential file) is written as a NEW file - a temporary
//     created O_EXCL|O_NOFOLLOW, given its mode and owner on the descriptor - and renamed over
//     the name, inside a directory opened once and checked for owner and mode;
//   - a file we append to (log files) is opened O_NOFOLLOW and must be a regular file with a
//     single link, and is opened only after the privilege drop.
// Nothing here follows a symlink at the last component; errors are values ("" = done).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"

namespace m365gate {

// Opens `dir` and checks that nobody but root and the `trusted` users can change what is in it:
// the directory itself is owned by root or a trusted user and writable by its owner only; every
// directory above it (walked through "..", so symlinks in the path are judged where they lead)
// is owned by root or a trusted user and not writable by group or others unless sticky (/tmp).
// Returns the open directory, or an invalid descriptor and the reason in `why`.
UniqueFd open_trusted_directory(const std::filesystem::path& dir, const std::vector<uid_t>& trusted,
                                std::string& why);

// The owner given to a file written by replace_file_at(); nullopt: the writer's own.
struct FileOwner {
    uid_t uid;
    gid_t gid;
};

// Writes `text` as a new file `name` in the directory `dir_fd`: a temporary ".name.XXXXXX"
// created O_CREAT|O_EXCL|O_NOFOLLOW, fchmod `mode`, fchown `owner`, written, fsync'd, renamed
// over `name` (whatever was there - file, symlink, hard link - is replaced, never written
// through), then the directory fsync'd. The temporary is removed on failure. "" or why not.
std::string replace_file_at(int dir_fd, const std::string& name, std::string_view text, mode_t mode,
                            std::optional<FileOwner> owner);

// Opens `file` for appending (created with `mode` if missing) without following a symlink at
// its name; refuses anything but a regular file with exactly one link (a hard link planted by
// the directory's owner would have two). Returns the descriptor, or -1 and the reason.
UniqueFd open_append_no_follow(const std::filesystem::path& file, mode_t mode, std::string& why);

// Opens an existing file for reading without following a symlink at its name (O_NONBLOCK, so a
// FIFO cannot hang the caller). -1 and errno on failure.
UniqueFd open_read_no_follow(const std::filesystem::path& file);

// The pid file of a daemon: written after the privilege drop, as the daemon's user, in a
// directory only that user (or root) can change; a new file renamed into place, mode 0644.
// "" when written (or `file` is empty), else why not.
std::string write_pid_file(const std::filesystem::path& file);

// Removes the pid file at stop if it still holds this process's pid (a second instance may
// have replaced it); never follows a symlink.
void remove_pid_file(const std::filesystem::path& file);

// Root acting, for a while, with the rights of another user: effective uid and gid and the
// supplementary groups are switched (the real and saved uid stay 0, so the destructor can
// switch back). Files created meanwhile belong to that user and group, and every path is
// resolved with that user's rights, so a directory of that user gives it nothing it did not
// have. Throws std::runtime_error when a switch fails; the destructor restores root or aborts
// (a process that cannot get back to the identity it knows must not go on).
class ActAs {
public:
    ActAs(uid_t uid, gid_t gid, const std::vector<gid_t>& groups);
    ~ActAs();
    ActAs(const ActAs&) = delete;
    ActAs& operator=(const ActAs&) = delete;

private:
    uid_t saved_uid_;
    gid_t saved_gid_;
    std::vector<gid_t> saved_groups_;
};

// The supplementary groups of `user` with primary group `gid` (getgrouplist()).
std::vector<gid_t> groups_of(const std::string& user, gid_t gid);

}  // namespace m365gate
