// The LMDB store on a real disk: isolation, crash safety, concurrency, ceilings, schema.
#include "store/store.h"

#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "tests/unit/temp_dir.h"

namespace fs = std::filesystem;
using namespace m365gate::store;

namespace {

using m365gate::testing::TempDir;

StoreOptions writer_options(std::uint64_t max_size = 1ull << 30) {
    StoreOptions o;
    o.max_size = max_size;
    return o;
}

StoreOptions reader_options() {
    StoreOptions o;
    o.max_size = 1ull << 30;
    o.read_only = true;
    return o;
}

std::string address(char prefix, int i, const char* domain = "contoso.example") {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%c%07d@%s", prefix, i, domain);
    return buf;
}

TenantList make_list(const std::string& tenant, char prefix, int n,
                     const char* domain = "contoso.example") {
    TenantList l;
    l.tenant = tenant;
    l.domains = {domain};
    l.state.last_success = 1700000000;
    l.objects.reserve(n);
    for (int i = 0; i < n; ++i) {
        TenantObject o;
        o.kind = ObjectKind::user;
        o.id = "obj-" + std::to_string(i);
        o.addresses = {address(prefix, i, domain)};
        l.objects.push_back(std::move(o));
    }
    return l;
}

std::set<std::string> all_addresses(const Store& store, const std::string& tenant) {
    std::set<std::string> out;
    Snapshot snap(store);
    snap.for_each_address(tenant, [&](std::string_view a, const Recipient&) {
        out.emplace(a);
        return true;
    });
    return out;
}

// Counts the tenant's addresses and says whether every one starts with `prefix`.
std::pair<std::size_t, bool> count_with_prefix(const Snapshot& snap, const std::string& tenant,
                                               char prefix) {
    std::size_t n = 0;
    bool all = true;
    snap.for_each_address(tenant, [&](std::string_view a, const Recipient&) {
        ++n;
        all = all && !a.empty() && a[0] == prefix;
        return true;
    });
    return {n, all};
}

}  // namespace

TEST_CASE(
    "a reader that began before a publish keeps seeing the old list, and a later one sees "
    "only the new list",
    "[store]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    constexpr int n = 200000;
    publish(store, make_list("contoso", 'a', n));

    Snapshot before(store);
    publish(store, make_list("contoso", 'b', n));
    Snapshot after(store);

    const auto [old_count, old_all_a] = count_with_prefix(before, "contoso", 'a');
    CHECK(old_count == n);
    CHECK(old_all_a);
    CHECK(before.find("contoso", address('a', 12345)));
    CHECK_FALSE(before.find("contoso", address('b', 12345)));

    const auto [new_count, new_all_b] = count_with_prefix(after, "contoso", 'b');
    CHECK(new_count == n);
    CHECK(new_all_b);
    CHECK(after.find("contoso", address('b', n - 1)));
    CHECK_FALSE(after.find("contoso", address('a', 0)));
    CHECK(after.address_count("contoso") == n);
}

TEST_CASE(
    "a publish of 1M addresses killed with SIGKILL while it writes leaves the previous list "
    "exactly, and reclaim() deletes what it had written",
    "[store][crash]") {
    TempDir dir;
    const auto previous = make_list("contoso", 'p', 50000);
    std::uint64_t size_before = 0;
    {
        Store store(dir.path(), writer_options());
        publish(store, previous);
        size_before = store.file_size();
    }
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // the writer: never returns
        try {
            Store store(dir.path(), writer_options());
            publish(store, make_list("contoso", 'n', 1000000));
        } catch (...) {
        }
        _exit(0);
    }
    // Kill it once the new list is well on its way into data.mdb (chunks committed under a
    // generation no reader looks at), long before it could be done.
    const auto data = dir.path() / "data.mdb";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (fs::file_size(data) < size_before + (30u << 20) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    REQUIRE(WIFSIGNALED(status));  // killed, not finished

    Store store(dir.path(), writer_options());
    const auto got = all_addresses(store, "contoso");
    std::set<std::string> want;
    for (const auto& o : previous.objects) want.insert(o.addresses.begin(), o.addresses.end());
    CHECK(got == want);
    {
        Snapshot snap(store);
        CHECK(snap.address_count("contoso") == 50000);
        CHECK(snap.last_success("contoso") == 1700000000);
        CHECK(snap.totals().address_entries > 50000);  // the killed publish's keys, unseen
        CHECK(snap.totals().unused_generations == 1);
    }
    CHECK(reclaim(store) > 0);
    Snapshot snap(store);
    CHECK(snap.totals().address_entries == 50000);
    CHECK(snap.totals().object_entries == 50000);
    CHECK(snap.totals().unused_generations == 0);
    CHECK(all_addresses(store, "contoso") == want);
}

