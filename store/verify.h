// store/verify.h - a structural check of an LMDB data file (data.mdb) that reads it with
// pread(), never through a mapping, so that no damage in the file can fault the process that
// checks it.
//
// LMDB trusts its file: a page overwritten with garbage, or a file shorter than its meta page
// says, makes liblmdb follow wild offsets and page numbers inside its mapping (SIGSEGV, SIGBUS,
// an assertion). verify_pages() checks everything a reader of this store's LMDB (0.9.x, 64-bit)
// follows before the process touches one mapped page: both meta pages, the file length against
// the last page in use, and every page reachable from the chosen meta (free list, main database,
// every named database, overflow pages): header, page number, type, node offsets and sizes
// inside the page, key order and key bounds from the parent, child page numbers in range, each
// page used once (no cycles), equal leaf depth, the counts in each database record, and the free
// list (page numbers in range, none also in a tree). It cannot see a changed value that is still
// well-formed (LMDB has no checksums): the store's own decoders check those.
// Store's constructor runs it (env.cpp) for every process, reader or writer. Pure: no LMDB,
// no logging, no exceptions for bad input; memory bounded by the file's page count / 8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace m365gate::store {

// Where the bytes come from: a file descriptor (pread) or a buffer (tests, the fuzzer).
class PageSource {
public:
    virtual ~PageSource() = default;
    virtual std::uint64_t size() const = 0;
    // Reads exactly n bytes at offset; false when it cannot (short file, I/O error).
    virtual bool read(std::uint64_t offset, void* out, std::size_t n) const = 0;
};

struct VerifyResult {
    bool ok = false;
    std::string problem;      // the first problem found, one sentence ("" when ok)
    std::uint64_t pages = 0;  // pages checked
    std::uint64_t txnid = 0;  // of the meta page that was checked
};

// Checks the snapshot of one meta page: meta[*reader_txnid & 1] when given (an LMDB read
// transaction reads the meta page of its txnid's parity), else the newer one (what a write
// transaction starts from).
VerifyResult verify_pages(const PageSource& source, std::optional<std::uint64_t> reader_txnid);

// verify_pages() over an open data.mdb (pread, the file offset is not moved).
VerifyResult verify_data_fd(int fd, std::optional<std::uint64_t> reader_txnid);

// Only what mdb_env_open() itself reads: both meta pages (magic, version, page size, page
// numbers) and the newer one's last page against the file's length. mdb_env_open() divides by
// the page size of the meta page it picks and sizes its map from it, so a damaged meta page
// faults inside liblmdb before any transaction exists: Store runs this over its own descriptor
// before it calls mdb_env_open(), and verify_data_fd() over LMDB's once it is open.
VerifyResult verify_header(const PageSource& source);
VerifyResult verify_header_fd(int fd);

}  // namespace m365gate::store
