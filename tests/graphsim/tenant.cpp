// graphsim tenant: directory model, fixture loading, the size generator, object serialisation.
#include "tenant.h"

#include <openssl/sha.h>

#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace graphsim {

using nlohmann::json;

const char* collection_name(Kind kind) {
    switch (kind) {
        case Kind::user:
            return "users";
        case Kind::group:
            return "groups";
        case Kind::contact:
            return "contacts";
    }
    return "?";
}

const char* type_name(Kind kind) {
    switch (kind) {
        case Kind::user:
            return "microsoft.graph.user";
        case Kind::group:
            return "microsoft.graph.group";
        case Kind::contact:
            return "microsoft.graph.orgContact";
    }
    return "?";
}

std::optional<Kind> kind_from_collection(std::string_view name) {
    if (name == "users") {
        return Kind::user;
    }
    if (name == "groups") {
        return Kind::group;
    }
    if (name == "contacts") {
        return Kind::contact;
    }
    return std::nullopt;
}

const char* prop_name(Prop prop) {
    static const char* const names[] = {
        "id",           "displayName",       "givenName",
        "surname",      "userPrincipalName", "mail",
        "mailNickname", "proxyAddresses",    "accountEnabled",
        "userType",     "businessPhones",    "jobTitle",
        "mobilePhone",  "officeLocation",    "preferredLanguage",
        "otherMails",   "createdDateTime",   "onPremisesSyncEnabled",
        "department",   "companyName",       "description",
        "mailEnabled",  "securityEnabled",   "groupTypes",
        "visibility",
    };
    return names[static_cast<std::size_t>(prop)];
}

namespace {

const std::vector<Prop>& known_props(Kind kind) {
    static const std::vector<Prop> user = {
        Prop::id,           Prop::displayName,       Prop::givenName,
        Prop::surname,      Prop::userPrincipalName, Prop::mail,
        Prop::mailNickname, Prop::proxyAddresses,    Prop::accountEnabled,
        Prop::userType,     Prop::businessPhones,    Prop::jobTitle,
        Prop::mobilePhone,  Prop::officeLocation,    Prop::preferredLanguage,
        Prop::otherMails,   Prop::createdDateTime,   Prop::onPremisesSyncEnabled,
        Prop::department,   Prop::companyName,
    };
    static const std::vector<Prop> group = {
        Prop::id,
        Prop::displayName,
        Prop::description,
        Prop::mail,
        Prop::mailEnabled,
        Prop::mailNickname,
        Prop::securityEnabled,
        Prop::groupTypes,
        Prop::proxyAddresses,
        Prop::visibility,
        Prop::createdDateTime,
        Prop::onPremisesSyncEnabled,
    };
    static const std::vector<Prop> contact = {
        Prop::id,
        Prop::displayName,
        Prop::givenName,
        Prop::surname,
        Prop::mail,
        Prop::mailNickname,
        Prop::proxyAddresses,
        Prop::companyName,
        Prop::department,
        Prop::jobTitle,
        Prop::onPremisesSyncEnabled,
    };
    switch (kind) {
        case Kind::user:
            return user;
        case Kind::group:
            return group;
        case Kind::contact:
            return contact;
    }
    return user;
}

}  // namespace

const std::vector<Prop>& default_props(Kind kind) {
    // user-list.md: businessPhones, displayName, givenName, id, jobTitle, mail, mobilePhone,
    // officeLocation, preferredLanguage, surname, userPrincipalName. Groups and contacts return
    // their full (here: known) set.
    static const std::vector<Prop> user = {
        Prop::id,          Prop::businessPhones,    Prop::displayName,
        Prop::givenName,   Prop::jobTitle,          Prop::mail,
        Prop::mobilePhone, Prop::officeLocation,    Prop::preferredLanguage,
        Prop::surname,     Prop::userPrincipalName,
    };
    if (kind == Kind::user) {
        return user;
    }
    return known_props(kind);
}

std::optional<Prop> find_prop(Kind kind, std::string_view name) {
    for (Prop p : known_props(kind)) {
        if (iequals(prop_name(p), name)) {
            return p;
        }
    }
    return std::nullopt;
}

Collection& Tenant::collection(Kind kind) {
    switch (kind) {
        case Kind::user:
            return users;
        case Kind::group:
            return groups;
        case Kind::contact:
            return contacts;
    }
    return users;
}

const Collection& Tenant::collection(Kind kind) const {
    return const_cast<Tenant*>(this)->collection(kind);
}

