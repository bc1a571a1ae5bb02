// graphsim Graph API: GET /v1.0/{users,groups,contacts}[/delta], /v1.0/domains and
// /v1.0/applications as Microsoft Graph answers them (reference B and C): permissions per
// endpoint, $select/$top/$filter, paging with opaque $skiptoken nextLinks, and delta rounds with
// $deltatoken deltaLinks, tombstones as @removed, and 410 syncStateNotFound for stale state.
//
// Skip and delta tokens are base64url(JSON state + 16-byte HMAC), so they are opaque to the
// client, a forged or damaged one is a 400, and they need no server-side session.
#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>

#include "simulator.h"

namespace graphsim {

using nlohmann::json;

const char* const graph_content_type =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8";

namespace {

constexpr UnixSeconds delta_token_lifetime = 7 * 24 * 3600;  // directory objects: 7 days (B.3)
constexpr int max_page_size = 999;
constexpr int default_page_size = 100;

}  // namespace

void set_graph_headers(httplib::Response& res, const RequestIds& ids) {
    res.set_header("request-id", ids.request_id);
    res.set_header("client-request-id", ids.client_request_id);
    res.set_header("x-ms-ags-diagnostic",
                   R"({"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"5",)"
                   R"("ScaleUnit":"000","RoleInstance":"graphsim"}})");
    res.set_header("Cache-Control", "no-cache");
    res.set_header("OData-Version", "4.0");
    res.set_header("Strict-Transport-Security", "max-age=31536000");
}

void write_graph_error(Simulator& sim, httplib::Response& res, int status, std::string_view code,
                       std::string_view message, const RequestIds& ids) {
    const json body = {{"error",
                        {{"code", code},
                         {"message", message},
                         {"innerError",
                          {{"date", format_error_time(sim.clock.now(), false)},
                           {"request-id", ids.request_id},
                           {"client-request-id", ids.client_request_id}}}}}};
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), graph_content_type);
}

namespace {

// ---- request context -----------------------------------------------------------------------

struct Call {
    Simulator& sim;
    const httplib::Request& req;
    httplib::Response& res;
    const RequestIds& ids;
    std::map<std::string, std::string> query;  // option names lower-cased ($select, ...)
    std::string base;  // the Graph base this request came to (its links point there too)

