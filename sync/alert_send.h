// sync/alert_send.h - the two outside channels of an alert: the local sendmail and a webhook.
//
// send_mail() runs `sendmail -f FROM -t -i` (fork + execv, no shell), writes the message to its
// standard input, and waits a bounded time for its exit status; a timeout kills it. The child
// inherits no descriptor but stdin/stdout/stderr. post_webhook() POSTs JSON through the sync
// worker's HttpClient (sync/http.h), so its rules are Graph's: https only, TLS always verified
// (CAINFO only when sync.ca_file is set), no redirects, connect and total timeouts; it adds
// retries with backoff. Neither logs the
// message, the body or the webhook URL (chat webhook URLs carry a token in their path): only
// scheme and host appear in an error text. Both are blocking and safe to call from any thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace m365gate::sync {

struct SendResult {
    bool ok = false;
    std::string error;  // one line for the log when !ok; never message content
};

// `sendmail` must be an absolute path; `envelope_from` (alerts.mail_from, a plain address
// checked by the config) is the envelope sender, so bounces of alert mail go to it and not
// to the user the daemon runs as; empty leaves it to sendmail. Exit status 0 = accepted.
SendResult send_mail(const std::filesystem::path& sendmail, const std::string& envelope_from,
                     std::string_view message,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

struct WebhookOptions {
    std::filesystem::path ca_file;  // sync.ca_file; empty = system CAs
    std::chrono::seconds connect_timeout{10};
    std::chrono::seconds request_timeout{30};
    int retries = 3;  // after the first attempt; on network errors, 408, 429 and 5xx
    std::chrono::milliseconds first_backoff{2000};  // doubled per retry
};

// 2xx = delivered.
SendResult post_webhook(const std::string& url, const std::string& json,
                        const WebhookOptions& options);

// "https://hooks.example.net/..." -> "https://hooks.example.net" (for log lines).
std::string url_origin_for_log(std::string_view url);

}  // namespace m365gate::sync
