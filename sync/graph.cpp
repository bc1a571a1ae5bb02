// sync/graph.cpp - Graph requests, status handling (reference C.2) and page parsing.
#include "sync/graph.h"

#include <spdlog/spdlog.h>
#include <strings.h>

#include "common/log.h"
#include "sync/sync_error.h"
#include "sync/sync_metrics.h"

namespace m365gate::sync {
namespace {

using json = nlohmann::json;

// A key of `j`, matched case-insensitively ("innerError" / "innererror").
const json* find_ci(const json& j, const char* key) {
    if (!j.is_object()) {
        return nullptr;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (strcasecmp(it.key().c_str(), key) == 0) {
            return &it.value();
        }
    }
    return nullptr;
}

// Path only ("/v1.0/users"), for logs and messages: the query (skiptoken) says nothing useful.
std::string path_of(std::string_view url, std::string_view origin) {
    if (url.size() > origin.size() && same_origin(url, origin)) {
        url.remove_prefix(origin.size());
    } else {
        const auto scheme = url.find("://");
        if (scheme != std::string_view::npos) {
            const auto slash = url.find('/', scheme + 3);
            url = slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
        }
    }
    url = url.substr(0, url.find('?'));
    return printable(url, 120);
}

// The host part of a link, for the "refused" message.
std::string host_of(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        return printable(url, 60);
    }
    url.remove_prefix(scheme + 3);
    return printable(url.substr(0, url.find_first_of("/?#")), 120);
}

bool retryable_status(long s) {
    return s == 429 || s == 500 || s == 502 || s == 503 || s == 504 || s == 509;
}

bool equals_ci(const std::string& a, const char* b) { return strcasecmp(a.c_str(), b) == 0; }

const json* optional_string_link(const json& page, const char* key, const std::string& where) {
    const auto it = page.find(key);
    if (it == page.end()) {
        return nullptr;
    }
    if (!it->is_string()) {
        throw sync_error(
            ErrorKind::graph, "malformed_response",
            "Graph sent a page whose " + std::string(key) + " is not a string (GET " + where + ")");
    }
    return &*it;
}

}  // namespace

GraphErrorBody parse_graph_error(const std::string& body) {
    GraphErrorBody e;
    const json j = json::parse(body, nullptr, false);
    const json* err = j.is_discarded() ? nullptr : find_ci(j, "error");
    if (err == nullptr) {
        return e;
    }
    if (const json* code = find_ci(*err, "code"); code != nullptr && code->is_string()) {
        e.code = code->get<std::string>();
    }
    if (const json* inner = find_ci(*err, "innerError"); inner != nullptr) {
        if (const json* rid = find_ci(*inner, "request-id"); rid != nullptr && rid->is_string()) {
            e.request_id = rid->get<std::string>();
        }
    }
    return e;
}

PageDefect parse_graph_page(const std::string& body, const std::string& where, GraphPage& page) {
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return PageDefect::not_json;
    }
    const auto value = doc.find("value");
    if (value == doc.end() || !value->is_array()) {
        return PageDefect::no_value_array;
    }
    GraphPage out;
    if (const json* next = optional_string_link(doc, "@odata.nextLink", where)) {
        out.next_link = next->get<std::string>();
    }
    if (const json* delta = optional_string_link(doc, "@odata.deltaLink", where)) {
        out.delta_link = delta->get<std::string>();
    }
    out.value = std::move(*value);
    page = std::move(out);
    return PageDefect::none;
}

const char* permission_for(std::string_view collection) {
    if (collection == "users") {
        return "User.Read.All";
    }
    if (collection == "groups") {
        return "GroupMember.Read.All";
    }
    if (collection == "contacts") {
        return "OrgContact.Read.All";
    }
    if (collection == "domains") {
        return "Domain.Read.All";
    }
    if (collection == "applications") {
        return "Application.Read.All";
    }
    return "";
}