bool Tenant::answers_to(std::string_view id_or_alias) const {
    if (iequals(id, id_or_alias)) {
        return true;
    }
    for (const auto& alias : aliases) {
        if (iequals(alias, id_or_alias)) {
            return true;
        }
    }
    return false;
}

// ---- generated ids: an invertible permutation of the position in the last 48 bits ----------

namespace {

constexpr std::uint64_t mask48 = (std::uint64_t{1} << 48) - 1;
constexpr std::uint64_t permute_multiplier = 0x5DEECE66DULL;  // odd, so invertible mod 2^48

std::uint64_t mix64(std::uint64_t x) {  // splitmix64 finaliser
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

constexpr std::uint64_t inverse_mod_2_64(std::uint64_t a) {
    std::uint64_t x = a;  // Newton: each step doubles the correct low bits
    for (int i = 0; i < 6; ++i) {
        x *= 2 - a * x;
    }
    return x;
}

constexpr std::uint64_t permute_inverse = inverse_mod_2_64(permute_multiplier) & mask48;

void append_hex(std::string& out, std::uint64_t value, int digits) {
    static constexpr char hex[] = "0123456789abcdef";
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
        out.push_back(hex[(value >> shift) & 15]);
    }
}

std::uint64_t kind_offset(std::uint64_t seed, Kind kind) {
    return mix64(seed * 0x100000001B3ULL + static_cast<std::uint64_t>(kind) + 7) & mask48;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

std::string Tenant::generated_id(Kind kind, std::uint64_t index) const {
    const std::uint64_t seed = generator.seed;
    const std::uint64_t h = mix64(seed * 0x9E3779B97F4A7C15ULL ^
                                  (static_cast<std::uint64_t>(kind) + 1) * 0xC2B2AE3D27D4EB4FULL ^
                                  index * 0x165667B19E3779F9ULL);
    const std::uint64_t h2 = mix64(h);
    std::string out;
    out.reserve(36);
    append_hex(out, h >> 32, 8);
    out.push_back('-');
    append_hex(out, (h >> 16) & 0xffff, 4);
    out.push_back('-');
    append_hex(out, 0x4000 | (h & 0x0fff), 4);
    out.push_back('-');
    append_hex(out, 0x8000 | (h2 & 0x3fff), 4);
    out.push_back('-');
    append_hex(out, (index * permute_multiplier + kind_offset(seed, kind)) & mask48, 12);
    return out;
}

std::optional<std::uint64_t> Tenant::generated_index(Kind kind, std::string_view object_id) const {
    const std::size_t count = collection(kind).generated_count;
    if (count == 0 || object_id.size() != 36) {
        return std::nullopt;
    }
    std::uint64_t permuted = 0;
    for (std::size_t i = 24; i < 36; ++i) {
        const int v = hex_value(object_id[i]);
        if (v < 0) {
            return std::nullopt;
        }
        permuted = (permuted << 4) | static_cast<std::uint64_t>(v);
    }
    const std::uint64_t index =
        ((permuted - kind_offset(generator.seed, kind)) & mask48) * permute_inverse & mask48;
    if (index >= count || !iequals(generated_id(kind, index), object_id)) {
        return std::nullopt;
    }
    return index;
}

std::optional<std::uint32_t> Tenant::find(Kind kind, std::string_view object_id) const {
    const Collection& c = collection(kind);
    const auto it = c.explicit_ids.find(ascii_lower(object_id));
    if (it != c.explicit_ids.end()) {
        return it->second;
    }
    if (auto index = generated_index(kind, object_id)) {
        return static_cast<std::uint32_t>(*index);
    }
    return std::nullopt;
}

std::string Tenant::object_id(Kind kind, std::uint32_t position) const {
    const Slot& slot = collection(kind).slots[position];
    if (slot.object) {
        return slot.object->value("id", std::string());
    }
    return generated_id(kind, position);
}

bool Tenant::mail_enabled(Kind kind, std::uint32_t position) const {
    const Slot& slot = collection(kind).slots[position];
    if (slot.object) {
        const auto it = slot.object->find("mailEnabled");
        return it != slot.object->end() && it->is_boolean() && it->get<bool>();
    }
    if (kind == Kind::group) {
        return position % 3 != 2;
    }
    return false;
}

// ---- generated objects (README "generated tenant") -----------------------------------------

namespace {

void append_address(std::string& out, std::string_view prefix, std::string_view local,
                    std::uint64_t n, std::string_view domain) {
    out.push_back('"');
    out.append(prefix);
    out.append(local);
    append_uint(out, n);
    out.push_back('@');
    out.append(domain);
    out.push_back('"');
}

}  // namespace

bool Tenant::append_generated_value(Kind kind, std::uint64_t index, Prop prop,
                                    std::string& out) const {
    const std::uint64_t n = index + 1;
    if (kind == Kind::user) {
        const bool guest = n % 100 == 0;
        const bool shared = !guest && n % 50 == 0;
        switch (prop) {
            case Prop::displayName:
                out += guest ? "\"Guest User " : shared ? "\"Shared Mailbox " : "\"User ";
                append_uint(out, n);
                out.push_back('"');
                return true;
            case Prop::givenName:
                if (shared) {
                    return false;
                }
                out += guest ? "\"Guest\"" : "\"User\"";
                return true;
            case Prop::surname:
                if (shared) {
                    return false;
                }
                out.push_back('"');
                append_uint(out, n);
                out.push_back('"');
                return true;
            case Prop::userPrincipalName:
                if (guest) {
                    out += "\"user";
                    append_uint(out, n);
                    out += "_partner.example#EXT#@gen.onmicrosoft.com\"";
                } else {
                    append_address(out, "", "user", n, "gen.example");
                }
                return true;
            case Prop::mail:
                append_address(out, "", "user", n, guest ? "partner.example" : "gen.example");
                return true;
            case Prop::mailNickname:
                out += "\"user";
                append_uint(out, n);
                out += guest ? "_partner.example#EXT#\"" : "\"";
                return true;
            case Prop::proxyAddresses: {
                out.push_back('[');
                append_address(out, "SMTP:", "user", n, "gen.example");
                out.push_back(',');
                append_address(out, "smtp:", "u.", n, "gen.example");
                out.push_back(',');
                append_address(out, "smtp:", "user", n, "gen2.example");
                out +=
                    ",\"X500:/o=ExchangeLabs/ou=Exchange Administrative Group "
                    "(FYDIBOHF23SPDLT)/cn=Recipients/cn=";
                for (char c : generated_id(kind, index)) {
                    if (c != '-') {
                        out.push_back(c);
                    }
                }
                out += "-user";
                append_uint(out, n);
                out += "\",";
                append_address(out, "SIP:", "user", n, "gen.example");
                out.push_back(']');
                return true;
            }
            case Prop::accountEnabled:
                out += shared ? "false" : "true";
                return true;
            case Prop::userType:
                out += guest ? "\"Guest\"" : "\"Member\"";
                return true;
            case Prop::businessPhones:
            case Prop::otherMails:
                out += "[]";
                return true;
            case Prop::createdDateTime:
                out += "\"2024-01-01T00:00:00Z\"";
                return true;
            case Prop::onPremisesSyncEnabled:
            default:
                return false;
        }
    }
    if (kind == Kind::group) {
        const int type =
            static_cast<int>(index % 3);  // 0 Microsoft 365, 1 distribution, 2 security
        switch (prop) {
            case Prop::displayName:
                out += type == 0   ? "\"Group "
                       : type == 1 ? "\"Distribution List "
                                   : "\"Security Group ";
                append_uint(out, n);
                out.push_back('"');
                return true;
            case Prop::mail:
                if (type == 2) {
                    return false;
                }
                append_address(out, "", "group", n, "gen.example");
                return true;
            case Prop::mailEnabled:
                out += type == 2 ? "false" : "true";
                return true;
            case Prop::securityEnabled:
                out += type == 2 ? "true" : "false";
                return true;
            case Prop::mailNickname:
                out += "\"group";
                append_uint(out, n);
                out.push_back('"');
                return true;
            case Prop::groupTypes:
                out += type == 0 ? "[\"Unified\"]" : "[]";
                return true;
            case Prop::proxyAddresses:
                out.push_back('[');
                if (type == 0) {
                    append_address(out, "SMTP:", "group", n, "gen.example");
                    out.push_back(',');
                    append_address(out, "smtp:", "group", n, "gen.onmicrosoft.com");
                    out += ",\"SPO:SPO_";
                    out += generated_id(kind, index);
                    out += "@SPO_";
                    out += id;
                    out.push_back('"');
                } else if (type == 1) {
                    append_address(out, "SMTP:", "group", n, "gen.example");
                    out.push_back(',');
                    append_address(out, "smtp:", "group", n, "gen2.example");
                }
                out.push_back(']');
                return true;
            case Prop::visibility:
                if (type != 0) {
                    return false;
                }
                out += "\"Private\"";
                return true;
            case Prop::createdDateTime:
                out += "\"2024-01-01T00:00:00Z\"";
                return true;
            default:
                return false;
        }
    }
    switch (prop) {  // contact
        case Prop::displayName:
            out += "\"Contact ";
            append_uint(out, n);
            out.push_back('"');
            return true;
        case Prop::givenName:
            out += "\"Contact\"";
            return true;
        case Prop::surname:
            out.push_back('"');
            append_uint(out, n);
            out.push_back('"');
            return true;
        case Prop::mail:
            append_address(out, "", "contact", n, "partner.example");
            return true;
        case Prop::mailNickname:
            out += "\"contact";
            append_uint(out, n);
            out.push_back('"');
            return true;
        case Prop::proxyAddresses:
            out.push_back('[');
            append_address(out, "SMTP:", "contact", n, "partner.example");
            out.push_back(',');
            append_address(out, "smtp:", "contact", n, "gen.example");
            out.push_back(']');
            return true;
        case Prop::companyName:
            out += "\"Partner Ltd\"";
            return true;
        default:
            return false;
    }
}

void Tenant::append_object(Kind kind, std::uint32_t position, const std::vector<Prop>& props,
                           bool skip_absent, std::string& out) const {
    const Slot& slot = collection(kind).slots[position];
    out += "{\"id\":";
    if (slot.object) {
        append_json_string(out, slot.object->value("id", std::string()));
        for (Prop p : props) {
            if (p == Prop::id) {
                continue;
            }
            const char* name = prop_name(p);
            const auto it = slot.object->find(name);
            if (it == slot.object->end() && skip_absent) {
                continue;
            }
            out += ",\"";
            out += name;
            out += "\":";
            if (it == slot.object->end()) {
                out += "null";
            } else {
                out += it->dump(-1, ' ', false, json::error_handler_t::replace);
            }
        }
    } else {
        out += '"';
        out += generated_id(kind, position);
        out += '"';
        for (Prop p : props) {
            if (p == Prop::id) {
                continue;
            }
            const std::size_t mark = out.size();
            out += ",\"";
            out += prop_name(p);
            out += "\":";
            if (!append_generated_value(kind, position, p, out)) {
                if (skip_absent) {
                    out.resize(mark);
                } else {
                    out += "null";
                }
            }
        }
    }
    out.push_back('}');
}

json Tenant::object_json(Kind kind, std::uint32_t position) const {
    const Slot& slot = collection(kind).slots[position];
    if (slot.object) {
        return *slot.object;
    }
    std::string text;
    append_object(kind, position, known_props(kind), true, text);
    return json::parse(text);
}

// ---- control API mutations -----------------------------------------------------------------

namespace {

// A fixture or control-API object: an id, and no null properties (null = never set).
json normalise_object(json object, const char* where) {
    if (!object.is_object()) {
        throw std::runtime_error(std::string(where) + ": not a JSON object");
    }
    const auto id = object.find("id");
    if (id == object.end() || !id->is_string() || id->get<std::string>().empty()) {
        throw std::runtime_error(std::string(where) + ": no \"id\" string");
    }
    for (auto it = object.begin(); it != object.end();) {
        it = it->is_null() ? object.erase(it) : std::next(it);
    }
    return object;
}

}  // namespace

void Tenant::record_change(Kind kind, std::uint32_t position) {
    Collection& c = collection(kind);
    c.slots[position].version = ++version;
    c.changes.push_back(Change{version, position});
}

std::string Tenant::put_object(Kind kind, json object) {
    object = normalise_object(std::move(object), "object");
    const std::string object_id = object["id"].get<std::string>();
    Collection& c = collection(kind);
    std::uint32_t position = 0;
    if (auto found = find(kind, object_id)) {
        position = *found;
    } else {
        position = static_cast<std::uint32_t>(c.slots.size());
        c.slots.emplace_back();
        c.explicit_ids.emplace(ascii_lower(object_id), position);
    }
    Slot& slot = c.slots[position];
    slot.object = std::make_unique<json>(std::move(object));
    slot.deleted = false;
    record_change(kind, position);
    return object_id;
}

bool Tenant::patch_object(Kind kind, std::string_view object_id, const json& changes) {
    const auto position = find(kind, object_id);
    if (!position || collection(kind).slots[*position].deleted) {
        return false;
    }
    Slot& slot = collection(kind).slots[*position];
    if (!slot.object) {
        slot.object = std::make_unique<json>(object_json(kind, *position));
    }
    for (auto it = changes.begin(); it != changes.end(); ++it) {
        if (it.key() != "id") {
            (*slot.object)[it.key()] = it.value();  // null stays: "cleared", sent by delta
        }
    }
    record_change(kind, *position);
    return true;
}

bool Tenant::delete_object(Kind kind, std::string_view object_id) {
    const auto position = find(kind, object_id);
    if (!position || collection(kind).slots[*position].deleted) {
        return false;
    }
    collection(kind).slots[*position].deleted = true;
    record_change(kind, *position);
    return true;
}

App* Tenant::find_app(std::string_view app_id) {
    for (App& app : apps) {
        if (iequals(app.app_id, app_id)) {
            return &app;
        }
    }
    return nullptr;
}

const App* Tenant::find_app(std::string_view app_id) const {
    return const_cast<Tenant*>(this)->find_app(app_id);
}

void Tenant::generate(std::size_t user_count, std::size_t group_count, std::size_t contact_count) {
    generator.enabled = true;
    users.slots.resize(user_count);
    users.generated_count = user_count;
    groups.slots.resize(group_count);
    groups.generated_count = group_count;
    contacts.slots.resize(contact_count);
    contacts.generated_count = contact_count;
}

// ---- fixtures ------------------------------------------------------------------------------

std::string guid_from_text(std::string_view text) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
    md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x40);
    md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);
    std::string out;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out.push_back('-');
        }
        append_hex(out, md[i], 2);
    }
    return out;
}