TEST_CASE(
    "a writer killed with SIGKILL in the middle of one large write transaction leaves the "
    "previous list exactly",
    "[store][crash]") {
    TempDir dir;
    const auto previous = make_list("contoso", 'p', 50000);
    {
        Store store(dir.path(), writer_options());
        publish(store, previous);
    }
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // the writer: never returns
        close(ready[0]);
        try {
            Store store(dir.path(), writer_options());
            Writer w(store);
            w.clear_tenant("contoso");
            for (int i = 0; i < 1000000; ++i) {
                w.put_object("contoso", ObjectKind::user, "n" + std::to_string(i),
                             {address('n', i)});
                if (i == 500000) (void)!write(ready[1], "x", 1);
            }
            w.commit();
        } catch (...) {
        }
        _exit(0);
    }
    close(ready[1]);
    char c = 0;
    REQUIRE(read(ready[0], &c, 1) == 1);  // half of the new list is written, uncommitted
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    close(ready[0]);
    REQUIRE(WIFSIGNALED(status));

    Store store(dir.path(), writer_options());
    const auto got = all_addresses(store, "contoso");
    std::set<std::string> want;
    for (const auto& o : previous.objects) want.insert(o.addresses.begin(), o.addresses.end());
    CHECK(got == want);
    Snapshot snap(store);
    CHECK(snap.address_count("contoso") == 50000);
    CHECK(snap.last_success("contoso") == 1700000000);
}

TEST_CASE(
    "readers in other threads and in another process keep answering during a long "
    "publish",
    "[store][concurrency]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    publish(store, make_list("northwind", 'k', 1000, "northwind.example"));
    const std::string known = address('k', 500, "northwind.example");

    // Another process: opens the store read-only and looks up `known` until told to stop.
    int to_child[2], from_child[2];
    REQUIRE(pipe(to_child) == 0);
    REQUIRE(pipe(from_child) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        close(to_child[1]);
        close(from_child[0]);
        long ok = 0, wrong = 0;
        try {
            Store reader(dir.path(), reader_options());
            (void)!write(from_child[1], "r", 1);  // ready
            char go = 0;
            (void)!read(to_child[0], &go, 1);  // the publish starts now
            fcntl(to_child[0], F_SETFL, O_NONBLOCK);
            while (read(to_child[0], &go, 1) != 1) {
                Snapshot snap(reader);
                if (snap.find("northwind", known)) {
                    ++ok;
                } else {
                    ++wrong;
                }
            }
        } catch (...) {
            wrong = -1;
        }
        long result[2] = {ok, wrong};
        (void)!write(from_child[1], result, sizeof result);
        _exit(0);
    }
    close(to_child[0]);
    close(from_child[1]);
    char r = 0;
    REQUIRE(read(from_child[0], &r, 1) == 1);

    std::atomic<bool> publishing{false}, done{false};
    std::atomic<long> thread_ok{0}, thread_wrong{0}, during{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) {
        readers.emplace_back([&] {
            while (!done) {
                Snapshot snap(store);
                const bool was_publishing = publishing;
                if (snap.find("northwind", known)) {
                    ++thread_ok;
                    if (was_publishing && publishing) ++during;
                } else {
                    ++thread_wrong;
                }
            }
        });
    }
    publishing = true;
    REQUIRE(write(to_child[1], "g", 1) == 1);
    publish(store, make_list("contoso", 'c', 1000000));  // the long publish
    publishing = false;
    REQUIRE(write(to_child[1], "s", 1) == 1);
    done = true;
    for (auto& t : readers) t.join();
    long result[2] = {0, 0};
    REQUIRE(read(from_child[0], result, sizeof result) == sizeof result);
    waitpid(child, nullptr, 0);

    CHECK(thread_wrong == 0);
    CHECK(during > 0);  // lookups completed while the writer held its transaction
    CHECK(result[1] == 0);
    CHECK(result[0] > 0);
    Snapshot snap(store);
    CHECK(snap.address_count("contoso") == 1000000);
}

