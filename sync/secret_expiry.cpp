// sync/secret_expiry.cpp - the secret's fingerprint and expiry (see secret_expiry.h).
#include "sync/secret_expiry.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <stdexcept>

#include "common/log.h"
#include "common/text.h"
#include "sync/graph.h"
#include "sync/http.h"
#include "sync/sync_error.h"
#include "sync/tenant_sync.h"

namespace m365gate::sync {

namespace {

using json = nlohmann::json;
using store::TenantState;
constexpr std::int64_t graph_expiry_refresh_s = 6 * 3600;
constexpr const char* source_graph = "graph";

std::int64_t to_unix(SysTime t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// What Graph said about the secret's hint: the earliest endDateTime and how many matched;
// the application's displayName, and displayName and keyId of the earliest match.
struct HintMatches {
    int count = 0;
    std::optional<SysTime> earliest;
    std::string app_name;
    std::string secret_name;
    std::string key_id;
};

// A display name or key id as Graph sent it (UTF-8, checked by the JSON parser): controls
// dropped, at most 200 octets cut on a character boundary. "" when absent.
std::string string_field(const json& object, const char* name) {
    const auto it = object.find(name);
    if (it == object.end() || !it->is_string()) {
        return {};
    }
    std::string out;
    for (const char ch : it->get_ref<const std::string&>()) {
        const auto u = static_cast<unsigned char>(ch);
        if (u >= 0x20 && u != 0x7f) {
            out.push_back(ch);
        }
    }
    return out.size() > 200 ? out.substr(0, utf8_cut_point(out, 200)) : out;
}

// Adds the passwordCredentials of one application object whose appId is client_id.
void match_application(const json& app, const std::string& client_id, const std::string& hint,
                       HintMatches& matches) {
    if (!app.is_object()) {
        return;
    }
    const auto app_id = app.find("appId");
    const auto creds = app.find("passwordCredentials");
    if (app_id == app.end() || !app_id->is_string() ||
        app_id->get_ref<const std::string&>() != client_id || creds == app.end() ||
        !creds->is_array()) {
        return;
    }
    matches.app_name = string_field(app, "displayName");
    for (const auto& pc : *creds) {
        const auto h = pc.is_object() ? pc.find("hint") : pc.end();
        const auto end = pc.is_object() ? pc.find("endDateTime") : pc.end();
        if (h == pc.end() || !h->is_string() || h->get_ref<const std::string&>() != hint ||
            end == pc.end() || !end->is_string()) {
            continue;
        }
        const auto when = parse_graph_end_date(end->get_ref<const std::string&>());
        if (!when) {
            continue;
        }
        ++matches.count;
        if (!matches.earliest || *when < *matches.earliest) {
            matches.earliest = *when;
            matches.secret_name = string_field(pc, "displayName");
            matches.key_id = string_field(pc, "keyId");
        }
    }
}

// The Graph expiry cached for this secret, if any.
void apply_cached(const TenantRuntime& rt, const std::string& fp, TenantState& st) {
    if (rt.graph_expiry_fingerprint == fp && rt.graph_expiry != 0) {
        st.secret_expires = rt.graph_expiry;
        st.secret_expires_source = source_graph;
    }
}

bool cache_is_fresh(const TenantRuntime& rt, const std::string& fp, std::int64_t now) {
    return rt.graph_expiry_fingerprint == fp && rt.graph_expiry_checked != 0 &&
           now - rt.graph_expiry_checked < graph_expiry_refresh_s && now >= rt.graph_expiry_checked;
}

// Logs why the lookup failed; a 403 turns it off for the rest of the process.
void note_lookup_failure(const SyncError& e, const TenantConfig& t, TenantRuntime& rt) {
    if (e.result().error_kind == error_kind_text(ErrorKind::consent)) {
        rt.applications_forbidden = true;
        spdlog::warn(
            "tenant={} event=secret_expiry source=graph status=forbidden permission={} "
            "note=\"grant it, or set expires in the credential file or client_secret_expires; "
            "not asked again until restart\"",
            t.name, permission_for("applications"));
    } else {
        spdlog::warn(
            "tenant={} event=secret_expiry source=graph status=error error_kind={} "
            "error_code={}",
            t.name, e.result().error_kind, log_value(e.result().error_code, 80));
    }
}

// Records what a lookup found in the cache and in the state.
void apply_matches(const HintMatches& matches, const TenantConfig& t, TenantRuntime& rt,
                   TenantState& st) {
    st.app_name = matches.app_name;
    st.secret_name = matches.secret_name;
    st.secret_key_id = matches.key_id;
    if (!matches.earliest) {
        rt.graph_expiry = 0;
        if (st.secret_expires_local != 0) {
            st.secret_expires = st.secret_expires_local;  // the local date, for want of Graph's
            st.secret_expires_source = st.secret_expires_local_source;
        }
        spdlog::warn(
            "tenant={} event=secret_expiry source=graph status=no_match "
            "note=\"no passwordCredential of the app matches the secret in use\"",
            t.name);
        if (st.secret_expires_source == source_graph) {
            st.secret_expires = 0;
            st.secret_expires_source.clear();
        }
        return;
    }
    rt.graph_expiry = to_unix(*matches.earliest);
    st.secret_expires = rt.graph_expiry;
    st.secret_expires_source = source_graph;
    if (local_expiry_disagrees(st)) {
        spdlog::warn(
            "tenant={} event=secret_expiry status=mismatch expires={} local={} local_source={} "
            "note=\"Graph is the authority; the local date is ignored: fix or remove it\"",
            t.name, format_datetime_utc(*matches.earliest), format_utc(st.secret_expires_local),
            st.secret_expires_local_source);
    }
    if (matches.count > 1) {
        spdlog::info(
            "tenant={} event=secret_expiry source=graph expires={} matches={} "
            "note=\"several secrets share the hint; the earliest expiry is used\"",
            t.name, format_datetime_utc(*matches.earliest), matches.count);
    } else {
        spdlog::debug("tenant={} event=secret_expiry source=graph expires={}", t.name,
                      format_datetime_utc(*matches.earliest));
    }
}

}  // namespace

std::optional<SysTime> parse_graph_end_date(std::string_view text) {
    if (auto t = parse_datetime(text)) {
        return t;
    }
    if (text.size() < 20 || text.size() > 40 || text[4] != '-') {
        return std::nullopt;
    }
    int year = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return std::nullopt;
        }
        year = year * 10 + (text[i] - '0');
    }
    // Only a year beyond SysTime's range is clamped; the rest of the text must be well formed
    // (checked on the same text with an in-range year).
    if (year < 2262 || !parse_datetime("2000" + std::string(text.substr(4)))) {
        return std::nullopt;
    }
    return parse_datetime("2261-12-31T23:59:59Z");
}

