// graphsim simulator: dispatch of every request (foreign listener, control API, token endpoint,
// Graph), fault injection, the request record, and the test control API under /_sim/.
#include "simulator.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

namespace graphsim {

using nlohmann::json;

// ---- request record --------------------------------------------------------------------------

RequestRecord::~RequestRecord() {
    if (file_ != nullptr) {
        std::fclose(file_);
    }
}

void RequestRecord::open(const std::string& path) {
    file_ = std::fopen(path.c_str(), "a");
    if (file_ == nullptr) {
        throw std::runtime_error("--record " + path + ": cannot open for appending");
    }
}

void RequestRecord::add(std::string line) {
    std::lock_guard<std::mutex> lock(mu_);
    if (file_ != nullptr) {
        line.push_back('\n');
        std::fwrite(line.data(), 1, line.size(), file_);
        std::fflush(file_);
        line.pop_back();
    }
    lines_.push_back(std::move(line));
    if (lines_.size() > max_in_memory) {
        lines_.pop_front();
    }
}

std::string RequestRecord::json_array() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out = "[";
    for (std::size_t i = 0; i < lines_.size(); ++i) {
        if (i > 0) {
            out += ",\n";
        }
        out += lines_[i];
    }
    out += "]";
    return out;
}

void RequestRecord::clear() {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.clear();
}

// ---- simulator -------------------------------------------------------------------------------

Simulator::Simulator(Options opts)
    : options(std::move(opts)),
      token_key("m365gate-graphsim state tokens v1"),
      boot_id(base64url_encode(random_bytes(9))) {}

void Simulator::add_tenant(std::unique_ptr<Tenant> tenant) {
    if (find_tenant(tenant->id) != nullptr) {
        throw std::runtime_error("tenant " + tenant->id + " is defined twice");
    }
    for (const auto& alias : tenant->aliases) {
        if (find_tenant(alias) != nullptr) {
            throw std::runtime_error("tenant alias " + alias + " is defined twice");
        }
    }
    tenants.push_back(std::move(tenant));
}

void Simulator::set_bases(int main_port, int foreign_port) {
    base = "https://" + options.listen_host + ":" + std::to_string(main_port);
    graph_bases = {base};
    for (const auto& host : options.graph_hosts) {
        graph_bases.push_back("https://" + host + ":" + std::to_string(main_port));
    }
    if (foreign_port > 0) {
        foreign_base = "https://" + options.listen_host + ":" + std::to_string(foreign_port);
    }
}

std::string Simulator::graph_base_for(const httplib::Request& req) const {
    const std::string host = req.get_header_value("Host");
    for (const auto& b : graph_bases) {
        if (iequals(b, "https://" + host)) {
            return b;
        }
    }
    return base;
}

Tenant* Simulator::find_tenant(std::string_view id_or_alias) const {
    for (const auto& t : tenants) {
        if (t->answers_to(id_or_alias)) {
            return t.get();
        }
    }
    return nullptr;
}

std::optional<Fault> Simulator::take_fault(std::string_view path, bool control,
                                           const std::string& tenant) {
    std::lock_guard<std::mutex> lock(faults_mutex_);
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
        if (control && it->match.rfind("/_sim/", 0) != 0) {
            continue;
        }
        if (!it->tenant.empty() && it->tenant != tenant) {
            continue;
        }
        if (it->exact ? path == it->match : path.compare(0, it->match.size(), it->match) == 0) {
            Fault fault = *it;
            if (!fault.persistent() && --it->count <= 0) {
                faults_.erase(it);
            }
            return fault;
        }
    }
    return std::nullopt;
}

std::string Simulator::request_tenant(const httplib::Request& req,
                                      const std::optional<std::string>& token_tenant) {
    if (token_tenant) {
        std::shared_lock<std::shared_mutex> lock(tenants_mutex);
        const Tenant* t = find_tenant(*token_tenant);
        return t != nullptr ? t->id : std::string();
    }
    const std::string header = req.get_header_value("Authorization");
    if (header.size() <= 7 || !istarts_with(header, "Bearer ")) {
        return "";
    }
    std::lock_guard<std::mutex> lock(tokens_mutex);
    const auto it = tokens.find(header.substr(7));
    return it != tokens.end() ? it->second.tenant_id : std::string();
}