TEST_CASE("publishing tenant A leaves tenant B untouched, and a delta adds and removes exactly",
          "[store]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    publish(store, make_list("contoso", 'a', 1000, "contoso.example"));
    publish(store, make_list("northwind", 'n', 700, "northwind.example"));
    const auto northwind_before = all_addresses(store, "northwind");

    publish(store, make_list("contoso", 'z', 10, "contoso.example"));
    CHECK(all_addresses(store, "northwind") == northwind_before);
    CHECK(all_addresses(store, "contoso").size() == 10);
    {
        Snapshot snap(store);
        CHECK(snap.tenant_of_domain("contoso.example") == "contoso");
        CHECK(snap.tenant_of_domain("northwind.example") == "northwind");
        CHECK(snap.domains("northwind") == std::vector<std::string>{"northwind.example"});
    }

    // Delta: one new object with two addresses, one object renamed, one removed.
    {
        Writer w(store);
        w.put_object("contoso", ObjectKind::group, "sales",
                     {"sales@contoso.example", "vertrieb@contoso.example"});
        w.put_object("contoso", ObjectKind::user, "obj-1", {"renamed@contoso.example"});
        w.remove_object("contoso", "obj-2");
        w.commit();
    }
    auto want = std::set<std::string>{};
    for (int i = 0; i < 10; ++i) want.insert(address('z', i, "contoso.example"));
    want.erase(address('z', 1, "contoso.example"));
    want.erase(address('z', 2, "contoso.example"));
    want.insert({"sales@contoso.example", "vertrieb@contoso.example", "renamed@contoso.example"});
    CHECK(all_addresses(store, "contoso") == want);
    CHECK(all_addresses(store, "northwind") == northwind_before);

    Snapshot snap(store);
    CHECK(snap.address_count("contoso") == want.size());
    const auto sales = snap.find("contoso", "sales@contoso.example");
    REQUIRE(sales);
    CHECK(sales->kind == ObjectKind::group);
    CHECK(sales->object_id == "sales");
    CHECK(sales->tenant == "contoso");
}

TEST_CASE(
    "domain owner, last success and generation are cached per thread for one snapshot only: "
    "interleaved old and new snapshots, and two stores, each get their own answers",
    "[store]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    auto first = make_list("contoso", 'a', 10, "contoso.example");
    publish(store, first);

    const auto check_old = [](const Snapshot& s) {
        CHECK(s.tenant_of_domain("contoso.example") == "contoso");
        CHECK_FALSE(s.tenant_of_domain("contoso.net"));
        CHECK_FALSE(s.tenant_of_domain("northwind.example"));
        CHECK(s.last_success("contoso") == 1700000000);
        CHECK_FALSE(s.last_success("northwind"));
        CHECK(s.contains("contoso", address('a', 3, "contoso.example")));
        CHECK_FALSE(s.contains("contoso", address('b', 3, "contoso.net")));
        CHECK(s.find("contoso", address('a', 3, "contoso.example")));
    };
    const auto check_new = [](const Snapshot& s) {
        CHECK_FALSE(s.tenant_of_domain("contoso.example"));
        CHECK(s.tenant_of_domain("contoso.net") == "contoso");
        CHECK(s.tenant_of_domain("northwind.example") == "northwind");
        CHECK(s.last_success("contoso") == 1700000100);
        CHECK(s.last_success("northwind") == 1700000000);
        CHECK_FALSE(s.contains("contoso", address('a', 3, "contoso.example")));
        CHECK(s.contains("contoso", address('b', 3, "contoso.net")));
        CHECK_FALSE(s.find("contoso", address('a', 3, "contoso.example")));
        CHECK(s.find("contoso", address('b', 3, "contoso.net")));
    };

    Snapshot old_snap(store);
    check_old(old_snap);  // fills this thread's cache for the old snapshot

    // A new generation, another domain, a later success, and a second tenant.
    auto second = make_list("contoso", 'b', 10, "contoso.net");
    second.state.last_success = 1700000100;
    publish(store, second);
    publish(store, make_list("northwind", 'n', 5, "northwind.example"));

    for (int round = 0; round < 3; ++round) {
        Snapshot new_snap(store);
        check_new(new_snap);
        check_old(old_snap);  // the old snapshot still answers from its own data
    }

    // Another store in the same thread, written by the same sequence of publishes (so at the
    // same transaction ids) with the two contoso lists in the other order: its own answers.
    TempDir dir2;
    Store other(dir2.path(), writer_options());
    publish(other, second);
    publish(other, first);
    publish(other, make_list("northwind", 'n', 5, "northwind.example"));
    const auto check_other = [](const Snapshot& s) {
        CHECK(s.tenant_of_domain("contoso.example") == "contoso");
        CHECK_FALSE(s.tenant_of_domain("contoso.net"));
        CHECK(s.last_success("contoso") == 1700000000);
        CHECK(s.contains("contoso", address('a', 3, "contoso.example")));
        CHECK_FALSE(s.contains("contoso", address('b', 3, "contoso.net")));
    };
    Snapshot a(store);
    Snapshot b(other);
    for (int round = 0; round < 3; ++round) {
        check_new(a);
        check_other(b);
    }
}

