// tests/unit/ctl_fixture.h - a real LMDB store in a temporary directory, filled with
// store::publish() as the sync worker would, and a Config pointing at it, for m365gatectl tests.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/config.h"
#include "store/store.h"
#include "tests/unit/temp_dir.h"

namespace m365gate::ctl::testing {

// 2026-11-23T09:00:00Z: "now" in every ctl test.
inline constexpr std::int64_t test_now = 1795424400;
inline constexpr std::int64_t day = 86400;

using m365gate::testing::TempDir;

inline void write_file(const std::filesystem::path& file, const std::string& text,
                       std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                                     std::filesystem::perms::owner_write) {
    std::ofstream(file) << text;
    std::filesystem::permissions(file, mode);
}

inline std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Two tenants: contoso (synced, healthy at test_now) and northwind (configured, never synced).
struct StoreFixture {
    TempDir dir;
    Config cfg;

    StoreFixture() {
        cfg.file = dir.path() / "m365gate.toml";
        cfg.store.path = dir.path() / "store";
        cfg.store.max_size = 64ull << 20;
        cfg.sync.pid_file = dir.path() / "sync.pid";
        cfg.milter.pid_file = dir.path() / "milter.pid";
        TenantConfig contoso;
        contoso.name = "contoso";
        contoso.tenant_id = "11111111-1111-1111-1111-111111111111";
        contoso.client_id = "22222222-2222-2222-2222-222222222222";
        contoso.client_secret_file = dir.path() / "contoso.secret";
        contoso.domains = {"contoso.example", "fabrikam.example"};
        TenantConfig northwind;
        northwind.name = "northwind";
        northwind.tenant_id = "33333333-3333-3333-3333-333333333333";
        northwind.client_id = "44444444-4444-4444-4444-444444444444";
        northwind.client_secret_file = dir.path() / "northwind.secret";
        northwind.domains = {"northwind.example"};
        cfg.tenants = {contoso, northwind};
        publish_contoso(healthy_state());
    }

    static store::TenantState healthy_state() {
        store::TenantState st;
        st.last_attempt = test_now - 300;
        st.last_success = test_now - 300;
        st.last_full_sync = test_now - 3600;
        st.last_sync_kind = "delta";
        st.delta_links = {{"users", "https://graph.example/v1.0/users/delta?$deltatoken=x"}};
        st.secret_expires = test_now + 200 * day;
        st.secret_expires_source = "credential_file";
        st.alerts_sent = {{"secret:30:2027-06-11", test_now - 10 * day}};
        return st;
    }

    void publish_contoso(store::TenantState state) {
        store::Store s(cfg.store.path, store::StoreOptions{cfg.store.max_size, false, true});
        store::TenantList list;
        list.tenant = "contoso";
        list.domains = {"contoso.example", "fabrikam.example"};
        list.objects = {
            {store::ObjectKind::user,
             "u-alice",
             {"alice@contoso.example", "alice.smith@contoso.example", "alice@fabrikam.example"}},
            {store::ObjectKind::user, "u-bob", {"bob@contoso.example"}},
            {store::ObjectKind::group, "g-sales", {"sales@contoso.example"}},
            {store::ObjectKind::contact, "c-ext", {"partner@fabrikam.example"}},
        };
        state.address_count = 6;
        state.object_count = 4;
        state.domain_count = 2;
        list.state = state;
        store::publish(s, list);
    }
};

}  // namespace m365gate::ctl::testing
