// sync/graph.h - Microsoft Graph GETs with paging, delta links and the retry rules of C.2.
//
// Every request carries `Authorization: Bearer`, a fresh `client-request-id` GUID and
// `Accept: application/json`, and goes only to the configured Graph origin: a nextLink or
// deltaLink elsewhere is refused before any byte is sent (the token goes nowhere else).
// Status handling: 401 drops the token and retries once; 403 is a consent error naming the
// permission the endpoint needs; 410 / syncStateNotFound / resyncRequired throw DeltaReset;
// 429/500/502/503/504/509 and network errors wait Retry-After or back off (capped, jitter) up
// to sync.max_retries. Pages are parsed one at a time (nlohmann, non-throwing) and checked
// field by field: memory is bounded by one page, and a malformed page fails the sync.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/secret.h"
#include "sync/http.h"
#include "sync/sync_error.h"
#include "sync/token.h"

namespace m365gate::sync {

// The application permission (least privileged) a Graph collection needs: "users" ->
// "User.Read.All"; "" when unknown.
const char* permission_for(std::string_view collection);
// "https://h/v1.0/users/delta?x" on origin "https://h" -> "users"; "" when not on it.
std::string collection_of(std::string_view url, std::string_view origin);

struct GraphPage {
    nlohmann::json value;    // the page's "value": an array (possibly empty)
    std::string next_link;   // @odata.nextLink, "" when absent
    std::string delta_link;  // @odata.deltaLink, "" when absent
};

// Graph's error body {"error": {"code": ..., "innerError": {"request-id": ...}}}, keys matched
// case-insensitively. Pure, never throws: anything else gives empty fields.
struct GraphErrorBody {
    std::string code;
    std::string request_id;
};
GraphErrorBody parse_graph_error(const std::string& body);

// Why the body of a 200 response is not a Graph page.
enum class PageDefect { none, not_json, no_value_array };

// The body of a 200 response as a page: not_json when it is not a JSON object, no_value_array
// when it has no "value" array (`page` is then left as it was). Throws SyncError(graph,
// malformed_response) naming `where` when @odata.nextLink or @odata.deltaLink is present but
// not a string. Pure: no I/O, no log (get_page logs the defects).
PageDefect parse_graph_page(const std::string& body, const std::string& where, GraphPage& page);

// Bounds of one tenant's round (sync.max_pages, max_objects, round_budget). Pages and objects
// count per for_each_page() call, i.e. per collection; the deadline holds for every request
// and every retry wait. Past one, a SyncError of kind "limit" (code max_pages, max_objects or
// round_budget) ends the tenant's round.
struct RoundLimits {
    std::uint64_t max_pages = UINT64_MAX;
    std::uint64_t max_objects = UINT64_MAX;
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

class GraphClient {
public:
    GraphClient(HttpClient& http, TokenClient& tokens, const TenantConfig& tenant,
                const Secret& client_secret, RetryPolicy policy, const std::atomic<bool>* stop);

    // graph_endpoint + "/v1.0" + path_and_query ("/users?$top=999").
    std::string url(std::string_view path_and_query) const;

    // One page. Throws SyncError (graph / consent / network / tls / token), DeltaReset,
    // SyncStopped.
    GraphPage get_page(const std::string& url);

    void set_limits(const RoundLimits& limits) { limits_ = limits; }

    // Follows @odata.nextLink from `url` until a page has none; `on_items` gets each page's
    // value array. Returns the final @odata.deltaLink ("" for a plain collection). Throws
    // SyncError (limit) when Graph sends a nextLink after max_pages pages, more than
    // max_objects objects (before on_items sees them), or the deadline passes.
    std::string for_each_page(std::string url,
                              const std::function<void(const nlohmann::json& items)>& on_items);

    // The bearer token (acquired now when not cached): the token check of a reload.
    void ensure_token();

private:
    // An attempt that failed in a way worth another: what failed ("HTTP 503 ...", "timeout:
    // ..."), the code recorded if it is the last, and Retry-After in seconds (-1: none).
    struct RetryableFailure {
        std::string what;
        std::string code;
        long retry_after = -1;
    };

    // The token is only ever sent to the tenant's graph_endpoint: SyncError (foreign_link).
    void refuse_foreign_link(const std::string& url) const;
    HttpResponse send_get(const std::string& url, const std::string& where, int retry,
                          const std::string& client_request_id, bool fresh_connection);
    // Stopped, TLS and the transport errors no retry mends: thrown.
    void throw_on_transport_fault(const HttpResponse& r, const std::string& where) const;
    // A 200: the page, or SyncError (malformed_response).
    GraphPage read_page(HttpResponse& r, const std::string& where,
                        const std::string& client_request_id) const;
    // A non-200 status: logged; throws DeltaReset, consent or a final Graph error; nullopt
    // for a 401 when may_reauthenticate (a new token may mend it).
    std::optional<RetryableFailure> read_error_status(const HttpResponse& r,
                                                      const std::string& where,
                                                      const std::string& collection,
                                                      const std::string& client_request_id,
                                                      int retry, bool may_reauthenticate) const;
    SyncError missing_consent(const std::string& where, const std::string& collection,
                              const std::string& code) const;
    // Waits (backoff or Retry-After) unless the retries, sync.max_backoff or the round's budget
    // are used up (SyncError) or the stop flag is set (SyncStopped).
    void wait_before_retry(const RetryableFailure& failure, bool transport_error,
                           const std::string& where, int retry) const;

    // The SyncError (limit) of a bound, logged.
    SyncError over_limit(const char* limit, const std::string& where, std::uint64_t pages,
                         std::uint64_t objects, const std::string& what) const;
    SyncError over_budget(const std::string& where) const;

    HttpClient& http_;
    TokenClient& tokens_;
    const TenantConfig& tenant_;
    const Secret& client_secret_;
    RetryPolicy policy_;
    const std::atomic<bool>* stop_;
    RoundLimits limits_;
};

}  // namespace m365gate::sync