TEST_CASE(
    "a rebuild larger than one in-memory run merges its spilled runs: every address once, "
    "the first object keeps an address two objects hold",
    "[store][rebuild]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    WriterLock lock(store);
    constexpr int n = 300000;  // about 20 MiB of records: several spilled runs
    std::set<std::string> want;
    {
        RebuildOptions options;
        options.chunk = 7777;  // odd: commits fall anywhere
        Rebuild r(store, "contoso", options);
        for (int i = n - 1; i >= 0; --i) {  // arrival order is not key order
            const std::string a = address('r', i);
            r.put_object(ObjectKind::user, "obj-" + std::to_string(i), {a, a});
            want.insert(a);
        }
        // Late arrivals holding an address obj-5 already holds, and one that repeats an id
        // (Graph paging while the directory changes): the object keeps both its lists.
        r.put_object(ObjectKind::group, "late", {address('r', 5), "late@contoso.example"});
        r.put_object(ObjectKind::contact, "obj-7", {"again@contoso.example"});
        want.insert("late@contoso.example");
        want.insert("again@contoso.example");
        r.stage();
        Writer w(store);
        w.adopt(r);
        w.set_domains("contoso", {"contoso.example"});
        w.commit();
        CHECK(r.address_count() == want.size());
        CHECK(r.object_count() == n + 1);
    }
    CHECK(all_addresses(store, "contoso") == want);
    Snapshot snap(store);
    CHECK(snap.address_count("contoso") == want.size());
    const auto five = snap.find("contoso", address('r', 5));
    REQUIRE(five);
    CHECK(five->object_id == "obj-5");
    CHECK(five->kind == ObjectKind::user);
    CHECK(snap.find("contoso", "late@contoso.example")->object_id == "late");
    CHECK(snap.find("contoso", "again@contoso.example")->object_id == "obj-7");
    CHECK(snap.totals().unused_generations == 0);
    // The object lists both, so a delta that removes obj-7 removes both.
    {
        Writer w(store);
        w.remove_object("contoso", "obj-7");
        w.commit();
    }
    const auto after = all_addresses(store, "contoso");
    CHECK(after.count("again@contoso.example") == 0);
    CHECK(after.count(address('r', 7)) == 0);
    CHECK(after.size() == want.size() - 2);
}

TEST_CASE(
    "a rebuild whose spill file would pass max_spill_bytes stops before writing past it, "
    "and the tenant keeps its list",
    "[store][rebuild]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    WriterLock lock(store);
    {
        Rebuild r(store, "contoso");
        r.put_object(ObjectKind::user, "kept", {"kept@contoso.example"});
        r.stage();
        Writer w(store);
        w.adopt(r);
        w.commit();
    }
    constexpr std::uint64_t bound = 12u << 20;  // more than one spilled run, less than two
    RebuildOptions options;
    options.max_spill_bytes = bound;
    Rebuild r(store, "contoso", options);
    bool refused = false;
    for (int i = 0; i < 600000 && !refused; ++i) {
        try {
            r.put_object(ObjectKind::user, "obj-" + std::to_string(i), {address('s', i)});
        } catch (const StoreError& e) {
            CHECK(e.kind() == StoreError::Kind::limit);
            CHECK_THAT(e.what(), Catch::Contains("would pass 12582912 bytes"));
            refused = true;
        }
    }
    CHECK(refused);
    CHECK(r.spill_bytes() <= bound);
    CHECK(r.spill_bytes() > 0);  // one run went out before the bound stopped the next
    CHECK_THROWS_AS(r.put_object(ObjectKind::user, "late", {"late@contoso.example"}), StoreError);
    CHECK(all_addresses(store, "contoso") == std::set<std::string>{"kept@contoso.example"});
}

TEST_CASE(
    "an abandoned rebuild changes nothing a reader sees, and reclaim() deletes what it "
    "staged",
    "[store][rebuild]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    publish(store, make_list("contoso", 'a', 1000));
    const auto before = all_addresses(store, "contoso");
    {
        WriterLock lock(store);
        RebuildOptions options;
        options.in_place_limit = 0;  // a new generation, as for a list that changed a lot
        Rebuild r(store, "contoso", options);
        for (int i = 0; i < 5000; ++i) {
            r.put_object(ObjectKind::user, "n" + std::to_string(i), {address('n', i)});
        }
        r.stage();  // written, committed, never adopted (a refused shrink, say)
        CHECK(r.address_count() == 5000);
        {
            Snapshot snap(store);
            CHECK(snap.totals().address_entries == 6000);
            CHECK(reclaim(store) == 0);  // still in progress in this process: left alone
        }
    }
    CHECK(all_addresses(store, "contoso") == before);
    CHECK(reclaim(store, 1000) == 10000);  // addresses and objects, 1000 per transaction
    Snapshot snap(store);
    CHECK(snap.totals().address_entries == 1000);
    CHECK(snap.totals().unused_generations == 0);
    CHECK(all_addresses(store, "contoso") == before);
}