std::string collection_of(std::string_view url, std::string_view origin) {
    if (!same_origin(url, origin)) {
        return "";
    }
    url.remove_prefix(origin.size() + 1);
    const auto slash = url.find('/');
    if (slash == std::string_view::npos) {
        return "";
    }
    url.remove_prefix(slash + 1);  // the version segment ("v1.0")
    return std::string(url.substr(0, url.find_first_of("/?(")));
}

GraphClient::GraphClient(HttpClient& http, TokenClient& tokens, const TenantConfig& tenant,
                         const Secret& client_secret, RetryPolicy policy,
                         const std::atomic<bool>* stop)
    : http_(http),
      tokens_(tokens),
      tenant_(tenant),
      client_secret_(client_secret),
      policy_(policy),
      stop_(stop) {}

std::string GraphClient::url(std::string_view path_and_query) const {
    return tenant_.graph_endpoint + "/v1.0" + std::string(path_and_query);
}

void GraphClient::ensure_token() { tokens_.get(http_, tenant_, client_secret_, policy_, stop_); }

GraphPage GraphClient::get_page(const std::string& url) {
    const std::string where = path_of(url, tenant_.graph_endpoint);
    refuse_foreign_link(url);
    const std::string collection = collection_of(url, tenant_.graph_endpoint);
    bool reauthenticated = false;
    bool fresh_connection = false;
    for (int retry = 0;;) {
        if (stop_ != nullptr && stop_->load()) {
            throw SyncStopped();
        }
        if (std::chrono::steady_clock::now() >= limits_.deadline) {
            throw over_budget(where);
        }
        const std::string client_request_id = new_guid();
        HttpResponse r = send_get(url, where, retry, client_request_id, fresh_connection);
        fresh_connection = false;
        throw_on_transport_fault(r, where);
        RetryableFailure failure;
        if (r.error != TransportError::none) {
            failure.what = std::string(to_string(r.error)) + ": " + r.error_message;
            failure.code = to_string(r.error);
        } else if (r.status == 200) {
            return read_page(r, where, client_request_id);
        } else {
            auto status_failure =
                read_error_status(r, where, collection, client_request_id, retry, !reauthenticated);
            if (!status_failure) {  // a 401: one new token, then it counts as a failure
                reauthenticated = true;
                tokens_.invalidate();
                continue;
            }
            failure = std::move(*status_failure);
            fresh_connection = r.status == 503;
        }
        wait_before_retry(failure, r.error != TransportError::none, where, retry);
        ++retry;
    }
}

void GraphClient::refuse_foreign_link(const std::string& url) const {
    const std::string& origin = tenant_.graph_endpoint;
    if (same_origin(url, origin)) {
        return;
    }
    spdlog::error("tenant={} event=graph status=refused_link host={} expected={}", tenant_.name,
                  log_value(host_of(url)), log_value(origin));
    throw sync_error(ErrorKind::graph, "foreign_link",
                     "Graph sent a link to another host (" + host_of(url) +
                         "); refused, the token is only sent to " + printable(origin));
}

HttpResponse GraphClient::send_get(const std::string& url, const std::string& where, int retry,
                                   const std::string& client_request_id, bool fresh_connection) {
    const Secret& token = tokens_.get(http_, tenant_, client_secret_, policy_, stop_);
    std::vector<std::string> headers;
    headers.reserve(3);
    headers.push_back("Authorization: Bearer " + token.reveal());
    headers.push_back("client-request-id: " + client_request_id);
    headers.push_back("Accept: application/json");
    // Path only: the query holds skip and delta tokens, and no header is ever logged.
    spdlog::debug("tenant={} event=graph_request path={} retry={} client_request_id={}",
                  tenant_.name, where, retry, client_request_id);
    HttpResponse r = http_.get(url, headers, fresh_connection);
    if (SyncMetrics* m = http_.metrics(); m != nullptr && r.error != TransportError::stopped) {
        m->graph_request(tenant_.name, r.status);
    }
    for (char& c : headers.front()) {
        c = '\0';
    }
    return r;
}

