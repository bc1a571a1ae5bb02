// store/verify.cpp - see verify.h. The on-disk layout is LMDB 0.9's (mdb.c), 64-bit:
//   page header (16 bytes): u64 pgno, u16 pad, u16 flags, u16 lower, u16 upper (an overflow
//     page has u32 page count in place of lower/upper); then u16 node offsets
//   node (8 bytes + key + data): u16 lo, u16 hi, u16 flags, u16 key size; a leaf's data size is
//     lo | hi << 16; a branch's child page is lo | hi << 16 | flags << 32
//   meta (at offset 16 of pages 0 and 1): u32 magic, u32 version, u64 address, u64 map size,
//     db[2] (free list, main), u64 last page, u64 txnid
//   db record (48 bytes): u32 pad (the page size in the free list's), u16 flags, u16 depth,
//     u64 branch pages, u64 leaf pages, u64 overflow pages, u64 entries, u64 root
#include "store/verify.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

namespace m365gate::store {
namespace {

constexpr std::uint32_t mdb_magic = 0xBEEFC0DE;
constexpr std::uint32_t mdb_data_version = 1;
constexpr std::size_t page_header = 16;
constexpr std::size_t node_header = 8;
constexpr std::size_t meta_size = 136;  // without the page header
constexpr std::size_t db_size = 48;
constexpr std::uint16_t p_branch = 0x01, p_leaf = 0x02, p_overflow = 0x04, p_meta = 0x08;
constexpr std::uint16_t p_dirty = 0x10;  // cleared before a page is written; tolerated
constexpr std::uint16_t f_bigdata = 0x01, f_subdata = 0x02;
constexpr std::uint16_t mdb_integerkey = 0x08;
constexpr std::uint64_t p_invalid = ~std::uint64_t{0};
constexpr unsigned max_depth = 32;    // LMDB's CURSOR_STACK
constexpr std::size_t max_key = 511;  // LMDB's default maximum key size
constexpr std::uint64_t first_data_page = 2;

template <typename T>
T load(const unsigned char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

struct Db {
    std::uint32_t pad = 0;
    std::uint16_t flags = 0;
    std::uint16_t depth = 0;
    std::uint64_t branch_pages = 0, leaf_pages = 0, overflow_pages = 0, entries = 0;
    std::uint64_t root = p_invalid;
};

Db load_db(const unsigned char* p) {
    Db d;
    d.pad = load<std::uint32_t>(p);
    d.flags = load<std::uint16_t>(p + 4);
    d.depth = load<std::uint16_t>(p + 6);
    d.branch_pages = load<std::uint64_t>(p + 8);
    d.leaf_pages = load<std::uint64_t>(p + 16);
    d.overflow_pages = load<std::uint64_t>(p + 24);
    d.entries = load<std::uint64_t>(p + 32);
    d.root = load<std::uint64_t>(p + 40);
    return d;
}

struct Meta {
    std::uint64_t pgno = 0;
    std::uint16_t page_flags = 0;
    std::uint32_t magic = 0, version = 0;
    Db dbs[2];  // free list, main
    std::uint64_t last_pg = 0;
    std::uint64_t txnid = 0;
};

Meta load_meta(const unsigned char* page) {
    Meta m;
    m.pgno = load<std::uint64_t>(page);
    m.page_flags = load<std::uint16_t>(page + 10);
    const unsigned char* p = page + page_header;
    m.magic = load<std::uint32_t>(p);
    m.version = load<std::uint32_t>(p + 4);
    m.dbs[0] = load_db(p + 24);
    m.dbs[1] = load_db(p + 24 + db_size);
    m.last_pg = load<std::uint64_t>(p + 24 + 2 * db_size);
    m.txnid = load<std::uint64_t>(p + 32 + 2 * db_size);
    return m;
}

// LMDB's default key order (mdb_cmp_memn): bytewise, a prefix first.
int compare_bytes(std::string_view a, std::string_view b) {
    const int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
    if (c != 0) return c;
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

// The free list's integer keys (8 bytes, native order).
int compare_integer(std::string_view a, std::string_view b) {
    const auto x = load<std::uint64_t>(reinterpret_cast<const unsigned char*>(a.data()));
    const auto y = load<std::uint64_t>(reinterpret_cast<const unsigned char*>(b.data()));
    return x < y ? -1 : (x > y ? 1 : 0);
}

enum class TreeKind { free_list, main, named };

struct Counts {
    std::uint64_t branch_pages = 0, leaf_pages = 0, overflow_pages = 0, entries = 0;
    unsigned leaf_depth = 0;  // 0 until the first leaf
};

struct SubDb {
    std::string name;
    Db db;
};

class Walker {
public:
    Walker(const PageSource& source, std::uint32_t psize, std::uint64_t last_pg)
        : source_(source), psize_(psize), last_pg_(last_pg), used_(last_pg + 1, false) {
        used_[0] = used_[1] = true;  // the meta pages
    }

    const std::string& problem() const noexcept { return problem_; }
    std::uint64_t pages() const noexcept { return pages_; }
    std::vector<SubDb>& sub_dbs() noexcept { return sub_dbs_; }
    std::vector<std::uint64_t>& free_pages() noexcept { return free_pages_; }

    bool tree(const Db& db, TreeKind kind, const std::string& name) {
        name_ = name;
        kind_ = kind;
        if (db.root == p_invalid) {
            if (db.depth != 0 || db.entries != 0 || db.branch_pages != 0 || db.leaf_pages != 0 ||
                db.overflow_pages != 0)
                return fail("is empty but its record counts entries or pages");
            return true;
        }
        if (db.depth == 0 || db.depth > max_depth) return fail("has an impossible depth");
        Counts counts;
        if (!page(db.root, 1, std::nullopt, std::nullopt, counts)) return false;
        if (counts.leaf_depth != db.depth) return fail("is not as deep as its record says");
        if (counts.branch_pages != db.branch_pages || counts.leaf_pages != db.leaf_pages ||
            counts.overflow_pages != db.overflow_pages || counts.entries != db.entries)
            return fail("holds other counts than its record says");
        return true;
    }

    // Every page of the free list in range, listed once, and in no tree.
    bool free_list() {
        name_ = "free list";
        for (const std::uint64_t pgno : free_pages_) {
            if (pgno < first_data_page || pgno > last_pg_)
                return fail("lists page " + std::to_string(pgno) + " past the last page");
            if (used_[pgno]) return fail("lists page " + std::to_string(pgno) + " that is in use");
            used_[pgno] = true;
        }
        return true;
    }

    bool fail(const std::string& what) {
        if (problem_.empty()) problem_ = name_ + ": " + what;
        return false;
    }

private:
    // Claims page `pgno` (and `count` - 1 after it) for one use.
    bool claim(std::uint64_t pgno, std::uint64_t count) {
        if (pgno < first_data_page || pgno > last_pg_ || count == 0 || count > last_pg_ ||
            pgno + count - 1 > last_pg_)
            return fail("points at page " + std::to_string(pgno) + ", outside the used pages");
        for (std::uint64_t p = pgno; p < pgno + count; ++p) {
            if (used_[p]) return fail("reaches page " + std::to_string(p) + " twice");
            used_[p] = true;
        }
        pages_ += count;
        return true;
    }

    bool read_page(std::uint64_t pgno, std::vector<unsigned char>& buf) {
        buf.resize(psize_);
        if (!source_.read(pgno * psize_, buf.data(), psize_))
            return fail("page " + std::to_string(pgno) + " cannot be read");
        if (load<std::uint64_t>(buf.data()) != pgno)
            return fail("page " + std::to_string(pgno) + " carries another page number");
        return true;
    }

    int compare(std::string_view a, std::string_view b) const {
        return kind_ == TreeKind::free_list ? compare_integer(a, b) : compare_bytes(a, b);
    }

    bool key_ok(std::string_view key) {
        if (key.size() > max_key) return fail("has a key longer than LMDB writes");
        if (kind_ == TreeKind::free_list && key.size() != 8)
            return fail("has a key that is not a transaction id");
        if (kind_ != TreeKind::free_list && key.empty()) return fail("has an empty key");
        return true;
    }

    // A leaf's data: inline, or in overflow pages (claimed here). `want` asks for the bytes.
    bool leaf_data(const unsigned char* node, std::size_t node_end_room, std::uint16_t flags,
                   std::uint32_t dsize, std::size_t ksize, std::string* want, Counts& counts) {
        const unsigned char* data = node + node_header + ksize;
        if (!(flags & f_bigdata)) {
            if (dsize > node_end_room) return fail("has a value that runs off its page");
            if (want != nullptr) want->assign(reinterpret_cast<const char*>(data), dsize);
            return true;
        }
        if (node_end_room < 8) return fail("has an overflow reference that runs off its page");
        const auto pgno = load<std::uint64_t>(data);
        std::vector<unsigned char> head;
        if (pgno < first_data_page || pgno > last_pg_)
            return fail("has an overflow reference outside the used pages");
        if (!read_page(pgno, head)) return false;
        if ((load<std::uint16_t>(head.data() + 10) & ~p_dirty) != p_overflow)
            return fail("has an overflow reference to a page that is not one");
        const std::uint32_t count = load<std::uint32_t>(head.data() + 12);
        if (count == 0 || static_cast<std::uint64_t>(dsize) + page_header >
                              static_cast<std::uint64_t>(count) * psize_)
            return fail("has an overflow value larger than its pages");
        if (!claim(pgno, count)) return false;
        counts.overflow_pages += count;
        if (want != nullptr) {
            want->resize(dsize);
            if (dsize != 0 && !source_.read(pgno * psize_ + page_header, want->data(), dsize))
                return fail("has an overflow value that cannot be read");
        }
        return true;
    }

    // A branch's node: its key and the page it points to (a leaf's nodes only use the key).
    struct Node {
        std::string_view key;
        std::uint64_t child = 0;
    };

    bool page(std::uint64_t pgno, unsigned level, std::optional<std::string> lower,
              std::optional<std::string> upper, Counts& counts) {
        if (level > max_depth) return fail("is deeper than LMDB can read");
        if (!claim(pgno, 1)) return false;
        std::vector<unsigned char> buf;
        if (!read_page(pgno, buf)) return false;
        const std::uint16_t flags = load<std::uint16_t>(buf.data() + 10) & ~p_dirty;
        const std::uint16_t lower_off = load<std::uint16_t>(buf.data() + 12);
        const std::uint16_t upper_off = load<std::uint16_t>(buf.data() + 14);
        const std::string at = "page " + std::to_string(pgno);
        if (flags != p_branch && flags != p_leaf) return fail(at + " is neither branch nor leaf");
        if (lower_off < page_header || (lower_off - page_header) % 2 != 0 ||
            upper_off < lower_off || upper_off > psize_)
            return fail(at + " has a broken header");
        const std::size_t keys = (lower_off - page_header) / 2;
        if (keys == 0) return fail(at + " has no keys");
        const bool branch = flags == p_branch;
        if (branch) {
            ++counts.branch_pages;
        } else {
            ++counts.leaf_pages;
            counts.entries += keys;
            if (counts.leaf_depth == 0) counts.leaf_depth = level;
            if (counts.leaf_depth != level) return fail(at + ": leaves at different depths");
        }
        std::vector<Node> nodes(keys);
        if (!page_nodes(buf, upper_off, branch, at, lower, upper, nodes, counts)) return false;
        return !branch || children(nodes, level, lower, upper, counts);
    }

    // The nodes of one page (buf): each inside the page, keys in order and within [lower,
    // upper); a leaf's data checked, and read where the tree holds records (database records,
    // free-list page lists).
    bool page_nodes(const std::vector<unsigned char>& buf, std::uint16_t upper_off, bool branch,
                    const std::string& at, const std::optional<std::string>& lower,
                    const std::optional<std::string>& upper, std::vector<Node>& nodes,
                    Counts& counts) {
        std::optional<std::string_view> previous;
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const std::uint16_t off = load<std::uint16_t>(buf.data() + page_header + 2 * i);
            if (off < upper_off || off % 2 != 0 || off + node_header > psize_)
                return fail(at + " has a node outside its page");
            const unsigned char* node = buf.data() + off;
            const std::uint16_t lo = load<std::uint16_t>(node);
            const std::uint16_t hi = load<std::uint16_t>(node + 2);
            const std::uint16_t nflags = load<std::uint16_t>(node + 4);
            const std::uint16_t ksize = load<std::uint16_t>(node + 6);
            if (off + node_header + ksize > psize_) return fail(at + " has a key off its page");
            const std::string_view key(reinterpret_cast<const char*>(node + node_header), ksize);
            const std::size_t room = psize_ - (off + node_header + ksize);
            nodes[i].key = key;
            if (branch) {
                nodes[i].child =
                    std::uint64_t{lo} | std::uint64_t{hi} << 16 | std::uint64_t{nflags} << 32;
                if (i == 0) continue;  // the leftmost key of a branch is not compared
            } else {
                const std::uint32_t dsize = std::uint32_t{lo} | std::uint32_t{hi} << 16;
                std::string data;
                const bool want = kind_ != TreeKind::named;
                if (kind_ == TreeKind::main) {
                    if (nflags != f_subdata || dsize != db_size)
                        return fail(at + " holds something that is not a database record");
                } else if (nflags != 0 && nflags != f_bigdata) {
                    return fail(at + " has a node with flags this store never sets");
                }
                if (!leaf_data(node, room, nflags, dsize, ksize, want ? &data : nullptr, counts))
                    return false;
                if (kind_ == TreeKind::main && !sub_db(key, data)) return false;
                if (kind_ == TreeKind::free_list && !free_record(data)) return false;
            }
            if (!key_ok(key)) return false;
            if (previous && compare(*previous, key) >= 0)
                return fail(at + " has keys out of order");
            if (lower && compare(key, *lower) < 0) return fail(at + " has a key below its range");
            if (upper && compare(key, *upper) >= 0) return fail(at + " has a key above its range");
            previous = key;
        }
        return true;
    }

    // A branch's children, each within the keys on either side of its node.
    bool children(const std::vector<Node>& nodes, unsigned level,
                  const std::optional<std::string>& lower, const std::optional<std::string>& upper,
                  Counts& counts) {
        const std::size_t keys = nodes.size();
        for (std::size_t i = 0; i < keys; ++i) {
            std::optional<std::string> child_lower =
                i == 0 ? lower : std::optional<std::string>(std::string(nodes[i].key));
            std::optional<std::string> child_upper =
                i + 1 < keys ? std::optional<std::string>(std::string(nodes[i + 1].key)) : upper;
            if (!page(nodes[i].child, level + 1, std::move(child_lower), std::move(child_upper),
                      counts))
                return false;
        }
        return true;
    }

    bool sub_db(std::string_view name, const std::string& record) {
        const Db db = load_db(reinterpret_cast<const unsigned char*>(record.data()));
        if (db.flags != 0) return fail("database \"" + std::string(name) + "\" has flags");
        sub_dbs_.push_back(SubDb{std::string(name), db});
        return true;
    }

    bool free_record(const std::string& idl) {
        if (idl.size() < 8 || idl.size() % 8 != 0) return fail("has a malformed page list");
        const auto* p = reinterpret_cast<const unsigned char*>(idl.data());
        const auto count = load<std::uint64_t>(p);
        if (count != idl.size() / 8 - 1) return fail("has a page list of the wrong length");
        for (std::uint64_t i = 1; i <= count; ++i)
            free_pages_.push_back(load<std::uint64_t>(p + 8 * i));
        return true;
    }

    const PageSource& source_;
    const std::uint32_t psize_;
    const std::uint64_t last_pg_;
    std::vector<bool> used_;
    std::uint64_t pages_ = 2;
    std::string name_;
    TreeKind kind_ = TreeKind::named;
    std::string problem_;
    std::vector<SubDb> sub_dbs_;
    std::vector<std::uint64_t> free_pages_;
};

VerifyResult failed(std::string problem) {
    VerifyResult r;
    r.problem = std::move(problem);
    return r;
}

class FdSource : public PageSource {
public:
    FdSource(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
    std::uint64_t size() const override { return size_; }
    bool read(std::uint64_t offset, void* out, std::size_t n) const override {
        auto* p = static_cast<char*>(out);
        while (n > 0) {
            const ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(offset));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) return false;
            p += got;
            n -= static_cast<std::size_t>(got);
            offset += static_cast<std::uint64_t>(got);
        }
        return true;
    }

private:
    int fd_;
    std::uint64_t size_;
};

}  // namespace

namespace {

// Both meta pages, as mdb_env_open() reads them (meta 1 at meta 0's page size), and the one a
// reader of `reader_txnid` (or a writer) starts from: "" when they hold, else the problem.
std::string check_metas(const PageSource& source, std::optional<std::uint64_t> reader_txnid,
                        Meta& chosen, std::uint32_t& psize) {
    const std::uint64_t file_size = source.size();
    unsigned char head[page_header + meta_size];
    if (file_size < sizeof head || !source.read(0, head, sizeof head))
        return "data.mdb is too short for a meta page";
    Meta metas[2];
    metas[0] = load_meta(head);
    psize = metas[0].dbs[0].pad;
    if (psize < 512 || psize > 65536 || (psize & (psize - 1)) != 0)
        return "meta page 0 has an impossible page size";
    if (file_size < 2ull * psize || !source.read(psize, head, sizeof head))
        return "data.mdb is too short for two meta pages";
    metas[1] = load_meta(head);
    for (int i = 0; i < 2; ++i) {
        const Meta& m = metas[i];
        const std::string which = "meta page " + std::to_string(i);
        if (m.pgno != static_cast<std::uint64_t>(i) || (m.page_flags & ~p_dirty) != p_meta ||
            m.magic != mdb_magic)
            return which + " is not an LMDB meta page";
        if (m.version != mdb_data_version) return which + " has another LMDB version";
        if (m.dbs[0].pad != psize) return which + " has another page size";
    }
    chosen =
        reader_txnid ? metas[*reader_txnid & 1] : metas[metas[0].txnid < metas[1].txnid ? 1 : 0];
    if (chosen.last_pg < 1 || chosen.last_pg >= file_size / psize)
        return "data.mdb is truncated: " + std::to_string(file_size) +
               " bytes, its meta page uses pages up to " + std::to_string(chosen.last_pg) + " of " +
               std::to_string(psize) + " bytes";
    if (chosen.dbs[0].flags != mdb_integerkey) return "the free list has the wrong flags";
    if (chosen.dbs[1].flags != 0) return "the main database has flags";
    return "";
}

}  // namespace

VerifyResult verify_header(const PageSource& source) {
    Meta meta;
    std::uint32_t psize = 0;
    std::string problem = check_metas(source, std::nullopt, meta, psize);
    if (!problem.empty()) return failed(std::move(problem));
    VerifyResult r;
    r.ok = true;
    r.pages = 2;
    r.txnid = meta.txnid;
    return r;
}

VerifyResult verify_pages(const PageSource& source, std::optional<std::uint64_t> reader_txnid) {
    Meta meta;
    std::uint32_t psize = 0;
    std::string problem = check_metas(source, reader_txnid, meta, psize);
    if (!problem.empty()) return failed(std::move(problem));

    Walker walker(source, psize, meta.last_pg);
    if (!walker.tree(meta.dbs[0], TreeKind::free_list, "free list") ||
        !walker.tree(meta.dbs[1], TreeKind::main, "main database"))
        return failed(walker.problem());
    const std::vector<SubDb> subs = walker.sub_dbs();
    for (const auto& sub : subs) {
        if (!walker.tree(sub.db, TreeKind::named, "database \"" + sub.name + "\""))
            return failed(walker.problem());
    }
    if (!walker.free_list()) return failed(walker.problem());
    VerifyResult r;
    r.ok = true;
    r.pages = walker.pages();
    r.txnid = meta.txnid;
    return r;
}

VerifyResult verify_data_fd(int fd, std::optional<std::uint64_t> reader_txnid) {
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        return failed(std::string("data.mdb: cannot find its size: ") + std::strerror(errno));
    const FdSource source(fd, static_cast<std::uint64_t>(st.st_size));
    return verify_pages(source, reader_txnid);
}

VerifyResult verify_header_fd(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        return failed(std::string("data.mdb: cannot find its size: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return failed("data.mdb is not a regular file");
    const FdSource source(fd, static_cast<std::uint64_t>(st.st_size));
    return verify_header(source);
}

}  // namespace m365gate::store