TEST_CASE(
    "a full rebuild that changes little is applied in place: the same list, no second copy "
    "on disk",
    "[store][rebuild]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    publish(store, make_list("contoso", 'a', 100000));
    auto list = make_list("contoso", 'a', 100000);
    list.objects[10].addresses = {"renamed@contoso.example"};                  // changed
    list.objects.erase(list.objects.begin() + 20, list.objects.begin() + 30);  // 10 gone
    list.objects.push_back(TenantObject{ObjectKind::group, "new-group", {"team@contoso.example"}});
    std::set<std::string> want;
    for (const auto& o : list.objects) want.insert(o.addresses.begin(), o.addresses.end());

    Snapshot before(store);  // a reader in the middle keeps the old list
    const auto size_before = store.file_size();
    for (int round = 0; round < 3; ++round) {  // the daily full resync, three times
        WriterLock lock(store);
        Rebuild r(store, "contoso");
        for (const auto& o : list.objects) r.put_object(o.kind, o.id, o.addresses);
        r.stage();
        CHECK(r.in_place());
        Writer w(store);
        w.adopt(r);
        w.commit();
        CHECK(r.address_count() == want.size());
    }
    CHECK(all_addresses(store, "contoso") == want);
    CHECK(count_with_prefix(before, "contoso", 'a').first == 100000);
    Snapshot snap(store);
    CHECK(snap.address_count("contoso") == want.size());
    CHECK(snap.totals().address_entries == want.size());
    CHECK(snap.totals().object_entries == list.objects.size());
    CHECK(snap.totals().unused_generations == 0);
    CHECK(snap.find("contoso", "team@contoso.example")->kind == ObjectKind::group);
    // One copy of the list: the file grew by far less than a second copy would need.
    CHECK(store.file_size() < size_before + size_before / 10);
}

TEST_CASE("a rebuild staged in place is refused if the store changed before its adoption",
          "[store][rebuild]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    publish(store, make_list("contoso", 'a', 1000));
    WriterLock lock(store);
    Rebuild r(store, "contoso");
    for (int i = 0; i < 999; ++i) {
        r.put_object(ObjectKind::user, "obj-" + std::to_string(i), {address('a', i)});
    }
    r.stage();
    REQUIRE(r.in_place());
    {
        Writer w(store);  // a delta in between: the differences no longer hold
        w.put_object("contoso", ObjectKind::user, "late", {"late@contoso.example"});
        w.commit();
    }
    Writer w(store);
    CHECK_THROWS_WITH(w.adopt(r), Catch::Contains("changed between"));
    const auto got = all_addresses(store, "contoso");
    CHECK(got.size() == 1001);
    CHECK(got.count("late@contoso.example") == 1);
}

TEST_CASE(
    "a replaced or removed list is deleted by reclaim(), and clearing a tenant is one small "
    "write",
    "[store][rebuild]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    publish(store, make_list("contoso", 'a', 20000));
    publish(store, make_list("contoso", 'b', 20000));  // publish() reclaims the first list
    publish(store, make_list("northwind", 'n', 300, "northwind.example"));
    {
        Snapshot snap(store);
        CHECK(snap.totals().address_entries == 20300);
        CHECK(snap.totals().unused_generations == 0);
    }
    {
        Writer w(store);
        w.clear_tenant("contoso");
        w.put_object("contoso", ObjectKind::user, "x", {"x@contoso.example"});
        w.commit();
    }
    CHECK(all_addresses(store, "contoso") == std::set<std::string>{"x@contoso.example"});
    {
        Writer w(store);
        w.remove_tenant("northwind");
        w.commit();
    }
    {
        Snapshot snap(store);
        CHECK(snap.totals().unused_generations == 2);
        CHECK(snap.totals().address_entries == 20301);
    }
    CHECK(reclaim(store) == 40600);
    Snapshot snap(store);
    CHECK(snap.totals().address_entries == 1);
    CHECK(snap.totals().object_entries == 1);
    CHECK(snap.tenants() == std::vector<std::string>{"contoso"});
}

