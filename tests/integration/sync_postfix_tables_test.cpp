// tests/integration/sync_postfix_tables_test.cpp - [postfix] export_dir with the real
// m365gate-sync against the Graph simulator: the tables follow a published list, and a failed
// sync or a refused shrink leaves them as they were (same bytes, same inode). Postfix reads
// them in tests/integration/postfix_maps_e2e.sh; here `postmap -q` checks the format when it
// is installed.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>

#include "sync_harness.h"

using namespace sync_test;

namespace {

const char* contoso_id = "11111111-1111-1111-1111-111111111111";

std::string tenant_path(const std::string& rest) {
    return std::string("/_sim/tenants/") + contoso_id + rest;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

struct TableFile {
    ino_t inode = 0;
    std::string bytes;
    bool operator==(const TableFile& o) const { return inode == o.inode && bytes == o.bytes; }
};

TableFile table_file(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return {st.st_ino, read_file(p)};
}

std::string export_lines(const fs::path& dir) {
    return "[postfix]\nexport_dir = \"" + dir.string() + "\"\n";
}

// `postmap -q KEY lmdb:TABLE` as Postfix answers it ("" when not found), or nullopt when
// postmap is not installed.
std::optional<std::string> postmap_query(const fs::path& postfix_etc, const fs::path& table,
                                         const std::string& key) {
    if (::access("/usr/sbin/postmap", X_OK) != 0) {
        return std::nullopt;
    }
    const std::string cmd = "/usr/sbin/postmap -c '" + postfix_etc.string() + "' -q '" + key +
                            "' 'lmdb:" + table.string() + "' 2>&1";
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[256];
        while (std::fgets(buf, sizeof buf, p) != nullptr) {
            out += buf;
        }
        ::pclose(p);
    }
    return out;
}

}  // namespace