void Simulator::record_request(Listener listener, const httplib::Request& req, int status,
                               const std::string& fault) {
    nlohmann::ordered_json headers = nlohmann::ordered_json::object();
    for (const auto& [name, value] : req.headers) {
        if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
            name == "LOCAL_PORT") {
            continue;  // cpp-httplib's pseudo-headers
        }
        const std::string key = ascii_lower(name);
        if (headers.contains(key)) {
            headers[key] = headers[key].get<std::string>() + ", " + value;
        } else {
            headers[key] = value;
        }
    }
    nlohmann::ordered_json line = {
        {"ts", format_iso8601_ms(real_now_ms())},
        {"listener", listener == Listener::main ? "main" : "foreign"},
        {"method", req.method},
        {"target", req.target},
        {"headers", std::move(headers)},
        {"body", req.body},
        {"status", status},
    };
    if (!fault.empty()) {
        line["fault"] = fault;
    }
    record_.add(line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

namespace {

// "/{tenant}/oauth2/v2.0/token" -> tenant.
std::optional<std::string> token_tenant(const std::string& path) {
    static const std::string suffix = "/oauth2/v2.0/token";
    if (path.size() <= suffix.size() + 1 || path[0] != '/' ||
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return std::nullopt;
    }
    const std::string tenant = path.substr(1, path.size() - suffix.size() - 1);
    if (tenant.find('/') != std::string::npos) {
        return std::nullopt;
    }
    return tenant;
}

// The "reset" fault: close the connection without an answer. cpp-httplib gives a handler no
// socket, but the TLS session knows it; shutting it down makes the client read EOF before any
// response byte, and cpp-httplib's own write then fails and closes the socket.
void reset_connection(const httplib::Request& req) {
    if (req.ssl == nullptr) {
        return;
    }
    const int fd = SSL_get_fd(req.ssl);
    if (fd < 0) {
        return;
    }
    const linger abortive{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    shutdown(fd, SHUT_RDWR);
}

void write_fault_status(Simulator& sim, const httplib::Request& req, httplib::Response& res,
                        const Fault& fault, bool token_endpoint, const RequestIds& ids) {
    if (fault.retry_after >= 0) {
        res.set_header("Retry-After", std::to_string(fault.retry_after));
    }
    if (token_endpoint) {
        write_token_error(sim, req, res, fault.status, "temporarily_unavailable", 90033,
                          "A transient error has occurred. Please try again.");
        return;
    }
    set_graph_headers(res, ids);
    switch (fault.status) {
        case 429:
            write_graph_error(sim, res, 429, "TooManyRequests", "Please retry again later.", ids);
            break;
        case 500:
            write_graph_error(sim, res, 500, "generalException",
                              "General exception while processing.", ids);
            break;
        case 503:
            write_graph_error(sim, res, 503, "serviceNotAvailable",
                              "The service is temporarily unavailable. Please retry later.", ids);
            break;
        case 504:
            write_graph_error(sim, res, 504, "gatewayTimeout",
                              "The request timed out. Please retry later.", ids);
            break;
        default:
            write_graph_error(sim, res, fault.status, "UnknownError", "Injected fault.", ids);
    }
}

// The foreign_next_link fault: the page's links (on `base`) point at the foreign listener.
void point_links_elsewhere(Simulator& sim, const std::string& base, std::string& body) {
    const std::string target =
        sim.foreign_base.empty() ? "https://foreign.invalid" : sim.foreign_base;
    bool replaced = false;
    for (const char* key : {"\"@odata.nextLink\":\"", "\"@odata.deltaLink\":\""}) {
        const std::string needle = std::string(key) + base;
        const std::size_t at = body.find(needle);
        if (at != std::string::npos) {
            body.replace(at + std::string(key).size(), base.size(), target);
            replaced = true;
        }
    }
    if (!replaced && !body.empty() && body[0] == '{') {
        body.insert(1, "\"@odata.nextLink\":\"" + target + "/v1.0/users?$skiptoken=foreign\",");
    }
}

// The endless_paging fault. Its made-up pages carry this skip token prefix and a page number.
const std::string endless_token = "graphsim-endless-";

// The page number of an endless_paging skip token in the query, 0 when it is none.
long endless_page(const httplib::Request& req) {
    const std::string token = req.get_param_value("$skiptoken");
    if (token.rfind(endless_token, 0) != 0) {
        return 0;
    }
    return std::strtol(token.c_str() + endless_token.size(), nullptr, 10);
}

std::string endless_link(const std::string& graph_base, const std::string& path, long page) {
    return graph_base + path + "?$skiptoken=" + endless_token + std::to_string(page);
}

// A made-up page `page` of `fault.page_size` new objects and a nextLink to the next one.
std::string endless_body(const std::string& graph_base, const std::string& path, const Fault& fault,
                         long page) {
    json value = json::array();
    for (int i = 0; i < fault.page_size; ++i) {
        const std::string n = std::to_string(page) + "-" + std::to_string(i);
        json item = {{"id", "endless-" + n}};
        item["mail"] = fault.domain.empty() ? json() : json("endless." + n + "@" + fault.domain);
        item["proxyAddresses"] = json::array();
        item["mailEnabled"] = true;
        value.push_back(std::move(item));
    }
    json body = {{"@odata.context", graph_base + "/v1.0/$metadata#directoryObjects"},
                 {"value", std::move(value)},
                 {"@odata.nextLink", endless_link(graph_base, path, page + 1)}};
    return body.dump();
}

// A real first page made endless: no deltaLink, a nextLink to made-up page 1.
void make_endless(const std::string& graph_base, const std::string& path, std::string& body) {
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
        return;
    }
    doc.erase("@odata.deltaLink");
    doc["@odata.nextLink"] = endless_link(graph_base, path, 1);
    body = doc.dump();
}

// The expires_in fault: the token endpoint's answer with another expires_in.
void replace_expires_in(std::int64_t expires_in, std::string& body) {
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("access_token")) {
        return;
    }
    doc["expires_in"] = expires_in;
    doc["ext_expires_in"] = expires_in;
    body = doc.dump();
}

json ok_body(json extra = json::object()) {
    extra["ok"] = true;
    return extra;
}

void reply(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
    reply(res, status, {{"ok", false}, {"error", message}});
}

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> out;
    while (!path.empty()) {
        const std::size_t slash = path.find('/');
        if (slash != 0) {
            out.emplace_back(path.substr(0, slash));
        }
        path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    }
    return out;
}

