// sync/http.h - the one way m365gate-sync speaks HTTPS (libcurl).
//
// Every handle gets the same options from one function (configure_handle in http.cpp):
// https only, no redirects, TLS always verified (sync.ca_file adds a CA bundle; nothing turns
// verification off), connect and total timeouts, a response body cap. The caller decides which
// headers go to which URL; this layer never logs a header or a body. A transfer is aborted as
// soon as the stop flag is set (SIGTERM mid-sync).
// Thread safety: one HttpClient per thread; curl_global_init() must have run (main, tests).
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace m365gate::sync {

class SyncMetrics;

inline constexpr std::size_t default_body_limit = 64u << 20;  // 64 MiB per response

struct HttpOptions {
    std::filesystem::path ca_file;  // extra CA bundle; empty = system CAs
    std::chrono::seconds connect_timeout{10};
    std::chrono::seconds request_timeout{60};
    std::size_t body_limit = default_body_limit;
    SyncMetrics* metrics = nullptr;  // Graph and token requests are counted here when set
};

// How a transfer failed below HTTP. none = a response (any status) arrived.
enum class TransportError { none, tls, network, timeout, too_large, stopped, other };
const char* to_string(TransportError e);

struct HttpResponse {
    TransportError error = TransportError::none;
    std::string error_message;      // curl's text for the failure (no header, body or secret)
    CURLcode curl_code = CURLE_OK;  // the libcurl result behind `error`
    // 0 when no response arrived. With too_large, the status of the response whose body
    // went over the cap (a receiver whose answer is not read still said 2xx or not).
    long status = 0;
    std::string body;
    // Captured response headers (raw values; log them only through log_value()).
    std::string retry_after;
    std::string request_id;
    std::string client_request_id;
    std::string location;
    std::string content_type;
};

struct EasyCleanup {
    void operator()(CURL* h) const noexcept { curl_easy_cleanup(h); }
};
struct SlistFree {
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
using EasyHandle = std::unique_ptr<CURL, EasyCleanup>;
using HeaderList = std::unique_ptr<curl_slist, SlistFree>;

class HttpClient {
public:
    // `stop` may be null; when set, a running transfer ends with TransportError::stopped.
    HttpClient(HttpOptions options, const std::atomic<bool>* stop);
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // `headers` are complete header lines ("Accept: application/json"). fresh_connection asks
    // for a new connection (Graph: after a 503, retry "over a new HTTP connection").
    HttpResponse get(const std::string& url, const std::vector<std::string>& headers,
                     bool fresh_connection = false);
    // POST application/x-www-form-urlencoded; `form` is already encoded.
    HttpResponse post_form(const std::string& url, const std::string& form,
                           const std::vector<std::string>& headers);
    // POST application/json (charset=utf-8); `json` goes out byte for byte (alert webhook).
    HttpResponse post_json(const std::string& url, const std::string& json,
                           std::vector<std::string> headers = {});

    SyncMetrics* metrics() const noexcept { return options_.metrics; }

    // curl_easy_escape() of `in` (form values, path segments).
    std::string escape(const std::string& in);

private:
    HttpResponse perform(const std::string& url, const std::vector<std::string>& headers,
                         const std::string* form, bool fresh_connection);

    HttpOptions options_;
    const std::atomic<bool>* stop_;
    EasyHandle easy_;
};

// Retries of one request (429, 5xx, network): Retry-After when the server sent one, else
// capped exponential backoff with jitter, first wait >= first_backoff (Entra guidance: 5 s)
// unless max_backoff is smaller.
struct RetryPolicy {
    int max_retries = 6;
    std::chrono::seconds max_backoff{300};
    std::chrono::seconds first_backoff{5};
};
// Wait before retry number `retry` (0-based): min(first_backoff * 2^(retry+1), max_backoff)
// * [0.5, 1): retry 0 waits 5-10 s, retry 1 10-20 s, ...; a capped wait is in
// [max_backoff / 2, max_backoff), a different one each time.
std::chrono::milliseconds backoff_delay(int retry, const RetryPolicy& policy);
// Sleeps `delay` in short slices; false when `stop` was set meanwhile.
bool sleep_unless_stopped(std::chrono::milliseconds delay, const std::atomic<bool>* stop);
// A random RFC 4122 version-4 GUID (client-request-id).
std::string new_guid();

// The longest wait a Retry-After can ask for; more is taken as this much (which is still
// longer than any sensible sync.max_backoff, so the request fails instead of waiting).
inline constexpr long max_retry_after = 24 * 3600;
// "12" -> 12 s; an HTTP-date -> seconds from now (>= 0); both capped at max_retry_after, so
// the value may be multiplied into milliseconds. Junk or empty -> -1.
long parse_retry_after(const std::string& value);

// The URL is on the configured origin ("https://graph.microsoft.com"): same bytes, then '/'.
// Rejects "https://graph.microsoft.com.evil.example/..." and "...com@evil.example/".
bool same_origin(std::string_view url, std::string_view origin);

}  // namespace m365gate::sync