TEST_CASE("the Postfix tables follow each published list, and only a changed one is replaced",
          "[sync][integration][postfix]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const fs::path out = run.dir / "postfix";
    fs::create_directories(out);
    run.configure(sim, {TenantSpec{}}, export_lines(out));
    REQUIRE(run.sync() == 0);
    INFO(run.last_output);
    REQUIRE(fs::exists(out / "recipients.lmdb"));
    REQUIRE(fs::exists(out / "domains.lmdb"));
    CHECK((fs::status(out / "recipients.lmdb").permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
    CHECK(contains(run.last_output, "event=postfix_tables status=ok table=recipients"));
    CHECK(contains(run.last_output, "result=written"));
    // Nothing else is left in the directory (no temporary).
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(out)) {
        (void)e;
        ++files;
    }
    CHECK(files == 2);

    // Postfix's own reader agrees (postmap needs a main.cf to start: an empty one will do).
    const fs::path etc = run.dir / "pf-etc";
    fs::create_directories(etc);
    write_file(etc / "main.cf", "");
    if (const auto q = postmap_query(etc, out / "recipients", "alice@contoso.example")) {
        CHECK(*q == "OK\n");
        CHECK(*postmap_query(etc, out / "recipients", "Alice@Contoso.Example") == "OK\n");
        CHECK(*postmap_query(etc, out / "recipients", "postmaster@contoso.example") == "OK\n");
        CHECK(postmap_query(etc, out / "recipients", "nobody@contoso.example")->empty());
        CHECK(*postmap_query(etc, out / "domains", "contoso.example") == "OK\n");
    } else {
        WARN("postmap not installed: the format is checked by postfix_maps_e2e only");
    }

    // A round that changes nothing leaves both files alone (Postfix is not restarted), and
    // removes what an interrupted write left.
    const TableFile recipients = table_file(out / "recipients.lmdb");
    const TableFile domains = table_file(out / "domains.lmdb");
    write_file(out / ".recipients.lmdb.k1ll3dw41t", "partial");
    REQUIRE(run.sync() == 0);
    CHECK_FALSE(fs::exists(out / ".recipients.lmdb.k1ll3dw41t"));
    CHECK(contains(run.last_output, "table=recipients entries="));
    CHECK(contains(run.last_output, "result=unchanged"));
    CHECK_FALSE(contains(run.last_output, "result=written"));
    CHECK(table_file(out / "recipients.lmdb") == recipients);
    CHECK(table_file(out / "domains.lmdb") == domains);

    // A removed user: the recipients table is replaced (a new file), the domains are not.
    REQUIRE(sim.call("DELETE", tenant_path("/users/a11ce000-5c1e-4f6b-9d2a-000000000001")).status ==
            200);
    REQUIRE(run.sync() == 0);
    CHECK_FALSE(table_file(out / "recipients.lmdb").inode == recipients.inode);
    CHECK(table_file(out / "domains.lmdb") == domains);
    if (const auto q = postmap_query(etc, out / "recipients", "alice@contoso.example")) {
        CHECK(q->empty());
    }
}

TEST_CASE("a failed sync or a refused shrink leaves the Postfix tables as they were",
          "[sync][integration][postfix]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const fs::path out = run.dir / "postfix";
    fs::create_directories(out);
    run.configure(sim, {TenantSpec{}}, export_lines(out));
    REQUIRE(run.sync() == 0);
    const TableFile recipients = table_file(out / "recipients.lmdb");
    const TableFile domains = table_file(out / "domains.lmdb");

    SECTION("a refused shrink") {
        for (const char* id :
             {"a11ce000-5c1e-4f6b-9d2a-000000000001", "b0b00000-5c1e-4f6b-9d2a-000000000002",
              "ca401000-5c1e-4f6b-9d2a-000000000003", "1af00000-5c1e-4f6b-9d2a-000000000004",
              "e0e0e000-5c1e-4f6b-9d2a-000000000005"}) {
            REQUIRE(sim.call("DELETE", tenant_path(std::string("/users/") + id)).status == 200);
        }
        CHECK(run.sync() == 3);
        INFO(run.last_output);
        CHECK(run.state().last_error_kind == "shrink");
    }
    SECTION("a failed sync") {
        REQUIRE(
            sim.call("DELETE", tenant_path("/users/a11ce000-5c1e-4f6b-9d2a-000000000001")).status ==
            200);
        REQUIRE(sim.call("POST", "/_sim/faults",
                         {{"match", "/v1.0/users/delta"}, {"type", "invalid_json"}, {"count", 20}})
                    .status == 200);
        CHECK(run.sync() == 1);
        INFO(run.last_output);
        CHECK(run.state().last_error_kind == "graph");
    }
    CHECK_FALSE(contains(run.last_output, "event=postfix_tables"));
    CHECK(table_file(out / "recipients.lmdb") == recipients);
    CHECK(table_file(out / "domains.lmdb") == domains);
}

TEST_CASE("an export directory others can write is refused and the sync still succeeds",
          "[sync][integration][postfix]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const fs::path out = run.dir / "postfix";
    fs::create_directories(out);
    run.configure(sim, {TenantSpec{}}, export_lines(out));
    ::chmod(out.c_str(), 0777);
    CHECK(run.sync() == 0);
    INFO(run.last_output);
    CHECK(contains(run.last_output, "event=postfix_tables status=error"));
    CHECK(contains(run.last_output, "writable by group or others"));
    CHECK_FALSE(fs::exists(out / "recipients.lmdb"));
}

TEST_CASE("a tenant never synced is exported as @domain, and a removed tenant leaves the tables",
          "[sync][integration][postfix]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const fs::path out = run.dir / "postfix";
    fs::create_directories(out);
    const fs::path etc = run.dir / "pf-etc";
    fs::create_directories(etc);
    write_file(etc / "main.cf", "");
    TenantSpec broken;
    broken.name = "broken";
    broken.tenant_id = "99999999-9999-9999-9999-999999999999";
    broken.extra = "domains = [\"broken.example\"]\n";
    run.configure(sim, {TenantSpec{}, broken}, export_lines(out));
    CHECK(run.sync() == 2);  // contoso synced, broken refused a token
    INFO(run.last_output);
    // postmap -q looks the key up as given; smtpd tries user@domain, then @domain.
    const auto q = postmap_query(etc, out / "recipients", "@broken.example");
    if (!q) {
        WARN("postmap not installed");
        return;
    }
    CHECK(*q == "OK\n");
    CHECK(*postmap_query(etc, out / "domains", "broken.example") == "OK\n");

    // broken leaves the config while contoso's sync fails: nothing published, but the
    // removal alone rewrites the tables.
    run.configure(sim, {TenantSpec{}}, export_lines(out));
    REQUIRE(sim.call("POST", "/_sim/faults",
                     {{"match", "/v1.0/users/delta"}, {"type", "invalid_json"}, {"count", 20}})
                .status == 200);
    CHECK(run.sync() == 1);
    CHECK(contains(run.last_output, "event=tenant_removed"));
    CHECK(postmap_query(etc, out / "domains", "broken.example")->empty());
    CHECK(postmap_query(etc, out / "recipients", "@broken.example")->empty());
    CHECK(*postmap_query(etc, out / "recipients", "alice@contoso.example") == "OK\n");
}