Fault parse_fault(const json& body) {
    if (!body.is_object()) {
        throw std::runtime_error("fault: body is not a JSON object");
    }
    Fault f;
    f.match = body.value("match", std::string());
    f.type = body.value("type", std::string());
    f.count = body.value("count", 1);
    f.status = body.value("status", 503);
    f.retry_after = body.value("retry_after", -1);
    f.delay_ms = body.value("delay_ms", 0);
    f.tenant = body.value("tenant", std::string());
    f.exact = body.value("exact", false);
    f.page_size = body.value("page_size", 100);
    f.domain = body.value("domain", std::string());
    f.expires_in = body.value("expires_in", f.expires_in);
    static const char* const types[] = {"status",     "slow",          "reset",
                                        "truncate",   "invalid_json",  "foreign_next_link",
                                        "expires_in", "endless_paging"};
    bool known = false;
    for (const char* t : types) {
        known = known || f.type == t;
    }
    if (f.match.empty() || f.match[0] != '/') {
        throw std::runtime_error("fault: \"match\" must be a path prefix starting with /");
    }
    if (!known) {
        throw std::runtime_error("fault: unknown \"type\" \"" + f.type + "\"");
    }
    if (f.count < 1 || f.status < 100 || f.status > 599 || f.delay_ms < 0) {
        throw std::runtime_error("fault: bad count, status or delay_ms");
    }
    if (f.page_size < 0 || f.page_size > 999) {
        throw std::runtime_error("fault: page_size must be from 0 to 999");
    }
    return f;
}

