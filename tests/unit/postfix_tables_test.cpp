// tests/unit/postfix_tables_test.cpp - what the Postfix tables say (sync/postfix_tables.h), per
// kind of tenant, from a real LMDB store filled with store::publish(); and the files written:
// Postfix's lmdb layout (key and value with their NUL), a new file only when the content changed.
#include "sync/postfix_tables.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "store/store.h"
#include "tests/unit/temp_dir.h"

using namespace m365gate;
using m365gate::testing::TempDir;

namespace {

using Strings = std::vector<std::string>;

store::TenantList tenant_list(const std::string& tenant, const Strings& domains,
                              const Strings& addresses, std::int64_t last_success) {
    store::TenantList list;
    list.tenant = tenant;
    list.domains = domains;
    int id = 0;
    for (const auto& a : addresses) {
        list.objects.push_back({store::ObjectKind::user, "obj-" + std::to_string(++id), {a}});
    }
    list.state.last_success = last_success;
    return list;
}

TenantConfig tenant(const std::string& name, const Strings& domains) {
    TenantConfig t;
    t.name = name;
    t.domains = domains;
    return t;
}

// Every key of an lmdb table file, as Postfix stores it (with its NUL), and each value.
std::vector<std::pair<std::string, std::string>> read_table(const std::filesystem::path& file) {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_open(env, file.c_str(), MDB_NOSUBDIR | MDB_NOLOCK | MDB_RDONLY, 0) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
    MDB_dbi dbi = 0;
    REQUIRE(mdb_dbi_open(txn, nullptr, 0, &dbi) == 0);
    MDB_cursor* cur = nullptr;
    REQUIRE(mdb_cursor_open(txn, dbi, &cur) == 0);
    std::vector<std::pair<std::string, std::string>> out;
    MDB_val k{}, v{};
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        out.emplace_back(std::string(static_cast<const char*>(k.mv_data), k.mv_size),
                         std::string(static_cast<const char*>(v.mv_data), v.mv_size));
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return out;
}

ino_t inode_of(const std::filesystem::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_ino;
}

}  // namespace

TEST_CASE("the tables list what the milter would accept, per kind of tenant", "[postfix]") {
    TempDir dir;
    store::StoreOptions options;
    options.max_size = 64ull << 20;
    store::Store st(dir.path() / "store", options);
    store::publish(
        st, tenant_list("contoso", {"customer.example", "xn--bcher-kva.example"},
                        {"alice@customer.example", "info@xn--bcher-kva.example"}, 1'700'000'000));
    store::publish(st, tenant_list("tailspin", {"tailspin.example"}, {"dave@tailspin.example"}, 0));
    store::publish(st, tenant_list("fabrikam", {"fabrikam.example"}, {"carol@fabrikam.example"},
                                   1'700'000'000));

    Config cfg;
    cfg.tenants = {
        tenant("contoso", {"customer.example"}), tenant("tailspin", {"tailspin.example"}),
        tenant("fabrikam", {"fabrikam.example"}), tenant("northwind", {"northwind.example"})};
    cfg.tenants[0].extra_recipients = {"dyn-group@customer.example"};
    cfg.tenants[2].enabled = false;

    SECTION("defaults: a tenant never synced, or disabled, accepts anything at its domains") {
        const store::Snapshot snap(st);
        const auto t = sync::build_postfix_tables(cfg, snap);
        CHECK(t.domains == Strings{"bücher.example", "customer.example", "fabrikam.example",
                                   "northwind.example", "tailspin.example",
                                   "xn--bcher-kva.example"});
        CHECK(t.recipients == Strings{"@fabrikam.example", "@northwind.example",
                                      "@tailspin.example", "abuse@bücher.example",
                                      "abuse@customer.example", "abuse@xn--bcher-kva.example",
                                      "alice@customer.example", "dyn-group@customer.example",
                                      "info@bücher.example", "info@xn--bcher-kva.example",
                                      "postmaster@bücher.example", "postmaster@customer.example",
                                      "postmaster@xn--bcher-kva.example"});
    }
    SECTION("on_cache_unavailable = reject: a tenant never synced gets always_accept only") {
        cfg.decision.on_cache_unavailable = Verdict::reject;
        cfg.decision.always_accept = {"postmaster"};
        cfg.tenants.resize(2);
        const store::Snapshot snap(st);
        const auto t = sync::build_postfix_tables(cfg, snap);
        CHECK(t.recipients == Strings{"alice@customer.example", "dyn-group@customer.example",
                                      "info@bücher.example", "info@xn--bcher-kva.example",
                                      "postmaster@bücher.example", "postmaster@customer.example",
                                      "postmaster@tailspin.example",
                                      "postmaster@xn--bcher-kva.example"});
    }
}

TEST_CASE("the table files are Postfix's lmdb layout, and only a changed one is replaced",
          "[postfix]") {
    TempDir dir;
    ::chmod(dir.path().c_str(), 0755);
    sync::PostfixTables t;
    t.domains = {"customer.example"};
    t.recipients = {"@other.example", "alice@customer.example", "bob@customer.example"};
    auto w = sync::write_postfix_tables(dir.path(), t);
    REQUIRE(w.size() == 2);
    CHECK(w[0].name == "recipients");
    CHECK(w[0].written);
    CHECK(w[1].written);
    using Entries = std::vector<std::pair<std::string, std::string>>;
    const std::string ok("OK\0", 3);
    CHECK(read_table(dir.path() / "recipients.lmdb") ==
          Entries{{std::string("@other.example\0", 15), ok},
                  {std::string("alice@customer.example\0", 23), ok},
                  {std::string("bob@customer.example\0", 21), ok}});
    CHECK(read_table(dir.path() / "domains.lmdb") ==
          Entries{{std::string("customer.example\0", 17), ok}});

    const ino_t recipients = inode_of(dir.path() / "recipients.lmdb");
    const ino_t domains = inode_of(dir.path() / "domains.lmdb");
    w = sync::write_postfix_tables(dir.path(), t);
    CHECK_FALSE(w[0].written);
    CHECK_FALSE(w[1].written);
    CHECK(inode_of(dir.path() / "recipients.lmdb") == recipients);

    t.recipients.pop_back();
    w = sync::write_postfix_tables(dir.path(), t);
    CHECK(w[0].written);
    CHECK_FALSE(w[1].written);
    CHECK(inode_of(dir.path() / "recipients.lmdb") != recipients);
    CHECK(inode_of(dir.path() / "domains.lmdb") == domains);
    CHECK(read_table(dir.path() / "recipients.lmdb").size() == 2);

    // An empty list is a valid (empty) table, not an error.
    w = sync::write_postfix_tables(dir.path(), sync::PostfixTables{});
    CHECK(w[0].written);
    CHECK(read_table(dir.path() / "recipients.lmdb").empty());
}

TEST_CASE("a directory others can write is refused before anything is written", "[postfix]") {
    TempDir dir;
    ::chmod(dir.path().c_str(), 0777);
    sync::PostfixTables t;
    t.domains = {"customer.example"};
    CHECK_THROWS_WITH(sync::write_postfix_tables(dir.path(), t),
                      Catch::Contains("writable by group or others"));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "domains.lmdb"));
}
