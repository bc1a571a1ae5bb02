// store/codec.cpp - the byte formats of the store's records (see store.h for the contract).
//
// Databases (fixed set, opened once per process, so no DBI handle is ever opened while other
// transactions run - LMDB forbids that):
//   meta       "schema" -> "2", "next_tenant_id" -> u32, "gen:" + u32 -> 'S' | 'R'
//   tenants    tenant name -> u32 generation, u64 address count, u64 object count (little
//              endian)
//   domains    canonical domain -> tenant name
//   state      tenant name -> 'S' u8 version, i64 last_success, then TenantState as JSON
//   addresses  u32 generation (big endian) + canonical address -> u8 kind + object id (encoded)
//   objects    u32 generation (big endian) + object id (encoded) -> u8 kind + addresses
//              '\n'-joined
//   probe      (versions with the probe index only; a writer empties it: env.cpp)
// Object ids that are GUIDs are stored as 0x01 + 16 bytes, anything else as 0x02 + the text:
// that halves the bytes per address of a typical tenant. store_internal.h explains
// generations; rebuild.cpp builds new ones.
#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "store/store.h"
#include "store/store_internal.h"

namespace m365gate::store {

namespace {

constexpr char state_magic = 'S';
constexpr std::uint8_t state_version = 1;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

namespace detail {

std::string encode_object_id(std::string_view id) {
    static constexpr std::array<std::size_t, 4> dashes{8, 13, 18, 23};
    bool guid = id.size() == 36;
    for (std::size_t i = 0; guid && i < id.size(); ++i) {
        const bool dash_here = std::find(dashes.begin(), dashes.end(), i) != dashes.end();
        guid = dash_here ? id[i] == '-' : hex_value(id[i]) >= 0;
    }
    std::string out;
    if (!guid) {
        out.reserve(id.size() + 1);
        out.push_back('\x02');
        out.append(id);
        return out;
    }
    out.push_back('\x01');
    int high = -1;
    for (char c : id) {
        if (c == '-') continue;
        if (high < 0) {
            high = hex_value(c);
        } else {
            out.push_back(char(high << 4 | hex_value(c)));
            high = -1;
        }
    }
    return out;
}

std::string decode_object_id(std::string_view enc) {
    if (enc.empty()) return {};
    if (enc.front() != '\x01' || enc.size() != 17) return std::string(enc.substr(1));
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t i = 1; i < enc.size(); ++i) {
        if (i == 5 || i == 7 || i == 9 || i == 11) out.push_back('-');
        const auto b = static_cast<unsigned char>(enc[i]);
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

std::string encode_rec(const TenantRec& r) {
    std::string out;
    put_le(out, r.id);
    put_le(out, r.addresses);
    put_le(out, r.objects);
    return out;
}
std::optional<TenantRec> decode_rec(std::string_view in) {
    if (in.size() != 20) return std::nullopt;
    return TenantRec{get_le<std::uint32_t>(in, 0), get_le<std::uint64_t>(in, 4),
                     get_le<std::uint64_t>(in, 12)};
}

std::optional<Recipient> decode_recipient(std::string_view tenant, std::string_view value) {
    if (value.size() < 2) return std::nullopt;
    const auto kind = static_cast<std::uint8_t>(value[0]);
    if (kind < 1 || kind > 4) return std::nullopt;
    return Recipient{std::string(tenant), static_cast<ObjectKind>(kind),
                     decode_object_id(value.substr(1))};
}

std::vector<std::string> split_lines(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        const auto nl = s.find('\n');
        out.emplace_back(s.substr(0, nl));
        if (nl == std::string_view::npos) break;
        s.remove_prefix(nl + 1);
    }
    return out;
}

std::optional<std::int64_t> decode_last_success(std::string_view state) {
    if (state.size() < 10 || state[0] != state_magic) return std::nullopt;
    return static_cast<std::int64_t>(get_le<std::uint64_t>(state, 2));
}

}  // namespace detail

using namespace detail;

const char* to_string(ObjectKind k) {
    switch (k) {
        case ObjectKind::user:
            return "user";
        case ObjectKind::group:
            return "group";
        case ObjectKind::contact:
            return "contact";
        case ObjectKind::extra:
            return "extra";
    }
    return "unknown";
}

// State codec: a small binary header so the milter's hot path reads last_success without
// parsing JSON, then everything as JSON (readable by every process, easy to extend).

std::string encode_state(const TenantState& s) {
    nlohmann::json j;
    j["last_attempt"] = s.last_attempt;
    j["last_success"] = s.last_success;
    j["last_full_sync"] = s.last_full_sync;
    j["address_count"] = s.address_count;
    j["domain_count"] = s.domain_count;
    j["object_count"] = s.object_count;
    j["last_sync_kind"] = s.last_sync_kind;
    j["delta_links"] = s.delta_links;
    j["secret_expires"] = s.secret_expires;
    j["secret_expires_source"] = s.secret_expires_source;
    j["secret_fingerprint"] = s.secret_fingerprint;
    j["app_name"] = s.app_name;
    j["secret_name"] = s.secret_name;
    j["secret_key_id"] = s.secret_key_id;
    j["last_error"] = s.last_error;
    j["last_error_kind"] = s.last_error_kind;
    j["last_error_code"] = s.last_error_code;
    j["failing_since"] = s.failing_since;
    j["alerts_sent"] = s.alerts_sent;
    j["secret_expires_local"] = s.secret_expires_local;
    j["secret_expires_local_source"] = s.secret_expires_local_source;
    j["last_token_success"] = s.last_token_success;
    std::string out;
    out.push_back(state_magic);
    out.push_back(char(state_version));
    put_le(out, static_cast<std::uint64_t>(s.last_success));
    out += j.dump();
    return out;
}

std::optional<TenantState> decode_state(std::string_view bytes) {
    if (bytes.size() < 10 || bytes[0] != state_magic || bytes[1] != char(state_version))
        return std::nullopt;
    const auto j = nlohmann::json::parse(bytes.substr(10), nullptr, false);
    if (!j.is_object()) return std::nullopt;
    TenantState s;
    try {
        s.last_attempt = j.value("last_attempt", std::int64_t{0});
        s.last_success = j.value("last_success", std::int64_t{0});
        s.last_full_sync = j.value("last_full_sync", std::int64_t{0});
        s.address_count = j.value("address_count", std::uint64_t{0});
        s.domain_count = j.value("domain_count", std::uint64_t{0});
        s.object_count = j.value("object_count", std::uint64_t{0});
        s.last_sync_kind = j.value("last_sync_kind", std::string{});
        s.delta_links = j.value("delta_links", std::map<std::string, std::string>{});
        s.secret_expires = j.value("secret_expires", std::int64_t{0});
        s.secret_expires_source = j.value("secret_expires_source", std::string{});
        s.secret_fingerprint = j.value("secret_fingerprint", std::string{});
        s.app_name = j.value("app_name", std::string{});
        s.secret_name = j.value("secret_name", std::string{});
        s.secret_key_id = j.value("secret_key_id", std::string{});
        s.last_error = j.value("last_error", std::string{});
        s.last_error_kind = j.value("last_error_kind", std::string{});
        s.last_error_code = j.value("last_error_code", std::string{});
        s.failing_since = j.value("failing_since", std::int64_t{0});
        s.alerts_sent = j.value("alerts_sent", std::map<std::string, std::int64_t>{});
        s.secret_expires_local = j.value("secret_expires_local", std::int64_t{0});
        s.secret_expires_local_source = j.value("secret_expires_local_source", std::string{});
        s.last_token_success = j.value("last_token_success", std::int64_t{0});
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // a field of the wrong type: treat the state as unreadable
    }
    return s;
}

}  // namespace m365gate::store
