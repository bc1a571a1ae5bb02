// sync/http.cpp - libcurl behind HttpClient; every handle configured by configure_handle().
#include "sync/http.h"

#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <stdexcept>
#include <thread>

namespace m365gate::sync {
namespace {

struct Transfer {
    HttpResponse* response = nullptr;
    std::size_t body_limit = 0;
    bool too_large = false;
    const std::atomic<bool>* stop = nullptr;
};

// CURLOPT_WRITEFUNCTION with a cap: returning less than n fails the transfer.
std::size_t on_body(char* p, std::size_t size, std::size_t nmemb, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    const std::size_t n = size * nmemb;
    if (t->response->body.size() + n > t->body_limit) {
        t->too_large = true;
        return 0;
    }
    t->response->body.append(p, n);
    return n;
}

std::string trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() &&
           (v.back() == ' ' || v.back() == '\t' || v.back() == '\r' || v.back() == '\n')) {
        v.remove_suffix(1);
    }
    return std::string(v.substr(0, 2048));  // a header value we keep is short; cap it
}

bool header_is(std::string_view name, const char* want) {
    return name.size() == std::strlen(want) && strncasecmp(name.data(), want, name.size()) == 0;
}

// Captures the few response headers the Graph client needs. A new status line (a 100
// Continue, or a second response) starts over.
std::size_t on_header(char* p, std::size_t size, std::size_t nmemb, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    const std::size_t n = size * nmemb;
    std::string_view line(p, n);
    if (line.rfind("HTTP/", 0) == 0) {
        HttpResponse& r = *t->response;
        r.retry_after.clear();
        r.request_id.clear();
        r.client_request_id.clear();
        r.location.clear();
        r.content_type.clear();
        return n;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
        return n;
    }
    const std::string_view name = line.substr(0, colon);
    const std::string value = trim(line.substr(colon + 1));
    HttpResponse& r = *t->response;
    if (header_is(name, "retry-after")) {
        r.retry_after = value;
    } else if (header_is(name, "request-id")) {
        r.request_id = value;
    } else if (header_is(name, "client-request-id")) {
        r.client_request_id = value;
    } else if (header_is(name, "location")) {
        r.location = value;
    } else if (header_is(name, "content-type")) {
        r.content_type = value;
    }
    return n;
}

int on_progress(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* t = static_cast<Transfer*>(userdata);
    return (t->stop != nullptr && t->stop->load()) ? 1 : 0;
}

// THE place where a curl handle gets its options. There is deliberately no parameter
// that weakens TLS verification.
void configure_handle(CURL* h, const HttpOptions& o, Transfer* transfer) {
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!o.ca_file.empty()) {
        curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str());
    }
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(o.connect_timeout.count()) * 1000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.request_timeout.count()) * 1000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "m365gate-sync/0.1");
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.body_limit));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, transfer);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, transfer);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, transfer);
}

TransportError classify(CURLcode rc) {
    switch (rc) {
        case CURLE_OK:
            return TransportError::none;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_USE_SSL_FAILED:
            return TransportError::tls;
        case CURLE_OPERATION_TIMEDOUT:
            return TransportError::timeout;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_WEIRD_SERVER_REPLY:
            return TransportError::network;
        case CURLE_FILESIZE_EXCEEDED:
            return TransportError::too_large;
        case CURLE_ABORTED_BY_CALLBACK:
            return TransportError::stopped;
        default:
            return TransportError::other;
    }
}

}  // namespace

const char* to_string(TransportError e) {
    switch (e) {
        case TransportError::none:
            return "none";
        case TransportError::tls:
            return "tls";
        case TransportError::network:
            return "network";
        case TransportError::timeout:
            return "timeout";
        case TransportError::too_large:
            return "too_large";
        case TransportError::stopped:
            return "stopped";
        case TransportError::other:
            return "other";
    }
    return "other";
}

HttpClient::HttpClient(HttpOptions options, const std::atomic<bool>* stop)
    : options_(std::move(options)), stop_(stop), easy_(curl_easy_init()) {
    if (!easy_) {
        throw std::runtime_error("curl_easy_init failed");
    }
}

HttpResponse HttpClient::get(const std::string& url, const std::vector<std::string>& headers,
                             bool fresh_connection) {
    return perform(url, headers, nullptr, fresh_connection);
}

HttpResponse HttpClient::post_form(const std::string& url, const std::string& form,
                                   const std::vector<std::string>& headers) {
    return perform(url, headers, &form, false);
}