    const std::string* option(const char* name) const {
        const auto it = query.find(name);
        return it == query.end() ? nullptr : &it->second;
    }
    void error(int status, std::string_view code, std::string_view message) {
        write_graph_error(sim, res, status, code, message, ids);
    }
    void ok(std::string body) {
        res.status = 200;
        res.set_content(std::move(body), graph_content_type);
    }
};

// ---- skip/delta token state ----------------------------------------------------------------

enum class StateMode { list, initial, round, delta };

struct PageState {
    StateMode mode = StateMode::list;
    std::string tenant;
    std::string kind;            // collection name
    std::uint64_t position = 0;  // list/initial: slot position; round: change-log cursor
    std::uint64_t version = 0;   // delta: the state the token stands for
    std::uint64_t upto = 0;      // initial/round: tenant version when the round began
    int top = default_page_size;
    int filter = -1;  // list of groups: -1 none, 0/1 mailEnabled eq false/true
    std::string select;
    std::uint32_t generation = 0;
    UnixSeconds issued = 0;
    std::string boot;
};

enum class StateCheck { ok, invalid, gone };

std::string encode_state(const Simulator& sim, const PageState& s) {
    const json j = {
        {"m", static_cast<int>(s.mode)},
        {"t", s.tenant},
        {"k", s.kind},
        {"p", s.position},
        {"v", s.version},
        {"u", s.upto},
        {"n", s.top},
        {"f", s.filter},
        {"s", s.select},
        {"g", s.generation},
        {"i", s.issued},
        {"b", s.boot},
    };
    std::string payload = j.dump();
    payload += token_mac(sim.token_key, payload);
    return base64url_encode(payload);
}

StateCheck decode_state(const Simulator& sim, std::string_view token, PageState& s) {
    const auto raw = base64url_decode(token);
    if (!raw || raw->size() <= 16) {
        return StateCheck::invalid;
    }
    const std::string_view payload(raw->data(), raw->size() - 16);
    const std::string mac = token_mac(sim.token_key, payload);
    if (CRYPTO_memcmp(mac.data(), raw->data() + payload.size(), 16) != 0) {
        return StateCheck::invalid;
    }
    const json j = json::parse(payload, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return StateCheck::invalid;
    }
    try {
        s.mode = static_cast<StateMode>(j.at("m").get<int>());
        s.tenant = j.at("t").get<std::string>();
        s.kind = j.at("k").get<std::string>();
        s.position = j.at("p").get<std::uint64_t>();
        s.version = j.at("v").get<std::uint64_t>();
        s.upto = j.at("u").get<std::uint64_t>();
        s.top = j.at("n").get<int>();
        s.filter = j.at("f").get<int>();
        s.select = j.at("s").get<std::string>();
        s.generation = j.at("g").get<std::uint32_t>();
        s.issued = j.at("i").get<UnixSeconds>();
        s.boot = j.at("b").get<std::string>();
    } catch (const json::exception&) {
        return StateCheck::invalid;
    }
    return s.boot == sim.boot_id ? StateCheck::ok : StateCheck::gone;
}

// ---- $select -------------------------------------------------------------------------------

struct Selection {
    std::vector<Prop> props;
    std::string text;  // canonical names, comma-separated; empty: no $select
};

std::vector<std::string> split_select(std::string_view text) {
    std::vector<std::string> names;
    while (!text.empty()) {
        const std::size_t comma = text.find(',');
        std::string_view name = text.substr(0, comma);
        while (!name.empty() && name.front() == ' ') {
            name.remove_prefix(1);
        }
        while (!name.empty() && name.back() == ' ') {
            name.remove_suffix(1);
        }
        if (!name.empty()) {
            names.emplace_back(name);
        }
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    }
    return names;
}

// Unknown names: error holds Graph's message and nullopt is returned.
std::optional<Selection> parse_select(Kind kind, std::string_view text, std::string& error) {
    Selection sel;
    if (text.empty()) {
        sel.props = default_props(kind);
        return sel;
    }
    for (const std::string& name : split_select(text)) {
        const auto prop = find_prop(kind, name);
        if (!prop) {
            error =
                "Could not find a property named '" + name + "' on type '" + type_name(kind) + "'.";
            return std::nullopt;
        }
        if (std::find(sel.props.begin(), sel.props.end(), *prop) == sel.props.end()) {
            sel.props.push_back(*prop);
            if (!sel.text.empty()) {
                sel.text += ',';
            }
            sel.text += prop_name(*prop);
        }
    }
    if (sel.props.empty()) {
        sel.props = default_props(kind);
    }
    return sel;
}

std::string context_url(const std::string& base, const char* collection,
                        const std::string& select) {
    std::string out = base + "/v1.0/$metadata#" + collection;
    if (!select.empty()) {
        out += '(' + select + ')';
    }
    return out;
}

// Options Graph refuses on these collections (no ConsistencyLevel, no advanced queries).
bool reject_unsupported(Call& call, std::initializer_list<const char*> names) {
    for (const char* name : names) {
        if (call.option(name) != nullptr) {
            call.error(400, "Request_UnsupportedQuery", "Unsupported Query.");
            return true;
        }
    }
    return false;
}

std::string normalise_filter(std::string_view text) {
    std::string out;
    bool space = false;
    for (char c : text) {
        if (c == ' ' || c == '\t') {
            space = !out.empty();
            continue;
        }
        if (space) {
            out.push_back(' ');
            space = false;
        }
        out.push_back(c);
    }
    return out;
}

// ---- collections: list -----------------------------------------------------------------------

void list_collection(Call& call, const Tenant& tenant, Kind kind) {
    if (reject_unsupported(call, {"$orderby", "$search", "$count", "$expand", "$skip"})) {
        return;
    }
    const Collection& c = tenant.collection(kind);
    PageState state;
    if (const std::string* skiptoken = call.option("$skiptoken")) {
        if (decode_state(call.sim, *skiptoken, state) != StateCheck::ok ||
            state.mode != StateMode::list || state.tenant != tenant.id ||
            state.kind != collection_name(kind) || state.top < 1 || state.top > max_page_size) {
            call.error(400, "Request_BadRequest", "Invalid skip token.");
            return;
        }
    } else {
        state.mode = StateMode::list;
        state.tenant = tenant.id;
        state.kind = collection_name(kind);
        state.boot = call.sim.boot_id;
        if (const std::string* top = call.option("$top")) {
            int value = 0;
            const auto r = std::from_chars(top->data(), top->data() + top->size(), value);
            if (r.ec != std::errc() || r.ptr != top->data() + top->size()) {
                call.error(400, "Request_BadRequest", "Invalid value '" + *top + "' for $top.");
                return;
            }
            if (value < 1 || value > max_page_size) {
                call.error(400, "Request_UnsupportedQuery",
                           "Invalid page size specified: '" + *top +
                               "'. Must be between 1 and 999 inclusive.");
                return;
            }
            state.top = value;
        }
        if (const std::string* filter = call.option("$filter")) {
            const std::string f = ascii_lower(normalise_filter(*filter));
            if (kind == Kind::group && f == "mailenabled eq true") {
                state.filter = 1;
            } else if (kind == Kind::group && f == "mailenabled eq false") {
                state.filter = 0;
            } else {
                call.error(400, "Request_UnsupportedQuery", "Unsupported Query.");
                return;
            }
        }
        std::string error;
        const auto sel =
            parse_select(kind, call.option("$select") ? *call.option("$select") : "", error);
        if (!sel) {
            call.error(400, "Request_BadRequest", error);
            return;
        }
        state.select = sel->text;
    }
    std::string error;
    const Selection sel = *parse_select(kind, state.select, error);
    auto matches = [&](std::size_t pos) {
        if (c.slots[pos].deleted) {
            return false;
        }
        return state.filter < 0 ||
               tenant.mail_enabled(kind, static_cast<std::uint32_t>(pos)) == (state.filter == 1);
    };

    std::string items;
    items.reserve(static_cast<std::size_t>(state.top) * 512);
    std::size_t pos = state.position;
    int emitted = 0;
    for (; pos < c.slots.size() && emitted < state.top; ++pos) {
        if (!matches(pos)) {
            continue;
        }
        if (emitted++ > 0) {
            items.push_back(',');
        }
        tenant.append_object(kind, static_cast<std::uint32_t>(pos), sel.props, false, items);
    }
    while (pos < c.slots.size() && !matches(pos)) {  // no nextLink to an empty last page
        ++pos;
    }

    std::string body = "{\"@odata.context\":";
    append_json_string(body, context_url(call.base, collection_name(kind), sel.text));
    if (pos < c.slots.size()) {
        state.position = pos;
        body += ",\"@odata.nextLink\":";
        append_json_string(body, call.base + "/v1.0/" + collection_name(kind) +
                                     "?$skiptoken=" + encode_state(call.sim, state));
    }
    body += ",\"value\":[";
    body += items;
    body += "]}";
    call.ok(std::move(body));
}

// ---- collections: delta ----------------------------------------------------------------------

void delta_gone(Call& call, Kind kind, const std::string& select) {
    std::string location = call.base + "/v1.0/" + collection_name(kind) + "/delta?$deltatoken=";
    if (!select.empty()) {
        location += "&$select=" + select;
    }
    call.res.set_header("Location", location);
    call.error(410, "syncStateNotFound",
               "The sync state generation is not found; it may have expired or been reset. "
               "Restart the synchronization without a state token.");
}

// A token's state is gone when the tenant expired its delta tokens, it is older than 7 days
// (simulator clock), or it comes from an earlier run of the simulator.
StateCheck check_delta_state(Call& call, const Tenant& tenant, Kind kind, std::string_view token,
                             PageState& state) {
    const StateCheck check = decode_state(call.sim, token, state);
    if (check == StateCheck::invalid || state.tenant != tenant.id ||
        state.kind != collection_name(kind) || state.mode == StateMode::list) {
        return StateCheck::invalid;
    }
    if (check == StateCheck::gone || state.generation < tenant.delta_generation ||
        state.issued + delta_token_lifetime < call.sim.clock.now()) {
        return StateCheck::gone;
    }
    return StateCheck::ok;
}

void delta_collection(Call& call, const Tenant& tenant, Kind kind) {
    // user-delta: $filter only "id eq", no $orderby/$expand/$search (B.3); $top is ignored here.
    if (reject_unsupported(call,
                           {"$filter", "$orderby", "$search", "$count", "$expand", "$skip"})) {
        return;
    }
    const Collection& c = tenant.collection(kind);
    const UnixSeconds now = call.sim.clock.now();
    PageState state;
    auto start_state = [&](StateMode mode) {
        state.mode = mode;
        state.tenant = tenant.id;
        state.kind = collection_name(kind);
        state.boot = call.sim.boot_id;
        state.generation = tenant.delta_generation;
        std::string error;
        const auto sel =
            parse_select(kind, call.option("$select") ? *call.option("$select") : "", error);
        if (!sel) {
            call.error(400, "Request_BadRequest", error);
            return false;
        }
        state.select = sel->text;
        return true;
    };

    const std::string* skiptoken = call.option("$skiptoken");
    const std::string* deltatoken = call.option("$deltatoken");
    if (skiptoken != nullptr) {
        const StateCheck check = check_delta_state(call, tenant, kind, *skiptoken, state);
        if (check == StateCheck::invalid || state.mode == StateMode::delta) {
            call.error(400, "Request_BadRequest", "Invalid skip token.");
            return;
        }
        if (check == StateCheck::gone) {
            delta_gone(call, kind, state.select);
            return;
        }
    } else if (deltatoken != nullptr && iequals(*deltatoken, "latest")) {
        if (!start_state(StateMode::delta)) {
            return;
        }
        state.version = tenant.version;
        state.issued = now;
        std::string body = "{\"@odata.context\":";
        append_json_string(body, context_url(call.base, collection_name(kind), state.select));
        body += ",\"value\":[],\"@odata.deltaLink\":";
        append_json_string(body, call.base + "/v1.0/" + collection_name(kind) +
                                     "/delta?$deltatoken=" + encode_state(call.sim, state));
        body += '}';
        call.ok(std::move(body));
        return;
    } else if (deltatoken != nullptr && !deltatoken->empty()) {
        const StateCheck check = check_delta_state(call, tenant, kind, *deltatoken, state);
        if (check == StateCheck::invalid || state.mode != StateMode::delta) {
            call.error(400, "Request_BadRequest", "Invalid delta token.");
            return;
        }
        if (check == StateCheck::gone) {
            delta_gone(call, kind, state.select);
            return;
        }
        // A new round: every change after the token's version, up to now.
        const auto first = std::upper_bound(
            c.changes.begin(), c.changes.end(), state.version,
            [](std::uint64_t v, const Change& change) { return v < change.version; });
        state.mode = StateMode::round;
        state.position = static_cast<std::uint64_t>(first - c.changes.begin());
        state.upto = tenant.version;
    } else {  // initial round (also an empty $deltatoken, as in a 410's Location)
        if (!start_state(StateMode::initial)) {
            return;
        }
        state.upto = tenant.version;
    }

    std::string error;
    const Selection sel = *parse_select(kind, state.select, error);
    const std::size_t page_size = static_cast<std::size_t>(call.sim.options.delta_page_size);
    std::string items;
    items.reserve(page_size * 512);
    std::size_t emitted = 0;
    auto emit = [&](std::uint32_t pos) {
        if (emitted++ > 0) {
            items.push_back(',');
        }
        if (c.slots[pos].deleted) {
            items += "{\"id\":";
            append_json_string(items, tenant.object_id(kind, pos));
            items += ",\"@removed\":{\"reason\":\"deleted\"}}";
        } else {
            tenant.append_object(kind, pos, sel.props, true, items);
        }
    };
    bool more = false;
    if (state.mode == StateMode::initial) {
        std::size_t pos = state.position;
        for (; pos < c.slots.size() && emitted < page_size; ++pos) {
            emit(static_cast<std::uint32_t>(pos));
        }
        state.position = pos;
        more = pos < c.slots.size();
    } else {
        std::size_t cursor = state.position;
        for (; cursor < c.changes.size() && c.changes[cursor].version <= state.upto &&
               emitted < page_size;
             ++cursor) {
            const Change& change = c.changes[cursor];
            if (c.slots[change.position].version == change.version) {  // else superseded
                emit(change.position);
            }
        }
        state.position = cursor;
        more = cursor < c.changes.size() && c.changes[cursor].version <= state.upto;
    }

    state.issued = now;
    std::string body = "{\"@odata.context\":";
    append_json_string(body, context_url(call.base, collection_name(kind), sel.text));
    const std::string link_base = call.base + "/v1.0/" + collection_name(kind) + "/delta?";
    if (more) {
        body += ",\"@odata.nextLink\":";
        append_json_string(body, link_base + "$skiptoken=" + encode_state(call.sim, state));
    }
    body += ",\"value\":[";
    body += items;
    body += ']';
    if (!more) {
        PageState next;
        next.mode = StateMode::delta;
        next.tenant = tenant.id;
        next.kind = collection_name(kind);
        next.version = state.upto;
        next.select = state.select;
        next.generation = state.generation;
        next.issued = now;
        next.boot = call.sim.boot_id;
        body += ",\"@odata.deltaLink\":";
        append_json_string(body, link_base + "$deltatoken=" + encode_state(call.sim, next));
    }
    body += '}';
    call.ok(std::move(body));
}

// ---- domains and applications ----------------------------------------------------------------

// $select on a small resource: the named properties (case-insensitive) plus id.
bool select_fields(Call& call, const std::vector<std::string>& known, const char* type,
                   std::vector<std::string>& out) {
    const std::string* select = call.option("$select");
    if (select == nullptr || select->empty()) {
        return true;
    }
    out.push_back("id");
    for (const std::string& name : split_select(*select)) {
        const auto it = std::find_if(known.begin(), known.end(),
                                     [&](const std::string& k) { return iequals(k, name); });
        if (it == known.end()) {
            call.error(400, "Request_BadRequest",
                       "Could not find a property named '" + name + "' on type '" + type + "'.");
            return false;
        }
        if (std::find(out.begin(), out.end(), *it) == out.end()) {
            out.push_back(*it);
        }
    }
    return true;
}

json project(const json& full, const std::vector<std::string>& fields) {
    if (fields.empty()) {
        return full;
    }
    json out = json::object();
    for (const std::string& f : fields) {
        out[f] = full.contains(f) ? full[f] : json(nullptr);
    }
    return out;
}

std::string context_with(const std::string& base, const char* collection,
                         const std::vector<std::string>& fields) {
    std::string select;
    for (std::size_t i = 1; i < fields.size(); ++i) {  // fields[0] is the implicit id
        select += (i > 1 ? "," : "") + fields[i];
    }
    return context_url(base, collection, select);
}

void list_domains(Call& call, const Tenant& tenant) {
    static const std::vector<std::string> known = {"authenticationType",
                                                   "availabilityStatus",
                                                   "id",
                                                   "isAdminManaged",
                                                   "isDefault",
                                                   "isInitial",
                                                   "isRoot",
                                                   "isVerified",
                                                   "passwordNotificationWindowInDays",
                                                   "passwordValidityPeriodInDays",
                                                   "state",
                                                   "supportedServices"};
    std::vector<std::string> fields;
    if (!select_fields(call, known, "microsoft.graph.domain", fields)) {
        return;
    }
    json body = {{"@odata.context", context_with(call.base, "domains", fields)},
                 {"value", json::array()}};
    for (const json& domain : tenant.domains) {
        body["value"].push_back(project(domain, fields));
    }
    call.ok(body.dump(-1, ' ', false, json::error_handler_t::replace));
}

json application_json(const App& app) {
    json credentials = json::array();
    for (const Secret& s : app.secrets) {
        credentials.push_back({
            {"customKeyIdentifier", nullptr},
            {"displayName", s.display_name},
            {"endDateTime", format_iso8601(s.end)},
            {"hint", s.value.substr(0, 3)},
            {"keyId", s.key_id},
            {"secretText", nullptr},
            {"startDateTime", format_iso8601(s.start)},
        });
    }
    // Uploaded certificates as Graph lists them: customKeyIdentifier is the SHA-1 thumbprint
    // (Edm.Binary, so base64 in JSON); the key itself only on $select=keyCredentials/key,
    // which the simulator does not serve.
    json keys = json::array();
    for (const Certificate& c : app.certificates) {
        std::string thumbprint;
        for (std::size_t i = 0; i + 1 < c.sha1_hex.size(); i += 2) {
            thumbprint.push_back(
                static_cast<char>(std::stoi(c.sha1_hex.substr(i, 2), nullptr, 16)));
        }
        std::string b64 = base64url_encode(thumbprint);
        for (char& ch : b64) {
            ch = ch == '-' ? '+' : ch == '_' ? '/' : ch;
        }
        while (b64.size() % 4 != 0) {
            b64.push_back('=');
        }
        keys.push_back({
            {"customKeyIdentifier", b64},
            {"displayName", "CN=m365gate"},
            {"endDateTime", format_iso8601(c.end)},
            {"key", nullptr},
            {"keyId", guid_from_text("certificate:" + app.app_id + ":" + c.sha1_hex)},
            {"startDateTime", format_iso8601(c.start)},
            {"type", "AsymmetricX509Cert"},
            {"usage", "Verify"},
        });
    }
    return {
        {"id", app.object_id},
        {"appId", app.app_id},
        {"displayName", app.display_name},
        {"createdDateTime", "2024-01-01T00:00:00Z"},
        {"signInAudience", "AzureADMyOrg"},
        {"keyCredentials", keys},
        {"passwordCredentials", credentials},
    };
}

const std::vector<std::string>& application_fields() {
    static const std::vector<std::string> known = {"id",
                                                   "appId",
                                                   "displayName",
                                                   "createdDateTime",
                                                   "signInAudience",
                                                   "keyCredentials",
                                                   "passwordCredentials"};
    return known;
}

// "appId eq '...'" -> the quoted value.
std::optional<std::string> parse_app_id_filter(std::string_view text) {
    const std::string f = normalise_filter(text);
    const std::string prefix = "appid eq '";
    if (f.size() <= prefix.size() + 1 || !istarts_with(f, prefix) || f.back() != '\'') {
        return std::nullopt;
    }
    return f.substr(prefix.size(), f.size() - prefix.size() - 1);
}

void list_applications(Call& call, const Tenant& tenant) {
    std::vector<std::string> fields;
    if (!select_fields(call, application_fields(), "microsoft.graph.application", fields)) {
        return;
    }
    std::optional<std::string> app_id;
    if (const std::string* filter = call.option("$filter")) {
        app_id = parse_app_id_filter(*filter);
        if (!app_id) {
            call.error(400, "Request_UnsupportedQuery", "Unsupported Query.");
            return;
        }
    }
    json body = {{"@odata.context", context_with(call.base, "applications", fields)},
                 {"value", json::array()}};
    for (const App& app : tenant.apps) {
        if (!app_id || iequals(*app_id, app.app_id)) {
            body["value"].push_back(project(application_json(app), fields));
        }
    }
    call.ok(body.dump(-1, ' ', false, json::error_handler_t::replace));
}

// GET /v1.0/applications(appId='...')
void get_application(Call& call, const Tenant& tenant, const std::string& app_id) {
    std::vector<std::string> fields;
    if (!select_fields(call, application_fields(), "microsoft.graph.application", fields)) {
        return;
    }
    const App* app = tenant.find_app(app_id);
    if (app == nullptr) {
        call.error(404, "Request_ResourceNotFound",
                   "Resource '" + app_id +
                       "' does not exist or one of its queried reference-property objects are "
                       "not present.");
        return;
    }
    json body = project(application_json(*app), fields);
    body["@odata.context"] = call.base + "/v1.0/$metadata#applications/$entity";
    call.ok(body.dump(-1, ' ', false, json::error_handler_t::replace));
}

// ---- routing ---------------------------------------------------------------------------------

enum class Endpoint { list, delta, domains, applications, application, unknown };

struct Route {
    Endpoint endpoint = Endpoint::unknown;
    Kind kind = Kind::user;
    std::string argument;  // application(appId='...'), or the unknown segment
};

Route route(const std::string& path) {
    Route r;
    std::string rest = path.substr(std::string("/v1.0/").size());
    while (!rest.empty() && rest.back() == '/') {
        rest.pop_back();
    }
    const std::size_t slash = rest.find('/');
    const std::string first = ascii_lower(rest.substr(0, slash));
    const std::string second =
        slash == std::string::npos ? "" : ascii_lower(rest.substr(slash + 1));
    if (const auto kind = kind_from_collection(first)) {
        r.kind = *kind;
        if (second.empty()) {
            r.endpoint = Endpoint::list;
        } else if (second == "delta" || second == "delta()" || second == "microsoft.graph.delta" ||
                   second == "microsoft.graph.delta()") {
            r.endpoint = Endpoint::delta;
        } else {
            r.argument = rest.substr(slash + 1);
        }
        return r;
    }
    if (first == "domains" && second.empty()) {
        r.endpoint = Endpoint::domains;
    } else if (first == "applications" && second.empty()) {
        r.endpoint = Endpoint::applications;
    } else if (istarts_with(first, "applications(appid='") && first.size() > 22 &&
               first.compare(first.size() - 2, 2, "')") == 0 && second.empty()) {
        r.endpoint = Endpoint::application;
        r.argument = rest.substr(20, rest.size() - 22);
    } else {
        r.argument = rest.substr(0, slash);
    }
    return r;
}

// Application permissions that allow each endpoint (least privileged first).
bool permitted(const App& app, Endpoint endpoint, Kind kind) {
    std::vector<const char*> accepted;
    switch (endpoint) {
        case Endpoint::list:
        case Endpoint::delta:
            if (kind == Kind::user) {
                accepted = {"User.Read.All", "User.ReadWrite.All"};
            } else if (kind == Kind::group) {
                accepted = {"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All"};
            } else {
                accepted = {"OrgContact.Read.All"};
            }
            break;
        case Endpoint::domains:
            accepted = {"Domain.Read.All", "Domain.ReadWrite.All"};
            break;
        case Endpoint::applications:
        case Endpoint::application:
            accepted = {"Application.Read.All", "Application.ReadWrite.All",
                        "Application.ReadWrite.OwnedBy"};
            break;
        case Endpoint::unknown:
            return true;
    }
    accepted.push_back("Directory.Read.All");
    accepted.push_back("Directory.ReadWrite.All");
    for (const std::string& granted : app.permissions) {
        for (const char* a : accepted) {
            if (iequals(granted, a)) {
                return true;
            }
        }
    }
    return false;
}

}  // namespace