json complete_domain(json domain) {
    const json defaults = {
        {"authenticationType", "Managed"},
        {"availabilityStatus", nullptr},
        {"isAdminManaged", true},
        {"isDefault", false},
        {"isInitial", false},
        {"isRoot", true},
        {"isVerified", false},
        {"passwordNotificationWindowInDays", 14},
        {"passwordValidityPeriodInDays", 2147483647},
        {"state", nullptr},
        {"supportedServices", json::array()},
    };
    if (!domain.is_object() || !domain.contains("id") || !domain["id"].is_string()) {
        throw std::runtime_error("domain: no \"id\" string");
    }
    for (auto it = defaults.begin(); it != defaults.end(); ++it) {
        if (!domain.contains(it.key())) {
            domain[it.key()] = it.value();
        }
    }
    return domain;
}

namespace {

UnixSeconds one_year_before(UnixSeconds t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    tm.tm_year -= 1;
    return static_cast<UnixSeconds>(timegm(&tm));
}

std::string string_field(const json& object, const char* key, const std::string& fallback) {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
        return fallback;
    }
    if (!it->is_string()) {
        throw std::runtime_error(std::string("\"") + key + "\" is not a string");
    }
    return it->get<std::string>();
}

UnixSeconds time_field(const json& object, const char* key) {
    const std::string text = string_field(object, key, "");
    const auto t = parse_iso8601(text);
    if (!t) {
        throw std::runtime_error(std::string("\"") + key + "\" is not an ISO 8601 date-time: \"" +
                                 text + "\"");
    }
    return *t;
}

