// tests/fuzz/fuzz_store.cpp - a damaged store file on the read path of the milter and
// m365gatectl: the input is a whole data.mdb. It is written into a scratch store directory
// (a fresh lock.mdb each time, as after a restart), opened read-only the way both open it
// (store::Store: the page check of store/verify.h, then LMDB), and read through one Snapshot
// the way decide(), `m365gatectl status`, `lookup` and `dump` read it.
//
// Invariants: nothing crashes, faults or leaks (ASan, UBSan; a fault inside liblmdb is a
// crash here too, since the target runs in one process); every failure is an exception; a
// file that verify_pages() refuses in memory is never opened by Store (the check over the
// file descriptor and the one over a buffer agree).
//
// Seeds: stores written by the store's own writer (store::publish), made by this binary with
// M365GATE_FUZZ_STORE_SEEDS=DIR (scripts/fuzz does that before each run): one small tenant;
// two tenants after a republish (branch pages, a free list); an object with hundreds of
// addresses (an overflow page). libFuzzer's mutations of them are the damaged pages.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "store/store.h"
#include "store/verify.h"

namespace {

using namespace m365gate;

class BufferSource : public store::PageSource {
public:
    BufferSource(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    std::uint64_t size() const override { return size_; }
    bool read(std::uint64_t offset, void* out, std::size_t n) const override {
        if (offset > size_ || n > size_ - offset) return false;
        std::memcpy(out, data_ + offset, n);
        return true;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
};

const std::filesystem::path& scratch() {
    static const std::filesystem::path dir = [] {
        char pattern[] = "/tmp/fuzz_store.XXXXXX";
        const char* made = ::mkdtemp(pattern);
        if (made == nullptr) std::abort();
        return std::filesystem::path(made);
    }();
    return dir;
}

void read_everything(const store::Store& st) {
    const store::Snapshot snap(st);
    (void)snap.totals();
    for (const auto& tenant : snap.tenants()) {
        (void)snap.tenant_state(tenant);
        (void)snap.last_success(tenant);
        (void)snap.address_count(tenant);
        for (const auto& domain : snap.domains(tenant)) {
            (void)snap.tenant_of_domain(domain);
            (void)snap.contains(tenant, "user1@" + domain);
            (void)snap.find(tenant, "nobody@" + domain);
        }
        std::size_t n = 0;
        snap.for_each_address(tenant, [&](std::string_view address, const store::Recipient&) {
            (void)snap.contains(tenant, address);
            return ++n < 64;
        });
    }
}

store::TenantList tenant_list(const std::string& name, const std::string& domain, int first,
                              int count, int step, int per_object) {
    store::TenantList list;
    list.tenant = name;
    list.domains = {domain};
    list.state.last_success = 1764000000;
    list.state.last_attempt = 1764000000;
    for (int i = 0; i < count; i += per_object) {
        store::TenantObject object;
        object.id = name + "-object-" + std::to_string(i);
        for (int j = i; j < i + per_object && j < count; ++j) {
            object.addresses.push_back("user" + std::to_string(first + j * step) + "@" + domain);
        }
        list.objects.push_back(std::move(object));
    }
    return list;
}

void write_seeds(const std::filesystem::path& out) {
    namespace fs = std::filesystem;
    fs::create_directories(out);
    const auto make = [&](const char* seed_name, const std::vector<store::TenantList>& lists) {
        const fs::path dir = scratch() / "seed";
        fs::remove_all(dir);
        {
            store::StoreOptions options;
            options.max_size = 64ull << 20;
            store::Store st(dir, options);
            for (const auto& list : lists) {
                store::publish(st, list);
            }
        }
        fs::copy_file(dir / "data.mdb", out / seed_name, fs::copy_options::overwrite_existing);
        fs::remove_all(dir);
    };
    make("small", {tenant_list("contoso", "customer.example", 1, 20, 1, 1)});
    make("republished", {tenant_list("gen", "gen.example", 1, 400, 1, 1),
                         tenant_list("gen", "gen.example", 2, 300, 2, 1),
                         tenant_list("tail", "tail.example", 1, 10, 1, 1)});
    make("overflow", {tenant_list("groups", "groups.example", 1, 600, 1, 300)});
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (const char* seeds = std::getenv("M365GATE_FUZZ_STORE_SEEDS")) {
        write_seeds(seeds);
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& dir = scratch();
    std::filesystem::remove(dir / "lock.mdb");
    {
        std::ofstream out(dir / "data.mdb", std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
        if (!out) std::abort();
    }
    const store::VerifyResult in_memory =
        store::verify_pages(BufferSource(data, size), std::nullopt);
    store::StoreOptions options;
    options.max_size = 64ull << 20;
    options.read_only = true;
    options.create = false;
    bool opened = false;
    try {
        const store::Store st(dir, options);
        opened = true;
        read_everything(st);
    } catch (const std::exception&) {
    }
    FUZZ_CHECK(in_memory.ok || !opened, in_memory.problem);
    return 0;
}