json fault_json(const Fault& f) {
    return {{"match", f.match},
            {"type", f.type},
            {"count", f.count},
            {"status", f.status},
            {"retry_after", f.retry_after},
            {"delay_ms", f.delay_ms},
            {"tenant", f.tenant},
            {"exact", f.exact},
            {"page_size", f.page_size},
            {"domain", f.domain},
            {"expires_in", f.expires_in}};
}

}  // namespace

void Simulator::handle(Listener listener, const httplib::Request& req, httplib::Response& res) {
    if (listener == Listener::foreign) {
        reply(res, 404,
              {{"error",
                {{"code", "NotFound"},
                 {"message", "graphsim foreign listener: this host is not Microsoft Graph."}}}});
        record_request(listener, req, res.status, "");
        return;
    }
    const std::string& path = req.path;
    if (path.rfind("/_sim/webhook/", 0) == 0) {
        // The alert webhook receiver fails on request too (status, slow, reset), so the
        // sender's retries can be tested.
        if (const auto fault = take_fault(path, true)) {
            if (fault->type == "slow") {
                std::this_thread::sleep_for(std::chrono::milliseconds(fault->delay_ms));
            } else if (fault->type == "reset") {
                record_request(listener, req, 0, fault->type);
                reset_connection(req);
                res.status = 500;
                return;
            } else if (fault->type == "status") {
                if (fault->retry_after >= 0) {
                    res.set_header("Retry-After", std::to_string(fault->retry_after));
                }
                reply_error(res, fault->status, "graphsim: injected fault");
                record_request(listener, req, res.status, fault->type);
                return;
            }
        }
    }
    if (path.rfind("/_sim/", 0) == 0) {
        handle_control(req, res);
        if (path != "/_sim/requests") {
            record_request(listener, req, res.status, "");
        }
        return;
    }

    RequestIds ids;
    ids.request_id = random_guid();
    ids.client_request_id = req.get_header_value("client-request-id");
    if (ids.client_request_id.empty()) {
        ids.client_request_id = ids.request_id;
    }
    const auto tenant_segment = token_tenant(path);
    const auto fault = take_fault(path, false, request_tenant(req, tenant_segment));
    const std::string fault_type = fault ? fault->type : "";
    if (fault && fault->type == "status") {
        write_fault_status(*this, req, res, *fault, tenant_segment.has_value(), ids);
        record_request(listener, req, res.status, fault_type);
        return;
    }
    if (fault && fault->type == "slow") {
        std::this_thread::sleep_for(std::chrono::milliseconds(fault->delay_ms));
    }
    if (fault && fault->type == "reset") {
        record_request(listener, req, 0, fault_type);
        reset_connection(req);
        res.status = 500;
        return;
    }

    if (fault && fault->type == "endless_paging" && !tenant_segment && endless_page(req) > 0) {
        // A made-up page: request_tenant() matched a live access token of the tenant.
        set_graph_headers(res, ids);
        res.status = 200;
        res.set_content(endless_body(graph_base_for(req), path, *fault, endless_page(req)),
                        graph_content_type);
        record_request(listener, req, res.status, fault_type);
        return;
    }
    if (tenant_segment) {
        handle_token(*this, *tenant_segment, req, res);
    } else {
        set_graph_headers(res, ids);
        if (path.rfind("/v1.0/", 0) == 0) {
            handle_graph(*this, req, res, ids);
        } else {
            write_graph_error(*this, res, 400, "BadRequest", "Invalid version.", ids);
        }
    }

    if (fault && fault->type == "truncate") {
        res.body.resize(res.body.size() / 2);
    } else if (fault && fault->type == "invalid_json") {
        res.body = "{\"@odata.context\":\"" + base + "/v1.0/$metadata#users\",\"value\":[{\"id\":";
        res.body += "<html><body>Service Unavailable</body></html>";
    } else if (fault && fault->type == "foreign_next_link") {
        point_links_elsewhere(*this, graph_base_for(req), res.body);
    } else if (fault && fault->type == "endless_paging" && res.status == 200) {
        make_endless(graph_base_for(req), path, res.body);
    } else if (fault && fault->type == "expires_in" && res.status == 200) {
        replace_expires_in(fault->expires_in, res.body);
    }
    record_request(listener, req, res.status, fault_type);
}