TEST_CASE("reclaim() frees the reader slots of readers that were killed", "[store][crash]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    publish(store, make_list("contoso", 'a', 10));
    const std::size_t before = store.reader_slots();
    int ready[2];
    REQUIRE(pipe(ready) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // a reader (a milter, say) killed in the middle of a lookup
        close(ready[0]);
        try {
            Store reader(dir.path(), reader_options());
            Snapshot snap(reader);
            (void)!write(ready[1], "r", 1);
            pause();
        } catch (...) {
        }
        _exit(0);
    }
    close(ready[1]);
    char c = 0;
    REQUIRE(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    CHECK(store.reader_slots() == before + 1);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    CHECK(store.reader_slots() == before + 1);  // LMDB does not notice by itself
    reclaim(store);
    CHECK(store.reader_slots() == before);
}

TEST_CASE("object ids round-trip, GUIDs compactly", "[store]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    const std::string guid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    {
        Writer w(store);
        w.set_domains("contoso", {"contoso.example"});
        w.put_object("contoso", ObjectKind::contact, guid, {"x@contoso.example"});
        w.put_object("contoso", ObjectKind::extra, "extra_recipients", {"y@contoso.example"});
        w.put_object("contoso", ObjectKind::user, "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
                     {"z@contoso.example"});
        w.commit();
    }
    Snapshot snap(store);
    CHECK(snap.find("contoso", "x@contoso.example")->object_id == guid);
    CHECK(snap.find("contoso", "x@contoso.example")->kind == ObjectKind::contact);
    CHECK(snap.find("contoso", "y@contoso.example")->object_id == "extra_recipients");
    CHECK(snap.find("contoso", "z@contoso.example")->object_id ==
          "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0");
}

TEST_CASE("a domain claimed by another tenant is skipped and reported", "[store]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    publish(store, make_list("contoso", 'a', 3, "shared.example"));
    Writer w(store);
    const auto skipped = w.set_domains("northwind", {"northwind.example", "shared.example"});
    w.commit();
    CHECK(skipped == std::vector<std::string>{"shared.example"});
    Snapshot snap(store);
    CHECK(snap.tenant_of_domain("shared.example") == "contoso");
}

TEST_CASE("removing a tenant removes its addresses, domains and state only", "[store]") {
    TempDir dir;
    Store store(dir.path(), writer_options());
    publish(store, make_list("contoso", 'a', 100, "contoso.example"));
    publish(store, make_list("northwind", 'n', 100, "northwind.example"));
    {
        Writer w(store);
        w.remove_tenant("contoso");
        w.commit();
    }
    Snapshot snap(store);
    CHECK(snap.tenants() == std::vector<std::string>{"northwind"});
    CHECK_FALSE(snap.tenant_of_domain("contoso.example"));
    CHECK_FALSE(snap.tenant_state("contoso"));
    CHECK(all_addresses(store, "contoso").empty());
    CHECK(all_addresses(store, "northwind").size() == 100);
}

TEST_CASE("tenant state round-trips and is readable by a read-only opener", "[store]") {
    TempDir dir;
    TenantState s;
    s.last_attempt = 1800000100;
    s.last_success = 1800000000;
    s.delta_links["users"] = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc";
    s.secret_expires = 1900000000;
    s.secret_expires_source = "credential_file";
    s.last_error = "token refused";
    s.last_error_kind = "token";
    s.last_error_code = "7000222";
    s.alerts_sent["secret_expiring:1900000000:30"] = 1800000000;
    {
        Store store(dir.path(), writer_options());
        Writer w(store);
        w.put_state("contoso", s);
        w.commit();
    }
    Store reader(dir.path(), reader_options());
    Snapshot snap(reader);
    const auto got = snap.tenant_state("contoso");
    REQUIRE(got);
    CHECK(got->last_success == s.last_success);
    CHECK(got->delta_links == s.delta_links);
    CHECK(got->secret_expires_source == "credential_file");
    CHECK(got->last_error_code == "7000222");
    CHECK(got->alerts_sent == s.alerts_sent);
    CHECK(snap.last_success("contoso") == 1800000000);
    CHECK_FALSE(snap.last_success("nobody"));
    CHECK_FALSE(decode_state("garbage"));
}