std::unique_ptr<Tenant> parse_tenant(const json& t) {
    auto tenant = std::make_unique<Tenant>();
    if (!t.is_object()) {
        throw std::runtime_error("tenant is not an object");
    }
    tenant->id = ascii_lower(string_field(t, "id", ""));
    if (tenant->id.empty()) {
        throw std::runtime_error("tenant has no \"id\"");
    }
    for (const auto& alias : t.value("aliases", json::array())) {
        tenant->aliases.push_back(alias.get<std::string>());
    }
    for (const auto& domain : t.value("domains", json::array())) {
        tenant->domains.push_back(complete_domain(domain));
    }
    for (const auto& app : t.value("apps", json::array())) {
        tenant->apps.push_back(parse_app(app));
    }
    const Kind kinds[] = {Kind::user, Kind::group, Kind::contact};
    for (Kind kind : kinds) {
        const auto list = t.find(collection_name(kind));
        if (list == t.end()) {
            continue;
        }
        std::size_t i = 0;
        for (const auto& object : *list) {
            const std::string where =
                std::string(collection_name(kind)) + "[" + std::to_string(i++) + "]";
            json normalised = normalise_object(object, where.c_str());
            const std::string key = ascii_lower(normalised["id"].get<std::string>());
            Collection& c = tenant->collection(kind);
            if (c.explicit_ids.count(key) != 0) {
                throw std::runtime_error(where + ": duplicate id " + key);
            }
            c.explicit_ids.emplace(key, static_cast<std::uint32_t>(c.slots.size()));
            c.slots.emplace_back();
            c.slots.back().object = std::make_unique<json>(std::move(normalised));
        }
    }
    return tenant;
}

}  // namespace