// ---- control API -----------------------------------------------------------------------------

void Simulator::handle_control(const httplib::Request& req, httplib::Response& res) {
    const std::vector<std::string> seg = split_path(std::string_view(req.path).substr(6));
    const std::string& method = req.method;
    json body;
    if (!req.body.empty()) {
        body = json::parse(req.body, nullptr, false);
        if (body.is_discarded()) {
            reply_error(res, 400, "body is not JSON");
            return;
        }
    }
    try {
        if (seg.size() == 1 && seg[0] == "requests") {
            if (method == "GET") {
                res.status = 200;
                res.set_content(record_.json_array(), "application/json");
                return;
            }
            if (method == "DELETE") {
                record_.clear();
                reply(res, 200, ok_body());
                return;
            }
        } else if (seg.size() == 2 && seg[0] == "webhook" && method == "POST") {
            reply(res, 200, ok_body());
            return;
        } else if (seg.size() == 1 && seg[0] == "faults") {
            std::unique_lock<std::mutex> lock(faults_mutex_);
            if (method == "POST") {
                Fault f = parse_fault(body);
                if (!f.tenant.empty()) {
                    lock.unlock();  // never two locks at once
                    {
                        std::shared_lock<std::shared_mutex> tenants_lock(tenants_mutex);
                        const Tenant* t = find_tenant(f.tenant);
                        if (t == nullptr) {
                            throw std::runtime_error("fault: unknown tenant \"" + f.tenant + "\"");
                        }
                        f.tenant = t->id;
                    }
                    lock.lock();
                }
                faults_.push_back(std::move(f));
                reply(res, 200, ok_body({{"pending", faults_.size()}}));
                return;
            }
            if (method == "DELETE") {
                faults_.clear();
                reply(res, 200, ok_body());
                return;
            }
            if (method == "GET") {
                json list = json::array();
                for (const Fault& f : faults_) {
                    list.push_back(fault_json(f));
                }
                reply(res, 200, list);
                return;
            }
        } else if (seg.size() == 1 && seg[0] == "clock") {
            if (method == "POST") {
                if (body.contains("now")) {
                    const auto t = parse_iso8601(body.value("now", std::string()));
                    if (!t) {
                        reply_error(res, 400, "\"now\" is not an ISO 8601 date-time");
                        return;
                    }
                    clock.set(*t);
                } else if (body.contains("advance_seconds")) {
                    clock.advance(body["advance_seconds"].get<std::int64_t>());
                } else {
                    reply_error(res, 400, "give \"now\" or \"advance_seconds\"");
                    return;
                }
            }
            if (method == "POST" || method == "GET") {
                reply(res, 200, ok_body({{"now", format_iso8601(clock.now())}}));
                return;
            }
        } else if (seg.size() >= 3 && seg[0] == "tenants") {
            if (seg.size() == 3 && seg[2] == "expire-access-tokens" && method == "POST") {
                std::string tenant_id;
                {
                    std::shared_lock<std::shared_mutex> lock(tenants_mutex);
                    const Tenant* t = find_tenant(seg[1]);
                    if (t == nullptr) {
                        reply_error(res, 404, "unknown tenant " + seg[1]);
                        return;
                    }
                    tenant_id = t->id;
                }
                std::lock_guard<std::mutex> lock(tokens_mutex);
                ++access_generation[tenant_id];
                reply(res, 200, ok_body());
                return;
            }
            std::unique_lock<std::shared_mutex> lock(tenants_mutex);
            Tenant* tenant = find_tenant(seg[1]);
            if (tenant == nullptr) {
                reply_error(res, 404, "unknown tenant " + seg[1]);
                return;
            }
            const auto kind = kind_from_collection(seg[2]);
            if (kind && seg.size() == 3 && method == "POST") {
                json ids = json::array();
                if (body.is_array()) {
                    for (auto& object : body) {
                        ids.push_back(tenant->put_object(*kind, object));
                    }
                } else {
                    ids.push_back(tenant->put_object(*kind, body));
                }
                reply(res, 200, ok_body({{"ids", ids}, {"version", tenant->version}}));
                return;
            }
            if (kind && seg.size() == 4) {
                if (method == "PATCH" || method == "DELETE") {
                    const bool done =
                        method == "PATCH"
                            ? body.is_object() && tenant->patch_object(*kind, seg[3], body)
                            : tenant->delete_object(*kind, seg[3]);
                    if (!done) {
                        reply_error(res, 404,
                                    std::string("no live object ") + seg[3] + " in " +
                                        collection_name(*kind));
                        return;
                    }
                    reply(res, 200, ok_body({{"version", tenant->version}}));
                    return;
                }
                if (method == "GET") {
                    const auto pos = tenant->find(*kind, seg[3]);
                    if (!pos) {
                        reply_error(res, 404, "no object " + seg[3]);
                        return;
                    }
                    json object = tenant->object_json(*kind, *pos);
                    object["@deleted"] = tenant->collection(*kind).slots[*pos].deleted;
                    reply(res, 200, object);
                    return;
                }
            }
            if (seg[2] == "domains" && seg.size() == 3 && method == "POST") {
                json domain = complete_domain(body);
                const std::string id = domain["id"].get<std::string>();
                auto& domains = tenant->domains;
                auto it = std::find_if(domains.begin(), domains.end(), [&](const json& d) {
                    return iequals(d["id"].get<std::string>(), id);
                });
                if (it != domains.end()) {
                    *it = std::move(domain);
                } else {
                    domains.push_back(std::move(domain));
                }
                reply(res, 200, ok_body());
                return;
            }
            if (seg[2] == "domains" && seg.size() == 4 && method == "DELETE") {
                auto& domains = tenant->domains;
                const auto before = domains.size();
                domains.erase(std::remove_if(domains.begin(), domains.end(),
                                             [&](const json& d) {
                                                 return iequals(d["id"].get<std::string>(), seg[3]);
                                             }),
                              domains.end());
                reply(res, before == domains.size() ? 404 : 200, ok_body());
                return;
            }
            if (seg[2] == "apps" && seg.size() == 4 && method == "POST") {
                if (!body.is_object()) {
                    reply_error(res, 400, "body must be a JSON object");
                    return;
                }
                json spec = {{"appId", seg[3]}};
                spec["secrets"] = body.value("secrets", json::array());
                spec["certificates"] = body.value("certificates", json::array());
                const App parsed = parse_app(spec);
                App* app = tenant->find_app(seg[3]);
                if (app == nullptr) {  // a new app registration
                    tenant->apps.push_back(parse_app({{"appId", seg[3]}}));
                    app = &tenant->apps.back();
                }
                if (body.contains("secrets")) {
                    app->secrets = parsed.secrets;
                }
                if (body.contains("certificates")) {
                    app->certificates = parsed.certificates;
                }
                if (body.contains("permissions")) {
                    app->permissions = body["permissions"].get<std::vector<std::string>>();
                }
                if (body.contains("displayName")) {
                    app->display_name = body["displayName"].get<std::string>();
                }
                reply(res, 200, ok_body());
                return;
            }
            if (seg[2] == "expire-delta-tokens" && seg.size() == 3 && method == "POST") {
                ++tenant->delta_generation;
                reply(res, 200, ok_body());
                return;
            }
        }
        reply_error(res, 404, "no control endpoint " + method + " " + req.path);
    } catch (const std::exception& e) {
        reply_error(res, 400, e.what());
    }
}

}  // namespace graphsim
