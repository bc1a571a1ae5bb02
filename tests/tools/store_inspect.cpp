// tests/tools/store_inspect.cpp - m365gate-store-inspect: what a reader sees in a store, in
// one key=value line, for the fault tests (tests/integration/fault_*.sh).
//
//   m365gate-store-inspect --store DIR [--max-size 4G] [--tenant NAME] [--addresses]
//
// Opens the store read-only (as the milter does) and takes one Snapshot. Prints
//   open=ok tenants=a,b address_entries=N object_entries=N unused_generations=N file_size=N
//   txnid=N last_txnid=N [tenant=NAME present=1 addresses=N digest=SHA256 last_success=T
//   last_error_kind=K last_error="..."]
// txnid is the transaction a reader sees (LMDB's lock file), last_txnid the newest meta page
// in data.mdb. A writer killed after writing its meta page but before the lock file learned
// of it leaves last_txnid > txnid: readers see the previous list until the next writer starts
// and LMDB's recovery of the dead writer's mutex makes that newer, complete commit current.
// where digest is the SHA-256 of the tenant's addresses, one per line ("a@x\n"), in key
// (bytewise) order: the same as `m365gatectl dump --tenant NAME | LC_ALL=C sort | sha256sum`.
// --addresses prints the addresses instead. A store that does not open prints
//   open=error kind=io|schema|corrupt|full|other error="..."
// and exits 2.
#include <lmdb.h>
#include <openssl/evp.h>
#include <sysexits.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <string>

#include "common/config.h"
#include "store/store.h"

namespace {

using namespace m365gate;

std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c == '\n' ? ' ' : c);
    }
    return out + "\"";
}

std::string hex(const unsigned char* p, unsigned n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
        out.push_back(digits[p[i] >> 4]);
        out.push_back(digits[p[i] & 0xf]);
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"m365gate-store-inspect: what a reader sees in an m365gate store"};
    std::string dir, tenant, max_size = "4G";
    bool addresses = false;
    cli.add_option("--store", dir)->required();
    cli.add_option("--max-size", max_size)->capture_default_str();
    cli.add_option("--tenant", tenant);
    cli.add_flag("--addresses", addresses, "print the tenant's addresses, one per line");
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? EX_OK : EX_USAGE;
    }
    // Raw LMDB first, closed before the store is opened (one environment per file at a time).
    std::string txn_ids;
    {
        MDB_env* env = nullptr;
        const auto size = parse_size(max_size);
        if (size && mdb_env_create(&env) == 0) {
            MDB_txn* txn = nullptr;
            MDB_envinfo info{};
            if (mdb_env_set_maxdbs(env, 8) == 0 && mdb_env_set_mapsize(env, *size) == 0 &&
                mdb_env_open(env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0) == 0 &&
                mdb_env_info(env, &info) == 0 &&
                mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0) {
                txn_ids = " txnid=" + std::to_string(mdb_txn_id(txn)) +
                          " last_txnid=" + std::to_string(info.me_last_txnid);
                mdb_txn_abort(txn);
            }
            mdb_env_close(env);
        }
    }
    std::unique_ptr<store::Store> st;
    try {
        store::StoreOptions o;
        o.read_only = true;
        o.create = false;
        const auto size = parse_size(max_size);
        if (!size) {
            std::cerr << "m365gate-store-inspect: bad --max-size " << max_size << "\n";
            return EX_USAGE;
        }
        o.max_size = *size;
        st = std::make_unique<store::Store>(dir, o);
    } catch (const store::StoreError& e) {
        std::cout << "open=error kind=" << store::to_string(e.kind())
                  << " error=" << quoted(e.what()) << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cout << "open=error kind=other error=" << quoted(e.what()) << "\n";
        return 2;
    }
    try {
        const store::Snapshot snap(*st);
        if (addresses) {
            snap.for_each_address(tenant, [](std::string_view a, const store::Recipient&) {
                std::cout << a << '\n';
                return true;
            });
            return EX_OK;
        }
        const auto totals = snap.totals();
        std::string names;
        for (const auto& t : snap.tenants()) {
            names += names.empty() ? t : "," + t;
        }
        std::cout << "open=ok tenants=" << (names.empty() ? "-" : names)
                  << " address_entries=" << totals.address_entries
                  << " object_entries=" << totals.object_entries
                  << " unused_generations=" << totals.unused_generations
                  << " file_size=" << st->file_size() << txn_ids;
        if (!tenant.empty()) {
            const auto state = snap.tenant_state(tenant);
            EVP_MD_CTX* md = EVP_MD_CTX_new();
            EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
            std::uint64_t n = 0;
            snap.for_each_address(tenant, [&](std::string_view a, const store::Recipient&) {
                EVP_DigestUpdate(md, a.data(), a.size());
                EVP_DigestUpdate(md, "\n", 1);
                ++n;
                return true;
            });
            unsigned char digest[EVP_MAX_MD_SIZE];
            unsigned len = 0;
            EVP_DigestFinal_ex(md, digest, &len);
            EVP_MD_CTX_free(md);
            std::cout << " tenant=" << tenant << " present=" << (state ? 1 : 0)
                      << " addresses=" << n << " digest=" << hex(digest, len);
            if (state) {
                std::cout << " last_success=" << state->last_success << " last_error_kind="
                          << (state->last_error_kind.empty() ? "-" : state->last_error_kind)
                          << " last_error=" << quoted(state->last_error);
            }
        }
        std::cout << "\n";
    } catch (const std::exception& e) {
        std::cout << "open=error kind=read error=" << quoted(e.what()) << "\n";
        return 2;
    }
    return EX_OK;
}
