// store/probe.cpp - the probe index: "is this address in generation G?" in one small read.
//
// The addresses B-tree of a 1M list spans ~60 MB of leaves; a random lookup lands on a leaf
// no cache holds and binary-searches it, ~7 cache misses (~1 us on the project VM). The probe
// index answers the milter's question from ~9 MB instead:
//   probe  u32 generation (big endian)                -> header: 'P', u8 version 1,
//                                                        u32 buckets, u64 k0, u64 k1 (LE)
//          u32 generation + u32 bucket (big endian)   -> u64 fingerprints (LE), a multiset
// fingerprint = SipHash-2-4(k0, k1, canonical address); bucket = its high 32 bits scaled to
// `buckets`. The key is random per generation, so nobody outside can aim at a collision; a
// collision (p ~ 2^-58 per unknown address at 24 per bucket) accepts one unknown address,
// never refuses a known one. Every write of an address key goes with one here (writer.cpp,
// rebuild.cpp); a generation without a header (written by a Writer from nothing, or before
// schema 2) is answered from the B-tree, as is any malformed record: the index may make a
// lookup faster, never different.
#include <endian.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "store/store_internal.h"

namespace m365gate::store::detail {

namespace {

constexpr char header_magic = 'P';
constexpr char header_version = 1;
constexpr std::size_t header_size = 2 + 4 + 8 + 8;
constexpr std::uint64_t per_bucket = 24;  // ~200-byte values: several per leaf page

inline std::uint64_t rotl(std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline void sipround(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2, std::uint64_t& v3) {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
}

std::uint64_t load_le64(const char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return le64toh(v);
}

void append_le64(std::string& out, std::uint64_t v) {
    v = htole64(v);
    out.append(reinterpret_cast<const char*>(&v), 8);
}

// u32 generation + u32 bucket, both big endian; on the stack (the milter's hot path).
struct BucketKey {
    char bytes[8];
    std::string_view view() const { return std::string_view(bytes, sizeof bytes); }
};

BucketKey bucket_key(std::uint32_t generation, std::uint32_t bucket) {
    BucketKey k;
    const std::uint32_t g = htobe32(generation), b = htobe32(bucket);
    std::memcpy(k.bytes, &g, 4);
    std::memcpy(k.bytes + 4, &b, 4);
    return k;
}

std::uint32_t bucket_of(const ProbeHeader& h, std::uint64_t fp) {
    return static_cast<std::uint32_t>(((fp >> 32) * h.buckets) >> 32);
}

std::uint64_t random_u64() {
    std::uint64_t v = 0;
    auto* p = reinterpret_cast<char*>(&v);
    std::size_t got = 0;
    while (got < sizeof v) {
        const ssize_t n = ::getrandom(p + got, sizeof v - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            throw StoreError(StoreError::Kind::io,
                             std::string("getrandom: ") + std::strerror(errno));
        got += static_cast<std::size_t>(n);
    }
    return v;
}

}  // namespace

std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1, std::string_view data) {
    std::uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull,
                  v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    const std::size_t whole = data.size() & ~std::size_t{7};
    for (std::size_t i = 0; i < whole; i += 8) {
        const std::uint64_t m = load_le64(data.data() + i);
        v3 ^= m;
        sipround(v0, v1, v2, v3);
        sipround(v0, v1, v2, v3);
        v0 ^= m;
    }
    std::uint64_t b = static_cast<std::uint64_t>(data.size()) << 56;
    for (std::size_t i = whole; i < data.size(); ++i)
        b |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[i])) << (8 * (i - whole));
    v3 ^= b;
    sipround(v0, v1, v2, v3);
    sipround(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 4; ++i) sipround(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

std::optional<ProbeHeader> read_probe_header(MDB_txn* txn, const Store::Impl& s,
                                             std::uint32_t generation) {
    if (!s.probe_enabled) return std::nullopt;
    const auto v = get(txn, s.probe, generation_prefix(generation), s.dir);
    if (!v || v->size() != header_size || (*v)[0] != header_magic || (*v)[1] != header_version)
        return std::nullopt;
    ProbeHeader h;
    std::uint32_t buckets;
    std::memcpy(&buckets, v->data() + 2, 4);
    h.buckets = le32toh(buckets);
    h.k0 = load_le64(v->data() + 6);
    h.k1 = load_le64(v->data() + 14);
    if (h.buckets == 0) return std::nullopt;
    return h;
}

std::optional<bool> probe_contains(MDB_txn* txn, const Store::Impl& s, std::uint32_t generation,
                                   const ProbeHeader& h, std::string_view canonical_address) {
    const std::uint64_t fp = siphash24(h.k0, h.k1, canonical_address);
    const BucketKey key = bucket_key(generation, bucket_of(h, fp));
    MDB_val k = to_val(key.view()), v{};
    const int rc = mdb_get(txn, s.probe, &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    check(rc, "mdb_get", s.dir);
    if (v.mv_size % 8 != 0) return std::nullopt;  // not ours: ask the B-tree
    const char* p = static_cast<const char*>(v.mv_data);
    const std::uint64_t want = htole64(fp);
    for (std::size_t i = 0; i < v.mv_size; i += 8) {
        std::uint64_t x;
        std::memcpy(&x, p + i, 8);
        if (x == want) return true;
    }
    return false;
}

void probe_add(MDB_txn* txn, const Store::Impl& s, std::uint32_t generation, const ProbeHeader& h,
               std::string_view canonical_address) {
    const std::uint64_t fp = siphash24(h.k0, h.k1, canonical_address);
    const BucketKey bkey = bucket_key(generation, bucket_of(h, fp));
    const auto key = bkey.view();
    std::string value;
    if (const auto v = get(txn, s.probe, key, s.dir)) value.assign(*v);
    append_le64(value, fp);
    put(txn, s.probe, key, value, s.dir);
}

void probe_remove(MDB_txn* txn, const Store::Impl& s, std::uint32_t generation,
                  const ProbeHeader& h, std::string_view canonical_address) {
    const std::uint64_t fp = siphash24(h.k0, h.k1, canonical_address);
    const BucketKey bkey = bucket_key(generation, bucket_of(h, fp));
    const auto key = bkey.view();
    const auto v = get(txn, s.probe, key, s.dir);
    if (!v) return;
    std::string value(*v);
    std::string want;
    append_le64(want, fp);
    for (std::size_t i = 0; i + 8 <= value.size(); i += 8) {
        if (value.compare(i, 8, want) != 0) continue;
        value.erase(i, 8);  // one of them: a second address with this fingerprint keeps its own
        if (value.empty()) {
            del(txn, s.probe, key, s.dir);
        } else {
            put(txn, s.probe, key, value, s.dir);
        }
        return;
    }
}

bool probe_wants_rebuild(const ProbeHeader& h, std::uint64_t addresses) {
    return addresses > 4 * per_bucket * std::uint64_t{h.buckets};
}

void build_probe(MDB_txn* txn, Store::Impl& s, std::uint32_t generation) {
    if (!s.probe_enabled) return;
    const std::string prefix = generation_prefix(generation);
    bool done = false;  // no limit: always done
    delete_prefix(txn, s.probe, prefix, ~std::uint64_t{0}, done, s.dir);

    ProbeHeader h;
    h.k0 = random_u64();
    h.k1 = random_u64();
    std::vector<std::uint64_t> fps;
    {
        Cursor c(txn, s.addresses, s.dir);
        MDB_val k = to_val(prefix), v{};
        int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE);
        while (rc == MDB_SUCCESS && to_view(k).substr(0, 4) == prefix) {
            fps.push_back(siphash24(h.k0, h.k1, to_view(k).substr(4)));
            if (fps.size() % 65536 == 0) s.drop_mapped_pages();  // bounded RSS on a large list
            rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
        }
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) check(rc, "mdb_cursor_get", s.dir);
    }
    h.buckets = static_cast<std::uint32_t>(
        std::clamp<std::uint64_t>((fps.size() + per_bucket - 1) / per_bucket, 1, 1u << 30));
    std::string header{header_magic, header_version};
    const std::uint32_t b = htole32(h.buckets);
    header.append(reinterpret_cast<const char*>(&b), 4);
    append_le64(header, h.k0);
    append_le64(header, h.k1);
    put(txn, s.probe, prefix, header, s.dir);

    // bucket_of() is monotonic in the fingerprint: sorted fingerprints come bucket by bucket.
    std::sort(fps.begin(), fps.end());
    std::string value;
    for (std::size_t i = 0; i < fps.size();) {
        const std::uint32_t bucket = bucket_of(h, fps[i]);
        value.clear();
        for (; i < fps.size() && bucket_of(h, fps[i]) == bucket; ++i) append_le64(value, fps[i]);
        put(txn, s.probe, bucket_key(generation, bucket).view(), value, s.dir);
    }
}

}  // namespace m365gate::store::detail