std::string secret_fingerprint(const Secret& secret) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(secret.reveal().data(), secret.reveal().size(), digest, &length, EVP_sha256(),
                   nullptr) != 1) {
        throw std::runtime_error("EVP_Digest(sha256) failed");
    }
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < 4 && i < length; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 0xf]);
    }
    return out;
}

void apply_secret_fields(TenantState& st, const TenantConfig& t, const Credential& cred) {
    const std::string fp = secret_fingerprint(cred.secret);
    if (st.secret_fingerprint != fp && st.secret_expires_source == source_graph) {
        st.secret_expires = 0;  // belonged to the previous secret
        st.secret_expires_source.clear();
    }
    if (st.secret_fingerprint != fp) {
        st.secret_name.clear();  // Graph's names of the previous secret
        st.secret_key_id.clear();
    }
    st.secret_fingerprint = fp;
    st.secret_expires_local = 0;
    st.secret_expires_local_source.clear();
    if (cred.certificate) {
        // A certificate's notAfter is its expiry: no other date to weigh against it.
        st.secret_expires = cred.expires ? to_unix(*cred.expires) : 0;
        st.secret_expires_source = cred.expires ? "certificate" : "";
        return;
    }
    if (cred.expires) {
        st.secret_expires_local = to_unix(*cred.expires);
        st.secret_expires_local_source = "credential_file";
    } else if (t.client_secret_expires) {
        st.secret_expires_local = to_unix(*t.client_secret_expires);
        st.secret_expires_local_source = "config";
    }
    if (st.secret_expires_local != 0 && st.secret_expires_source == source_graph &&
        st.secret_fingerprint == fp && st.secret_expires != 0) {
        // Graph's date for this secret stays until Graph says otherwise: it is the authority.
    } else if (st.secret_expires_local != 0) {
        st.secret_expires = st.secret_expires_local;
        st.secret_expires_source = st.secret_expires_local_source;
    } else if (st.secret_expires_source != source_graph) {
        st.secret_expires = 0;
        st.secret_expires_source.clear();
    }
}

void lookup_secret_expiry(GraphClient& graph, HttpClient& http, const TenantConfig& t,
                          TenantRuntime& rt, const Secret& secret, TenantState& st,
                          std::int64_t now) {
    const std::string fp = secret_fingerprint(secret);
    if (rt.applications_forbidden || cache_is_fresh(rt, fp, now)) {
        apply_cached(rt, fp, st);
        return;
    }
    const std::string hint = secret.reveal().substr(0, 3);
    HintMatches matches;
    try {
        const std::string url =
            graph.url("/applications?$filter=appId%20eq%20'" + http.escape(t.client_id) +
                      "'&$select=id,appId,displayName,passwordCredentials");
        graph.for_each_page(url, [&](const json& items) {
            for (const auto& app : items) {
                match_application(app, t.client_id, hint, matches);
            }
        });
    } catch (const SyncError& e) {
        note_lookup_failure(e, t, rt);
        apply_cached(rt, fp, st);
        return;
    } catch (const DeltaReset&) {
        apply_cached(rt, fp, st);
        return;
    }
    rt.graph_expiry_checked = now;
    rt.graph_expiry_fingerprint = fp;
    apply_matches(matches, t, rt, st);
}

}  // namespace m365gate::sync