void GraphClient::throw_on_transport_fault(const HttpResponse& r, const std::string& where) const {
    if (r.error == TransportError::stopped) {
        throw SyncStopped();
    }
    if (r.error == TransportError::tls) {
        spdlog::error("tenant={} event=graph status=error kind=tls path={} error={}", tenant_.name,
                      where, log_value(r.error_message));
        throw sync_error(ErrorKind::tls, "",
                         "TLS error talking to Graph " + printable(tenant_.graph_endpoint) + ": " +
                             printable(r.error_message));
    }
    if (r.error == TransportError::too_large || r.error == TransportError::other) {
        spdlog::error("tenant={} event=graph status=error kind={} path={} error={}", tenant_.name,
                      to_string(r.error), where, log_value(r.error_message));
        throw sync_error(ErrorKind::graph, to_string(r.error),
                         "GET " + where + " failed: " + printable(r.error_message));
    }
}

GraphPage GraphClient::read_page(HttpResponse& r, const std::string& where,
                                 const std::string& client_request_id) const {
    GraphPage out;
    const PageDefect defect = parse_graph_page(r.body, where, out);
    const std::size_t bytes = r.body.size();
    r.body.clear();
    r.body.shrink_to_fit();
    if (defect == PageDefect::not_json) {
        spdlog::error(
            "tenant={} event=graph status=error kind=malformed_response path={} bytes={} "
            "request_id={} client_request_id={}",
            tenant_.name, where, bytes, log_value(r.request_id, 64), client_request_id);
        throw sync_error(ErrorKind::graph, "malformed_response",
                         "Graph sent a page that is not valid JSON (GET " + where + ", " +
                             std::to_string(bytes) + " bytes)");
    }
    if (defect == PageDefect::no_value_array) {
        spdlog::error(
            "tenant={} event=graph status=error kind=malformed_response path={} "
            "request_id={} client_request_id={} detail=no_value_array",
            tenant_.name, where, log_value(r.request_id, 64), client_request_id);
        throw sync_error(ErrorKind::graph, "malformed_response",
                         "Graph sent a page without a \"value\" array (GET " + where + ")");
    }
    spdlog::trace("tenant={} event=graph_page path={} items={} request_id={}", tenant_.name, where,
                  out.value.size(), log_value(r.request_id, 64));
    return out;
}

std::optional<GraphClient::RetryableFailure> GraphClient::read_error_status(
    const HttpResponse& r, const std::string& where, const std::string& collection,
    const std::string& client_request_id, int retry, bool may_reauthenticate) const {
    const GraphErrorBody e = parse_graph_error(r.body);
    const std::string& code = e.code;
    const std::string request_id = !r.request_id.empty() ? r.request_id : e.request_id;
    const bool reset = r.status == 410 || equals_ci(e.code, "syncStateNotFound") ||
                       equals_ci(e.code, "resyncRequired");
    const auto level = retryable_status(r.status) ? spdlog::level::warn : spdlog::level::err;
    spdlog::log(level,
                "tenant={} event=graph status={} code={} path={} request_id={} "
                "client_request_id={} retry={}",
                tenant_.name, r.status, log_value(code, 80), where, log_value(request_id, 64),
                client_request_id, retry);
    if (reset) {
        throw DeltaReset("Graph refused the delta link of " + collection + " (HTTP " +
                         std::to_string(r.status) + " " + printable(code, 80) + ")");
    }
    if (r.status == 401 && may_reauthenticate) {
        return std::nullopt;
    }
    if (r.status == 403) {
        throw missing_consent(where, collection, code);
    }
    if (!retryable_status(r.status)) {
        throw sync_error(ErrorKind::graph,
                         code.empty() ? std::to_string(r.status) : printable(code, 80),
                         "GET " + where + " failed: HTTP " + std::to_string(r.status) +
                             (code.empty() ? "" : " " + printable(code, 80)));
    }
    RetryableFailure failure;
    failure.what = "HTTP " + std::to_string(r.status) + (code.empty() ? "" : " " + code);
    failure.retry_after = parse_retry_after(r.retry_after);
    failure.code = code.empty() ? std::to_string(r.status) : code;
    return failure;
}