TEST_CASE(
    "the file grows as data needs, and past store.max_size a write fails clearly and the "
    "old list stays",
    "[store][ceiling]") {
    TempDir dir;
    constexpr std::uint64_t ceiling = 8ull << 20;  // 8 MiB
    Store store(dir.path(), writer_options(ceiling));
    const auto empty_size = store.file_size();
    publish(store, make_list("contoso", 'a', 20000));
    const auto grown = store.file_size();
    CHECK(grown > empty_size);
    CHECK(grown > 1ull << 20);

    try {
        publish(store, make_list("contoso", 'b', 400000));
        FAIL("a publish past the ceiling must throw");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::full);
        CHECK_THAT(e.what(), Catch::Contains("max_size"));
    }
    const auto got = all_addresses(store, "contoso");
    CHECK(got.size() == 20000);
    CHECK(got.count(address('a', 19999)) == 1);
    CHECK(store.file_size() <= ceiling);

    // And the store still takes writes that fit.
    publish(store, make_list("contoso", 'c', 100));
    CHECK(all_addresses(store, "contoso").size() == 100);
}

// Runs fn(txn) in a raw LMDB transaction on the store's files, outside Store: what another
// m365gate version would do. Commits a write transaction when fn returns.
template <typename Fn>
void with_raw_txn(const std::filesystem::path& dir, bool write, Fn fn) {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 8);
    REQUIRE(mdb_env_open(env, dir.c_str(), write ? 0 : MDB_RDONLY, 0640) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, write ? 0 : MDB_RDONLY, &txn) == 0);
    fn(txn);
    if (write) {
        REQUIRE(mdb_txn_commit(txn) == 0);
    } else {
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
}

TEST_CASE("a store of an unknown schema version is refused with a clear error", "[store][schema]") {
    TempDir dir;
    { Store store(dir.path(), writer_options()); }
    // What a future m365gate would leave behind.
    with_raw_txn(dir.path(), true, [](MDB_txn* txn) {
        MDB_dbi meta;
        REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
        MDB_val k{6, const_cast<char*>("schema")}, v{2, const_cast<char*>("99")};
        REQUIRE(mdb_put(txn, meta, &k, &v, 0) == 0);
    });
    for (const auto& options : {writer_options(), reader_options()}) {
        try {
            Store store(dir.path(), options);
            FAIL("opening must throw");
        } catch (const StoreError& e) {
            CHECK(e.kind() == StoreError::Kind::schema);
            CHECK_THAT(e.what(), Catch::Contains("schema version 99") &&
                                     Catch::Contains("understands version 2"));
        }
    }
}

TEST_CASE("a writer empties the probe index an older m365gate left, and marks version 1 as 2",
          "[store][schema]") {
    TempDir dir;
    {
        Store store(dir.path(), writer_options());
        publish(store, make_list("contoso", 'c', 50));
    }
    // What an m365gate with the probe index (or of schema 1) leaves behind: a database "probe"
    // with records that this version's writes will not keep up, so an older reader must not
    // find them after this writer changed the list.
    const auto raw_put = [&](const char* db, std::string_view key, std::string_view value) {
        with_raw_txn(dir.path(), true, [&](MDB_txn* txn) {
            MDB_dbi dbi;
            REQUIRE(mdb_dbi_open(txn, db, MDB_CREATE, &dbi) == 0);
            MDB_val k{key.size(), const_cast<char*>(key.data())};
            MDB_val v{value.size(), const_cast<char*>(value.data())};
            REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
        });
    };
    const auto raw_count = [&](const char* db) {
        std::size_t n = 0;
        with_raw_txn(dir.path(), false, [&](MDB_txn* txn) {
            MDB_dbi dbi;
            if (mdb_dbi_open(txn, db, 0, &dbi) != 0) return;
            MDB_stat st{};
            REQUIRE(mdb_stat(txn, dbi, &st) == 0);
            n = st.ms_entries;
        });
        return n;
    };
    const auto raw_schema = [&]() {
        std::string out;
        with_raw_txn(dir.path(), false, [&](MDB_txn* txn) {
            MDB_dbi meta;
            REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
            MDB_val k{6, const_cast<char*>("schema")}, v{};
            REQUIRE(mdb_get(txn, meta, &k, &v) == 0);
            out.assign(static_cast<const char*>(v.mv_data), v.mv_size);
        });
        return out;
    };
    raw_put("probe", std::string("\0\0\0\1", 4), "a header an older version wrote");
    raw_put("meta", "schema", "1");
    {  // A reader ignores both and answers from the list.
        Store reader(dir.path(), reader_options());
        CHECK(Snapshot(reader).contains("contoso", address('c', 0)));
        CHECK_FALSE(Snapshot(reader).contains("contoso", "nobody@contoso.example"));
    }
    CHECK(raw_count("probe") == 1);
    CHECK(raw_schema() == "1");
    { Store writer(dir.path(), writer_options()); }
    CHECK(raw_count("probe") == 0);
    CHECK(raw_schema() == "2");
    {
        Store reader(dir.path(), reader_options());
        CHECK(Snapshot(reader).contains("contoso", address('c', 0)));
    }
}