App parse_app(const json& app) {
    App out;
    if (!app.is_object()) {
        throw std::runtime_error("app is not an object");
    }
    out.app_id = ascii_lower(string_field(app, "appId", ""));
    if (out.app_id.empty()) {
        throw std::runtime_error("app has no \"appId\"");
    }
    out.object_id = string_field(app, "id", guid_from_text("application:" + out.app_id));
    out.display_name = string_field(app, "displayName", "m365gate");
    for (const auto& s : app.value("secrets", json::array())) {
        Secret secret;
        secret.value = string_field(s, "value", "");
        if (secret.value.empty()) {
            throw std::runtime_error("app " + out.app_id + ": secret without \"value\"");
        }
        secret.key_id =
            string_field(s, "keyId", guid_from_text("secret:" + out.app_id + ":" + secret.value));
        secret.display_name = string_field(s, "displayName", "m365gate");
        secret.end = time_field(s, "endDateTime");
        secret.start = s.contains("startDateTime") ? time_field(s, "startDateTime")
                                                   : one_year_before(secret.end);
        out.secrets.push_back(std::move(secret));
    }
    for (const auto& c : app.value("certificates", json::array())) {
        std::string pem = string_field(c, "pem", "");
        if (pem.empty() && c.contains("file")) {
            std::ifstream in(c["file"].get<std::string>());
            pem.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        }
        Certificate cert = parse_certificate(pem);
        if (c.contains("endDateTime")) {
            cert.end = time_field(c, "endDateTime");
        }
        out.certificates.push_back(std::move(cert));
    }
    for (const auto& p : app.value("permissions", json::array())) {
        out.permissions.push_back(p.get<std::string>());
    }
    return out;
}