void handle_graph(Simulator& sim, const httplib::Request& req, httplib::Response& res,
                  const RequestIds& ids) {
    Call call{sim, req, res, ids, {}, sim.graph_base_for(req)};
    for (const auto& [key, value] : req.params) {
        call.query.emplace(ascii_lower(key), value);
    }
    if (req.method != "GET") {
        call.error(405, "Request_BadRequest",
                   "Specified HTTP method is not allowed for the request target.");
        return;
    }
    const auto token = check_bearer(sim, req, res, ids);
    if (!token) {
        return;
    }
    const Route r = route(req.path);
    std::shared_lock<std::shared_mutex> lock(sim.tenants_mutex);
    const Tenant* tenant = sim.find_tenant(token->tenant_id);
    const App* app = tenant == nullptr ? nullptr : tenant->find_app(token->app_id);
    if (app == nullptr) {
        call.error(401, "InvalidAuthenticationToken",
                   "Access token validation failure. Invalid audience.");
        return;
    }
    if (r.endpoint == Endpoint::unknown) {
        call.error(400, "BadRequest", "Resource not found for the segment '" + r.argument + "'.");
        return;
    }
    if (!permitted(*app, r.endpoint, r.kind)) {
        call.error(403, "Authorization_RequestDenied",
                   "Insufficient privileges to complete the operation.");
        return;
    }
    switch (r.endpoint) {
        case Endpoint::list:
            list_collection(call, *tenant, r.kind);
            break;
        case Endpoint::delta:
            delta_collection(call, *tenant, r.kind);
            break;
        case Endpoint::domains:
            list_domains(call, *tenant);
            break;
        case Endpoint::applications:
            list_applications(call, *tenant);
            break;
        case Endpoint::application:
            get_application(call, *tenant, r.argument);
            break;
        case Endpoint::unknown:
            break;
    }
}

}  // namespace graphsim