TEST_CASE("a missing, empty or truncated store is a clear error for a reader", "[store]") {
    TempDir dir;
    try {
        Store store(dir.path() / "nowhere", reader_options());
        FAIL("must throw");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::io);
        CHECK_THAT(e.what(), Catch::Contains("no store at"));
    }
    {
        Store store(dir.path(), writer_options());
        publish(store, make_list("contoso", 'a', 50000));
    }
    const auto data = dir.path() / "data.mdb";
    fs::resize_file(data, fs::file_size(data) / 2);
    try {
        Store store(dir.path(), reader_options());
        FAIL("must throw");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::corrupt);
        CHECK_THAT(e.what(), Catch::Contains("truncated"));
    }
    fs::resize_file(data, 100);  // not even the meta pages
    CHECK_THROWS_AS(Store(dir.path(), reader_options()), StoreError);
}

// mdb_env_open() reads the meta pages itself and divides by the page size of the newer one: a
// meta page with a page size of 0 was a SIGFPE inside liblmdb (found by fuzz_store), before
// the page check of every open could run. Both a reader and a writer must refuse it cleanly.
TEST_CASE("damaged meta pages are refused before liblmdb reads them", "[store]") {
    const auto poke = [](const fs::path& file, std::uint64_t offset, std::uint64_t value,
                         std::size_t width) {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        REQUIRE(f);
        f.seekp(static_cast<std::streamoff>(offset));
        f.write(reinterpret_cast<const char*>(&value), static_cast<std::streamsize>(width));
        REQUIRE(f);
    };
    struct Damage {
        const char* what;
        std::uint64_t offset;  // meta 0: page header 16 bytes, then the meta; psize at +24
        std::uint64_t value;
        std::size_t width;
        const char* says;
    };
    const Damage cases[] = {
        {"page size 0 in meta 0", 16 + 24, 0, 4, "impossible page size"},
        {"page size 1 in meta 0", 16 + 24, 1, 4, "impossible page size"},
        {"meta 0 a page number", 0, 0x00ffffff00000000ull, 8, "not an LMDB meta page"},
        {"page size 0 in meta 1", 4096 + 16 + 24, 0, 4, "another page size"},
        {"meta 1 last page far off", 4096 + 16 + 24 + 2 * 48, 1ull << 40, 8, ""},
    };
    for (const auto& damage : cases) {
        for (const bool as_reader : {true, false}) {
            DYNAMIC_SECTION(damage.what << (as_reader ? " (reader)" : " (writer)")) {
                TempDir dir;
                {
                    Store store(dir.path(), writer_options());
                    publish(store, make_list("contoso", 'a', 200));
                    publish(store, make_list("contoso", 'b', 200));  // both metas in use
                }
                poke(dir.path() / "data.mdb", damage.offset, damage.value, damage.width);
                try {
                    Store store(dir.path(), as_reader ? reader_options() : writer_options());
                    // Only possible when the damaged meta is the older one and LMDB never
                    // reads it (the last-page case): the store must then still answer.
                    CHECK(std::string(damage.says).empty());
                    const Snapshot snap(store);
                    CHECK(snap.tenants().size() == 1);
                } catch (const StoreError& e) {
                    CHECK(e.kind() == StoreError::Kind::corrupt);
                    CHECK_THAT(e.what(), Catch::Contains(damage.says));
                }
            }
        }
    }
}

TEST_CASE("a data.mdb that is a symbolic link is refused", "[store]") {
    TempDir dir;
    const auto real = dir.path() / "real";
    { Store store(real, writer_options()); }
    fs::create_directory(dir.path() / "store");
    fs::create_symlink(real / "data.mdb", dir.path() / "store" / "data.mdb");
    try {
        Store store(dir.path() / "store", reader_options());
        FAIL("must throw");
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::io);
        CHECK_THAT(e.what(), Catch::Contains("symbolic link"));
    }
}

TEST_CASE("files get the modes DESIGN.md gives: data 0640, lock 0660, directory 0750", "[store]") {
    TempDir dir;
    const auto sub = dir.path() / "store";
    { Store store(sub, writer_options()); }
    const auto mode = [](const fs::path& p) {
        return static_cast<unsigned>(fs::status(p).permissions() & fs::perms::all);
    };
    CHECK(mode(sub) == 0750);
    CHECK((mode(sub / "data.mdb") & 0600) == 0600);
    CHECK((mode(sub / "data.mdb") & 0137) == 0);  // never writable by group, nothing for others
    CHECK(mode(sub / "lock.mdb") == 0660);
}
