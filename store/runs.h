// store/runs.h - sorted runs of records and their merge: how a Rebuild (rebuild.cpp) turns
// records that arrive in any order into the key order MDB_APPEND needs, in bounded memory.
// A record is "u32 key length, key, u32 value length, value" (host byte order: the spill file
// never outlives its process). Not part of the store's interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace m365gate::store::detail {

// One sorted sequence of records in the spill file.
struct Extent {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

inline void append_u32(std::string& out, std::uint32_t v) {
    char b[4];
    std::memcpy(b, &v, 4);
    out.append(b, 4);
}

inline std::uint32_t read_u32(const char* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Records appended in arrival order, sorted on demand.
class Run {
public:
    void add(std::string_view key, std::string_view value) {
        offsets_.push_back(arena_.size());
        append_u32(arena_, static_cast<std::uint32_t>(key.size()));
        arena_.append(key);
        append_u32(arena_, static_cast<std::uint32_t>(value.size()));
        arena_.append(value);
    }
    std::size_t bytes() const noexcept { return arena_.size(); }
    bool empty() const noexcept { return offsets_.empty(); }
    std::string_view key(std::size_t i) const { return key_at(offsets_[i]); }
    std::string_view value(std::size_t i) const {
        const char* p = arena_.data() + offsets_[i];
        const std::uint32_t klen = read_u32(p);
        return {p + 8 + klen, read_u32(p + 4 + klen)};
    }
    std::size_t size() const noexcept { return offsets_.size(); }
    // Sorts by key; among equal keys the first added stays first (offsets grow with arrival).
    void sort();
    // The sorted records serialised, each key once (see Merger for equal keys).
    std::string serialise_unique(bool combine) const;
    void clear();

private:
    std::string_view key_at(std::size_t offset) const {
        const char* p = arena_.data() + offset;
        return {p + 4, read_u32(p)};
    }
    std::string arena_;
    std::vector<std::size_t> offsets_;
};

// Equal keys in the objects database: one object id listed twice in a full enumeration
// (Graph paging should not do that, but may while the directory changes). The object keeps
// the first kind and the union of the addresses, so it lists every address attributed to it.
std::string combine_objects(std::string_view a, std::string_view b);

// A source of sorted records for the merge: a spilled extent, or the last in-memory run.
class Source {
public:
    Source(int fd, Extent e, const std::filesystem::path& dir) : fd_(fd), extent_(e), dir_(dir) {}
    explicit Source(const Run* run) : run_(run) {}

    // Moves to the next record; false at the end.
    bool next();
    std::string_view key() const noexcept { return key_; }
    std::string_view value() const noexcept { return value_; }

private:
    // At least n unread bytes in buffer_ from pos_ (false at the end of the extent). Moves
    // the unread bytes to the front before reading more, so views are stable between refills.
    bool ensure(std::size_t n);
    [[noreturn]] void corrupt() const;

    const Run* run_ = nullptr;
    std::size_t index_ = 0;
    int fd_ = -1;
    Extent extent_;
    std::filesystem::path dir_;
    std::string buffer_;
    std::size_t pos_ = 0;       // first unread byte of buffer_
    std::size_t consumed_ = 0;  // bytes of the current record
    std::uint64_t read_ = 0;
    std::string_view key_, value_;
};

// The records of `sources` in key order, one per key. Equal keys: the record of the earliest
// source (earliest arrival) wins, or, with `combine`, the values are combined.
class Merger {
public:
    Merger(std::vector<Source> sources, bool combine);
    Merger(const Merger&) = delete;
    Merger& operator=(const Merger&) = delete;

    bool next();
    std::string_view key() const noexcept { return key_; }
    std::string_view value() const noexcept { return value_; }

private:
    // A min-heap on (key, source index): the earliest source first among equal keys.
    bool later(std::size_t a, std::size_t b) const {
        const auto ka = sources_[a].key(), kb = sources_[b].key();
        return ka != kb ? ka > kb : a > b;
    }
    void push(std::size_t i);
    std::size_t pop();

    std::vector<Source> sources_;
    const bool combine_;
    std::vector<std::size_t> heap_;
    std::string key_, value_;
};

}  // namespace m365gate::store::detail
