// sync/importer.h - what a tenant's recipients are (docs/sync.md) and how a full or delta sync
// writes them into one store::Writer.
//
// Addresses of an object = {mail} ∪ {proxyAddresses whose type is "smtp", any case, blanks
// after the colon trimmed} ∪ {userPrincipalName when include_upn, never a guest's #EXT# UPN},
// canonicalised with canonical_address and kept only in a managed domain. Groups count
// only when mail-enabled. Managed domains = the tenant's `domains`, else the verified domains
// whose supportedServices hold "Email". docs/sync.md has the rules, including the delta merge
// rule for absent properties. The extraction functions are pure (unit-tested); Importer does
// the Graph round trips and the writes, and never commits: the worker does.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "store/store.h"
#include "sync/graph.h"

namespace m365gate::sync {

using DomainSet = std::set<std::string>;  // canonical domains

// "SMTP:bob@x" / "smtp: bob@x" -> "bob@x"; nullopt for any other type (X500, SIP, SPO...).
std::optional<std::string> smtp_proxy_address(std::string_view proxy);

// True when the canonical address's domain is in `managed`.
bool in_managed_domain(std::string_view canonical_address, const DomainSet& managed);

// One directory object of a Graph page or delta round. `has_*` tells "absent" (no
// information) from "null" (cleared).
struct DirectoryObject {
    std::string id;
    bool removed = false;  // delta "@removed"
    bool has_mail = false;
    std::optional<std::string> mail;
    bool has_proxy_addresses = false;
    std::vector<std::string> proxy_addresses;
    bool has_upn = false;
    std::optional<std::string> upn;
    std::optional<bool> mail_enabled;  // groups
};

// Parses one item; throws SyncError(graph, malformed_response) on a wrong type.
DirectoryObject parse_directory_object(const nlohmann::json& item);

// Canonical managed addresses from the properties present, sorted, unique.
std::vector<std::string> object_addresses(const DirectoryObject& o, bool include_upn,
                                          const DomainSet& managed);

// The delta rule: the properties present are the truth; when one of mail / proxyAddresses /
// userPrincipalName (with include_upn) is absent, nothing the object held before is dropped
// (previous ∪ new). An item without any of them leaves the object as it was (nullopt).
std::optional<std::vector<std::string>> merge_delta_addresses(
    const DirectoryObject& o, const std::vector<std::string>& previous, bool include_upn,
    const DomainSet& managed);

// Managed domains from a /domains page value: isVerified && "Email" in supportedServices.
DomainSet managed_domains_from_graph(const nlohmann::json& domains);

// extra_recipients_file: one address per line, '#' comments and blank lines ignored. A missing
// file is empty (logged); an unreadable one throws SyncError(config).
std::vector<std::string> read_extra_recipients_file(const std::filesystem::path& file,
                                                    const std::string& tenant);

struct ImportStats {
    std::map<std::string, std::string> delta_links;  // "users" | "groups" | "contacts"
    std::uint64_t items = 0;                         // objects seen in Graph pages
    std::uint64_t removed = 0;                       // delta: objects removed
    std::uint64_t domains = 0;                       // managed domains published
};

class Importer {
public:
    Importer(GraphClient& graph, const TenantConfig& tenant, const std::atomic<bool>* stop);

    // The tenant's managed domains (config, else Graph /domains). Throws SyncError.
    DomainSet managed_domains();

    // Full enumeration into `rebuild` (the tenant's complete new list, nothing visible yet):
    // delta links for "now" first, then users, groups, contacts, and the extra recipients,
    // each page written as it arrives. The caller stages and adopts it, and sets the domains.
    ImportStats full(store::Rebuild& rebuild, const DomainSet& managed);

    // Applies the changes since `links` to `w`, re-applies the extra recipients. Throws
    // DeltaReset when Graph refuses a link. Does not commit.
    ImportStats delta(store::Writer& w, const DomainSet& managed,
                      const std::map<std::string, std::string>& links);

private:
    // The extra_recipients and extra_recipients_file objects: (object id, canonical managed
    // addresses); an empty list means the object has none (any more).
    std::vector<std::pair<std::string, std::vector<std::string>>> extra_recipient_objects(
        const DomainSet& managed) const;
    void check_stop() const;

    GraphClient& graph_;
    const TenantConfig& tenant_;
    const std::atomic<bool>* stop_;
};

}  // namespace m365gate::sync
