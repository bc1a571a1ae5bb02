// graphsim simulator: the state one m365gate-graphsim process serves (tenants, access tokens,
// pending faults, the request record, the clock) and the request handlers of its three
// surfaces: the Entra token endpoint (token_endpoint.cpp), Microsoft Graph (graph_api.cpp) and
// the test control API plus dispatch, faults and recording (simulator.cpp).
//
// Locking: tenants under tenants_mutex (shared for Graph reads, exclusive for the control
// API); tokens, faults and the record each have their own mutex. Never hold two at once.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tenant.h"
#include "util.h"

namespace graphsim {

enum class Listener { main, foreign };

struct AccessToken {
    std::string tenant_id;
    std::string app_id;
    UnixSeconds issued = 0;
    UnixSeconds expires = 0;
    std::uint32_t generation = 0;  // of the tenant's access tokens (expire-access-tokens)
    std::string audience;          // the Graph base of the scope it was issued for
};

struct Fault {
    std::string match;  // path prefix
    std::string type;   // status | slow | reset | truncate | invalid_json | foreign_next_link
                        // (status, slow and reset also apply to /_sim/webhook/...)
    int count = 1;
    int status = 503;
    int retry_after = -1;  // seconds; -1: no Retry-After header
    int delay_ms = 0;
    // Only requests of this tenant (its id; the POST may name an alias): a token request
    // for it, a Graph request with one of its access tokens. "" = every tenant.
    std::string tenant;
    bool exact = false;  // `match` is the whole path, not a prefix ("/v1.0/users", not its delta)
    // endless_paging: objects per made-up page, and the domain of their mail ("" = no mail).
    int page_size = 100;
    std::string domain;
    // expires_in: what the token endpoint says instead of --token-lifetime.
    std::int64_t expires_in = 8589934592LL;  // 2^33 s
    // endless_paging and expires_in stay until DELETE /_sim/faults (count is not used).
    bool persistent() const { return type == "endless_paging" || type == "expires_in"; }
};

// The per-request identifiers Graph sends back (C.3).
struct RequestIds {
    std::string request_id;
    std::string client_request_id;
};

// Every request as one JSON line: appended to --record, last max_in_memory kept in memory.
class RequestRecord {
public:
    static constexpr std::size_t max_in_memory = 100000;
    ~RequestRecord();
    void open(const std::string& path);  // throws
    void add(std::string line);
    std::string json_array() const;
    void clear();

private:
    mutable std::mutex mu_;
    std::deque<std::string> lines_;
    std::FILE* file_ = nullptr;
};

struct Options {
    std::string listen_host = "127.0.0.1";
    int token_lifetime = 3599;
    int delta_page_size = 200;
    // More names the main listener serves Graph under (--graph-host), as a national cloud's
    // graph endpoint differs from its login endpoint: https://NAME:PORT is then a Graph base
    // too, with its own token scope (https://NAME:PORT/.default) and links.
    std::vector<std::string> graph_hosts;
};

class Simulator {
public:
    explicit Simulator(Options options);

    void add_tenant(std::unique_ptr<Tenant> tenant);  // throws on a duplicate id or alias
    void set_bases(int main_port, int foreign_port);
    RequestRecord& record() { return record_; }

    // Entry point for every request on either listener.
    void handle(Listener listener, const httplib::Request& req, httplib::Response& res);

    // ---- shared with the handler files ----
    const Options options;
    std::string base;                      // https://127.0.0.1:PORT (main listener)
    std::string foreign_base;              // the foreign listener, or empty
    std::vector<std::string> graph_bases;  // base, then https://<graph_host>:PORT for each
    // The Graph base a request came to (its Host header), `base` when it names no other one.
    std::string graph_base_for(const httplib::Request& req) const;
    SimClock clock;
    // Tokens are MAC'd with a fixed key, so a token from an earlier run is recognised as ours
    // (its boot id differs: delta state gone, 410) instead of garbage (400).
    const std::string token_key;
    const std::string boot_id;

    mutable std::shared_mutex tenants_mutex;
    std::vector<std::unique_ptr<Tenant>> tenants;
    Tenant* find_tenant(std::string_view id_or_alias) const;

    std::mutex tokens_mutex;
    std::unordered_map<std::string, AccessToken> tokens;
    std::unordered_map<std::string, std::uint32_t> access_generation;  // tenant id -> generation

private:
    void handle_control(const httplib::Request& req, httplib::Response& res);
    // The first pending fault whose match is a prefix of `path` (with `control`, only those
    // whose match starts with /_sim/: a catch-all "/" never hits the webhook receiver).
    // `tenant`: the tenant id the request is for ("" when unknown): a fault for another
    // tenant is passed over.
    std::optional<Fault> take_fault(std::string_view path, bool control = false,
                                    const std::string& tenant = "");
    // The tenant id of a token request (`token_tenant`: its path segment) or of a Graph
    // request (its bearer token); "" when unknown.
    std::string request_tenant(const httplib::Request& req,
                               const std::optional<std::string>& token_tenant);
    void record_request(Listener listener, const httplib::Request& req, int status,
                        const std::string& fault);

    std::mutex faults_mutex_;
    std::deque<Fault> faults_;
    RequestRecord record_;
};

// POST /{tenant}/oauth2/v2.0/token (token_endpoint.cpp)
void handle_token(Simulator& sim, const std::string& tenant, const httplib::Request& req,
                  httplib::Response& res);
// Entra error body (A.4) with the AADSTS code.
void write_token_error(Simulator& sim, const httplib::Request& req, httplib::Response& res,
                       int status, std::string_view error, long code, std::string_view text);
// Checks a client assertion for `app` (client_assertion.cpp): `audience` is the token endpoint
// URL the assertion must name. On failure writes Entra's error (401) and returns false.
bool check_client_assertion(Simulator& sim, const App& app, const std::string& assertion,
                            const std::string& audience, const httplib::Request& req,
                            httplib::Response& res);
// Looks up a bearer token; on failure writes the 401 and returns nullopt.
std::optional<AccessToken> check_bearer(Simulator& sim, const httplib::Request& req,
                                        httplib::Response& res, const RequestIds& ids);

// GET /v1.0/... (graph_api.cpp)
void handle_graph(Simulator& sim, const httplib::Request& req, httplib::Response& res,
                  const RequestIds& ids);
// Graph error body (C.1) and the Graph response headers.
void write_graph_error(Simulator& sim, httplib::Response& res, int status, std::string_view code,
                       std::string_view message, const RequestIds& ids);
void set_graph_headers(httplib::Response& res, const RequestIds& ids);

extern const char* const graph_content_type;

}  // namespace graphsim
