// graphsim tenant: the directory the simulator serves - tenants loaded from fixture JSON or
// generated at size, their users/groups/contacts with change versions and tombstones (the
// delta machinery), domains and app registrations, and the JSON serialisation of one object.
//
// Storage is compact so a generated 1M-user tenant costs ~24 bytes per user: a generated object
// has no stored properties at all (they are computed from its position and the seed), its id
// is an invertible function of its position, and only objects changed through the control API
// hold a JSON document. Objects are never removed from their collection: a delete leaves a
// tombstone, so positions (the list skip tokens) stay valid and delta rounds can report it.
//
// Not thread-safe: the simulator guards all tenants with one shared mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "util.h"

namespace graphsim {

enum class Kind { user, group, contact };

// "users", "groups", "contacts": the collection segment of the URL and of the control API.
const char* collection_name(Kind kind);
// "microsoft.graph.user", ...
const char* type_name(Kind kind);
std::optional<Kind> kind_from_collection(std::string_view name);

enum class Prop : std::uint8_t {
    id,
    displayName,
    givenName,
    surname,
    userPrincipalName,
    mail,
    mailNickname,
    proxyAddresses,
    accountEnabled,
    userType,
    businessPhones,
    jobTitle,
    mobilePhone,
    officeLocation,
    preferredLanguage,
    otherMails,
    createdDateTime,
    onPremisesSyncEnabled,
    department,
    companyName,
    description,
    mailEnabled,
    securityEnabled,
    groupTypes,
    visibility,
};

const char* prop_name(Prop prop);
// What GET returns without $select (Graph's default property set for the type).
const std::vector<Prop>& default_props(Kind kind);
// A $select name (case-insensitive, as Graph) among the properties the type knows.
std::optional<Prop> find_prop(Kind kind, std::string_view name);

struct Slot {
    std::unique_ptr<nlohmann::json> object;  // null: a generated object, computed from position
    std::uint64_t version = 1;               // tenant change version of the last change
    bool deleted = false;                    // a tombstone; version is the delete version
};

struct Change {
    std::uint64_t version;
    std::uint32_t position;
};

struct Collection {
    std::vector<Slot> slots;
    std::size_t generated_count = 0;  // slots [0, generated_count) have generated ids
    std::unordered_map<std::string, std::uint32_t> explicit_ids;  // lower-case id -> position
    std::vector<Change> changes;  // ascending version; one entry per change after load
};

struct Secret {
    std::string value;
    std::string key_id;
    std::string display_name;
    UnixSeconds end = 0;
    UnixSeconds start = 0;
};

// An uploaded certificate (keyCredentials, AsymmetricX509Cert): what the token endpoint
// checks a client assertion against (client_assertion.cpp).
struct Certificate {
    std::string der;
    std::string x5t_s256;                    // base64url SHA-256 of the DER
    std::string x5t;                         // base64url SHA-1 of the DER
    std::string sha1_hex;                    // upper case, as Entra's messages print the thumbprint
    std::shared_ptr<const std::string> pem;  // the public certificate, PEM
    UnixSeconds start = 0;
    UnixSeconds end = 0;
};
// A certificate from its PEM text (throws on anything else); start/end from the certificate.
Certificate parse_certificate(const std::string& pem);

struct App {
    std::string object_id;
    std::string app_id;
    std::string display_name;
    std::vector<Secret> secrets;
    std::vector<Certificate> certificates;
    std::vector<std::string> permissions;
};

struct Generator {
    bool enabled = false;
    std::uint64_t seed = 1;
};

class Tenant {
public:
    std::string id;
    std::vector<std::string> aliases;
    std::vector<nlohmann::json> domains;  // complete domain resources
    std::vector<App> apps;
    Collection users, groups, contacts;
    std::uint64_t version = 1;           // increases with every directory change
    std::uint32_t delta_generation = 0;  // bumped by expire-delta-tokens
    Generator generator;

    Collection& collection(Kind kind);
    const Collection& collection(Kind kind) const;
    bool answers_to(std::string_view id_or_alias) const;

    std::optional<std::uint32_t> find(Kind kind, std::string_view object_id) const;
    std::string object_id(Kind kind, std::uint32_t position) const;
    // For $filter=mailEnabled eq ...
    bool mail_enabled(Kind kind, std::uint32_t position) const;
    // Appends the object as a JSON object: id first, then props. A property the object does not
    // have is written as null, or left out when skip_absent (delta: "never set" is not sent).
    void append_object(Kind kind, std::uint32_t position, const std::vector<Prop>& props,
                       bool skip_absent, std::string& out) const;
    // The object with every property it has, as stored JSON (materialises a generated one).
    nlohmann::json object_json(Kind kind, std::uint32_t position) const;

    // Control API. Each change gets the next version and a change-log entry.
    // Adds, replaces (same id) or restores (tombstone) an object; returns its id.
    std::string put_object(Kind kind, nlohmann::json object);
    // Merges properties into a live object (null clears); false if there is none.
    bool patch_object(Kind kind, std::string_view object_id, const nlohmann::json& changes);
    bool delete_object(Kind kind, std::string_view object_id);

    App* find_app(std::string_view app_id);
    const App* find_app(std::string_view app_id) const;

    // Adds generated objects (call once, before any explicit object is added).
    void generate(std::size_t users, std::size_t groups, std::size_t contacts);

private:
    std::string generated_id(Kind kind, std::uint64_t index) const;
    std::optional<std::uint64_t> generated_index(Kind kind, std::string_view object_id) const;
    bool append_generated_value(Kind kind, std::uint64_t index, Prop prop, std::string& out) const;
    void record_change(Kind kind, std::uint32_t position);
};

// Fills a domain resource's missing properties with Graph's values for a managed domain.
nlohmann::json complete_domain(nlohmann::json domain);
// Parses an app registration ({"appId", "secrets", "permissions", ...}); throws on bad input.
App parse_app(const nlohmann::json& app);
// Reads a fixture file ({"tenants":[...]} or one tenant object); throws std::runtime_error.
std::vector<std::unique_ptr<Tenant>> load_fixture(const std::string& path);
// The --users/--groups/--contacts tenant (README: generated tenant).
std::unique_ptr<Tenant> generate_tenant(std::size_t users, std::size_t groups, std::size_t contacts,
                                        std::uint64_t seed);
// A stable GUID derived from text (SHA-256), for ids a fixture leaves out.
std::string guid_from_text(std::string_view text);

}  // namespace graphsim