HttpResponse HttpClient::post_json(const std::string& url, const std::string& json,
                                   std::vector<std::string> headers) {
    headers.emplace_back("Content-Type: application/json; charset=utf-8");
    return perform(url, headers, &json, false);
}

std::string HttpClient::escape(const std::string& in) {
    char* out = curl_easy_escape(easy_.get(), in.data(), static_cast<int>(in.size()));
    if (out == nullptr) {
        throw std::runtime_error("curl_easy_escape failed");
    }
    std::string result(out);
    curl_free(out);
    return result;
}

HttpResponse HttpClient::perform(const std::string& url, const std::vector<std::string>& headers,
                                 const std::string* form, bool fresh_connection) {
    HttpResponse response;
    Transfer transfer{&response, options_.body_limit, false, stop_};
    CURL* h = easy_.get();
    configure_handle(h, options_, &transfer);

    HeaderList list;
    for (const auto& line : headers) {
        curl_slist* next = curl_slist_append(list.get(), line.c_str());
        if (next == nullptr) {
            throw std::runtime_error("curl_slist_append failed");
        }
        list.release();
        list.reset(next);
    }
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
    if (fresh_connection) {
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    }
    if (form != nullptr) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, form->c_str());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(form->size()));
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }

    const CURLcode rc = curl_easy_perform(h);
    // The header list and the form (which may hold a secret) must not outlive this call in
    // the handle: reset drops curl's pointers to them.
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    for (curl_slist* l = list.get(); l != nullptr; l = l->next) {
        for (char* c = l->data; *c != '\0'; ++c) {
            *c = '\0';  // the Authorization line held a bearer token
        }
    }

    if (rc != CURLE_OK) {
        response.error = transfer.too_large ? TransportError::too_large : classify(rc);
        response.curl_code = rc;
        response.error_message = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
        if (response.error == TransportError::too_large) {
            response.error_message =
                "response body larger than " + std::to_string(options_.body_limit) + " bytes";
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
        }
        response.body.clear();
        return response;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
}

std::chrono::milliseconds backoff_delay(int retry, const RetryPolicy& policy) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const double base_ms = static_cast<double>(policy.first_backoff.count()) * 1000.0;
    const double cap_ms = static_cast<double>(policy.max_backoff.count()) * 1000.0;
    // The ceiling first, then the jitter: capped waits still differ, so clients throttled
    // together do not retry together (a jitter applied before the cap made them all equal).
    const double ceiling = std::min(base_ms * std::pow(2.0, std::min(retry, 20) + 1), cap_ms);
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(ceiling * jitter(rng)));
}

bool sleep_unless_stopped(std::chrono::milliseconds delay, const std::atomic<bool>* stop) {
    const auto until = std::chrono::steady_clock::now() + delay;
    for (;;) {
        if (stop != nullptr && stop->load()) {
            return false;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= until) {
            return true;
        }
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            until - now, std::chrono::milliseconds(100)));
    }
}

std::string new_guid() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uint64_t hi = rng();
    std::uint64_t lo = rng();
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                  static_cast<unsigned>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    return buf;
}

long parse_retry_after(const std::string& value) {
    if (value.empty()) {
        return -1;
    }
    bool digits = true;
    for (char c : value) {
        if (c < '0' || c > '9') {
            digits = false;
            break;
        }
    }
    if (digits) {
        // More than 9 digits is more than a day anyway: never converted, so never overflows.
        return value.size() > 9 ? max_retry_after : std::min(std::stol(value), max_retry_after);
    }
    const time_t when = curl_getdate(value.c_str(), nullptr);
    if (when < 0) {
        return -1;
    }
    const time_t now = std::time(nullptr);
    if (when <= now) {
        return 0;
    }
    const time_t ahead = when - now;  // both non-negative: no overflow
    return ahead > max_retry_after ? max_retry_after : static_cast<long>(ahead);
}

bool same_origin(std::string_view url, std::string_view origin) {
    if (origin.empty() || url.size() <= origin.size() ||
        strncasecmp(url.data(), origin.data(), origin.size()) != 0 || url[origin.size()] != '/') {
        return false;
    }
    for (unsigned char c : url) {
        if (c <= 0x20 || c >= 0x7f || c == '\\') {
            return false;  // no whitespace, controls, backslashes or raw 8-bit in a link
        }
    }
    return true;
}

}  // namespace m365gate::sync