SyncError GraphClient::missing_consent(const std::string& where, const std::string& collection,
                                       const std::string& code) const {
    const std::string permission = permission_for(collection);
    SyncResult res;
    res.error_kind = error_kind_text(ErrorKind::consent);
    res.error_code = code.empty() ? "403" : printable(code, 80);
    res.missing_permission = permission;
    res.message = "Graph refused GET " + where + " (403 " + printable(code, 80) +
                  "): admin consent for the application permission " +
                  (permission.empty() ? std::string("needed") : permission) +
                  " (or Directory.Read.All) is missing";
    return SyncError(res);
}

void GraphClient::wait_before_retry(const RetryableFailure& failure, bool transport_error,
                                    const std::string& where, int retry) const {
    if (retry >= policy_.max_retries) {
        throw sync_error(transport_error ? ErrorKind::network : ErrorKind::graph,
                         printable(failure.code, 80),
                         "GET " + where + " failed after " + std::to_string(retry + 1) +
                             " attempts: " + printable(failure.what));
    }
    if (failure.retry_after > policy_.max_backoff.count()) {
        throw sync_error(ErrorKind::graph, printable(failure.code, 80),
                         "Graph asked to wait " + std::to_string(failure.retry_after) +
                             " s before GET " + where +
                             ", more than sync.max_backoff; trying again next round");
    }
    const std::chrono::milliseconds wait =
        failure.retry_after >= 0 ? std::chrono::milliseconds(failure.retry_after * 1000)
                                 : backoff_delay(retry, policy_);
    if (limits_.deadline - std::chrono::steady_clock::now() < wait) {
        throw over_budget(where);
    }
    spdlog::warn("tenant={} event=graph_retry path={} reason={} wait_ms={} retry={}", tenant_.name,
                 where, log_value(failure.what, 160), wait.count(), retry + 1);
    if (!sleep_unless_stopped(wait, stop_)) {
        throw SyncStopped();
    }
}

std::string GraphClient::for_each_page(
    std::string url, const std::function<void(const nlohmann::json& items)>& on_items) {
    const std::string where = path_of(url, tenant_.graph_endpoint);
    std::uint64_t pages = 0;
    std::uint64_t objects = 0;
    for (;;) {
        GraphPage page = get_page(url);
        ++pages;
        objects += page.value.size();  // a page is at most body_limit bytes: no wrap-around
        if (objects > limits_.max_objects) {
            throw over_limit(
                "max_objects", where, pages, objects,
                "more than sync.max_objects (" + std::to_string(limits_.max_objects) + ") objects");
        }
        on_items(page.value);
        if (page.next_link.empty()) {
            return page.delta_link;
        }
        if (pages >= limits_.max_pages) {
            throw over_limit("max_pages", where, pages, objects,
                             "a nextLink after sync.max_pages (" +
                                 std::to_string(limits_.max_pages) + ") pages");
        }
        url = std::move(page.next_link);
    }
}

SyncError GraphClient::over_limit(const char* limit, const std::string& where, std::uint64_t pages,
                                  std::uint64_t objects, const std::string& what) const {
    spdlog::error(
        "tenant={} event=graph status=error kind=limit limit={} path={} pages={} objects={}",
        tenant_.name, limit, where, pages, objects);
    return sync_error(ErrorKind::limit, limit,
                      "Graph sent " + what + " for GET " + where +
                          "; this round of the tenant is given up, its last good list stays");
}

SyncError GraphClient::over_budget(const std::string& where) const {
    spdlog::error("tenant={} event=graph status=error kind=limit limit=round_budget path={}",
                  tenant_.name, where);
    return sync_error(ErrorKind::limit, "round_budget",
                      "the tenant's round took longer than sync.round_budget (at GET " + where +
                          "); given up, its last good list stays");
}

}  // namespace m365gate::sync