std::vector<std::unique_ptr<Tenant>> load_fixture(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error(path + ": cannot open");
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    const json doc = json::parse(buffer.str(), nullptr, false);
    if (doc.is_discarded()) {
        throw std::runtime_error(path + ": not valid JSON");
    }
    std::vector<std::unique_ptr<Tenant>> tenants;
    try {
        if (doc.contains("tenants")) {
            for (const auto& t : doc["tenants"]) {
                tenants.push_back(parse_tenant(t));
            }
        } else {
            tenants.push_back(parse_tenant(doc));
        }
    } catch (const std::exception& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
    return tenants;
}

std::unique_ptr<Tenant> generate_tenant(std::size_t users, std::size_t groups, std::size_t contacts,
                                        std::uint64_t seed) {
    auto tenant = std::make_unique<Tenant>();
    tenant->id = "11111111-1111-1111-1111-111111111111";
    tenant->aliases = {"gen.onmicrosoft.com"};
    tenant->generator.seed = seed;
    tenant->domains = {
        complete_domain({{"id", "gen.example"},
                         {"isVerified", true},
                         {"isDefault", true},
                         {"supportedServices", {"Email", "OfficeCommunicationsOnline"}}}),
        complete_domain(
            {{"id", "gen2.example"}, {"isVerified", true}, {"supportedServices", {"Email"}}}),
        complete_domain({{"id", "gen.onmicrosoft.com"},
                         {"isVerified", true},
                         {"isInitial", true},
                         {"supportedServices", {"Email", "OfficeCommunicationsOnline"}}}),
        complete_domain({{"id", "sp-only.example"},
                         {"isVerified", true},
                         {"supportedServices", {"Sharepoint"}}}),
        complete_domain({{"id", "unverified.example"},
                         {"isVerified", false},
                         {"supportedServices", json::array()}}),
    };
    tenant->apps.push_back(parse_app({
        {"appId", "22222222-2222-2222-2222-222222222222"},
        {"displayName", "m365gate"},
        {"secrets",
         {{{"value", "generated~secret~value"}, {"endDateTime", "2028-11-01T00:00:00Z"}}}},
        {"permissions",
         {"User.Read.All", "GroupMember.Read.All", "OrgContact.Read.All", "Domain.Read.All",
          "Application.Read.All"}},
    }));
    tenant->generate(users, groups, contacts);
    return tenant;
}

}  // namespace graphsim
