// graphsim token endpoint: POST /{tenant}/oauth2/v2.0/token, the OAuth 2.0 client-credentials
// grant as the Microsoft identity platform answers it (reference A.2-A.5), and the bearer-token
// check every Graph call goes through.
#include <nlohmann/json.hpp>

#include "simulator.h"

namespace graphsim {

using nlohmann::json;

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// application/x-www-form-urlencoded value: %XX and '+' for space.
std::string form_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+') {
            out.push_back(' ');
        } else if (in[i] == '%' && i + 2 < in.size() && hex_digit(in[i + 1]) >= 0 &&
                   hex_digit(in[i + 2]) >= 0) {
            out.push_back(char(hex_digit(in[i + 1]) * 16 + hex_digit(in[i + 2])));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return out;
}

using Form = std::unordered_map<std::string, std::string>;

Form parse_form(std::string_view body) {
    std::unordered_map<std::string, std::string> out;
    while (!body.empty()) {
        const std::size_t amp = body.find('&');
        const std::string_view pair = body.substr(0, amp);
        const std::size_t eq = pair.find('=');
        const std::string key = form_decode(pair.substr(0, eq));
        const std::string value =
            eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
        out.emplace(key, value);  // first occurrence wins
        body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    }
    return out;
}

// RFC 6749 2.3.1: HTTP Basic with form-encoded client id and secret.
bool parse_basic_auth(const std::string& header, std::string& client_id, std::string& secret) {
    if (!istarts_with(header, "Basic ")) {
        return false;
    }
    std::string text = header.substr(6);
    for (char& c : text) {
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    while (!text.empty() && text.back() == '=') {
        text.pop_back();
    }
    const auto decoded = base64url_decode(text);
    if (!decoded) {
        return false;
    }
    const std::size_t colon = decoded->find(':');
    if (colon == std::string::npos) {
        return false;
    }
    client_id = form_decode(decoded->substr(0, colon));
    secret = form_decode(decoded->substr(colon + 1));
    return true;
}

std::string issue_token(Simulator& sim, const std::string& tenant_id, const std::string& app_id,
                        const std::vector<std::string>& roles, const std::string& audience) {
    const UnixSeconds now = sim.clock.now();
    const UnixSeconds expires = now + sim.options.token_lifetime;
    // Shaped like an Entra access token (a JWT). Clients must treat it as opaque (A.3).
    const json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"kid", "graphsim"}};
    const json payload = {
        {"aud", audience},  {"iss", "https://sts.windows.net/" + tenant_id + "/"},
        {"iat", now},       {"nbf", now},
        {"exp", expires},   {"appid", app_id},
        {"idtyp", "app"},   {"roles", roles},
        {"tid", tenant_id}, {"uti", base64url_encode(random_bytes(16))},
        {"ver", "1.0"},
    };
    std::string token = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump()) +
                        "." + base64url_encode(random_bytes(32));
    std::lock_guard<std::mutex> lock(sim.tokens_mutex);
    if (sim.tokens.size() > 10000) {
        for (auto it = sim.tokens.begin(); it != sim.tokens.end();) {
            it = it->second.expires < now ? sim.tokens.erase(it) : std::next(it);
        }
    }
    AccessToken& entry = sim.tokens[token];
    entry.tenant_id = tenant_id;
    entry.app_id = app_id;
    entry.issued = now;
    entry.expires = expires;
    entry.generation = sim.access_generation[tenant_id];
    entry.audience = audience;
    return token;
}

// A client secret (form or HTTP Basic): 7000218, 7000215, 7000222 as Entra answers them.
bool check_client_secret(Simulator& sim, const App& app, const Form& form,
                         const httplib::Request& req, httplib::Response& res) {
    const auto secret = form.find("client_secret");
    if (secret == form.end() || secret->second.empty()) {
        write_token_error(sim, req, res, 401, "invalid_client", 7000218,
                          "The request body must contain the following parameter: "
                          "'client_assertion' or 'client_secret'.");
        return false;
    }
    const Secret* matched = nullptr;
    for (const Secret& s : app.secrets) {
        if (s.value == secret->second) {
            matched = &s;
        }
    }
    if (matched == nullptr) {
        write_token_error(sim, req, res, 401, "invalid_client", 7000215,
                          "Invalid client secret provided. Ensure the secret being sent in "
                          "the request is the client secret value, not the client secret "
                          "ID, for a secret added to app '" +
                              app.app_id + "'.");
        return false;
    }
    if (matched->end <= sim.clock.now()) {
        write_token_error(sim, req, res, 401, "invalid_client", 7000222,
                          "The provided client secret keys for app '" + app.app_id +
                              "' are expired. Visit the Azure portal to create new keys for "
                              "your app: https://aka.ms/NewClientSecret, or consider using "
                              "certificate credentials for added security: "
                              "https://aka.ms/certCreds.");
        return false;
    }
    return true;
}

// A client assertion (certificate credential, client_assertion.cpp).
bool check_assertion_request(Simulator& sim, const App& app, const Form& form,
                             const httplib::Request& req, httplib::Response& res) {
    const auto type = form.find("client_assertion_type");
    if (type == form.end() ||
        type->second != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        write_token_error(sim, req, res, 400, "invalid_request", 900144,
                          "The request body must contain the following parameter: "
                          "'client_assertion_type'.");
        return false;
    }
    // aud must be this token endpoint, as the client addressed it on our base.
    return check_client_assertion(sim, app, form.at("client_assertion"), sim.base + req.path, req,
                                  res);
}

}  // namespace

void write_token_error(Simulator& sim, const httplib::Request& req, httplib::Response& res,
                       int status, std::string_view error, long code, std::string_view text) {
    const UnixSeconds now = sim.clock.now();
    const std::string timestamp = format_error_time(now, true);
    const std::string trace_id = random_guid();
    const std::string client_request_id = req.get_header_value("client-request-id");
    const std::string correlation_id =
        client_request_id.empty() ? random_guid() : client_request_id;
    const std::string code_text = std::to_string(code);
    const json body = {
        {"error", error},
        {"error_description", "AADSTS" + code_text + ": " + std::string(text) +
                                  " Trace ID: " + trace_id + " Correlation ID: " + correlation_id +
                                  " Timestamp: " + timestamp},
        {"error_codes", {code}},
        {"timestamp", timestamp},
        {"trace_id", trace_id},
        {"correlation_id", correlation_id},
        {"error_uri", sim.base + "/error?code=" + code_text},
    };
    res.status = status;
    res.set_header("x-ms-request-id", trace_id);
    res.set_header("Cache-Control", "no-store, no-cache");
    res.set_header("Pragma", "no-cache");
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                    "application/json; charset=utf-8");
}

void handle_token(Simulator& sim, const std::string& tenant_segment, const httplib::Request& req,
                  httplib::Response& res) {
    if (req.method != "POST") {
        write_token_error(sim, req, res, 405, "invalid_request", 900561,
                          "The endpoint only accepts POST, OPTIONS requests. Received a " +
                              req.method + " request.");
        return;
    }
    std::string tenant_id;
    std::vector<std::string> roles;
    std::string app_id;
    std::string audience;
    {
        std::shared_lock<std::shared_mutex> lock(sim.tenants_mutex);
        const Tenant* tenant = sim.find_tenant(tenant_segment);
        if (tenant == nullptr) {
            write_token_error(sim, req, res, 400, "invalid_tenant", 90002,
                              "Tenant '" + tenant_segment +
                                  "' not found. Check to make sure you have the correct tenant "
                                  "ID and are signing into the correct cloud. Check with your "
                                  "subscription administrator, this may happen if there are no "
                                  "active subscriptions for the tenant.");
            return;
        }
        tenant_id = tenant->id;
        auto form = parse_form(req.body);
        std::string basic_id, basic_secret;
        if (parse_basic_auth(req.get_header_value("Authorization"), basic_id, basic_secret)) {
            form.emplace("client_id", basic_id);
            form.emplace("client_secret", basic_secret);
        }
        const auto grant_type = form.find("grant_type");
        if (grant_type == form.end() || grant_type->second.empty()) {
            write_token_error(sim, req, res, 400, "invalid_request", 900144,
                              "The request body must contain the following parameter: "
                              "'grant_type'.");
            return;
        }
        if (grant_type->second != "client_credentials") {
            write_token_error(
                sim, req, res, 400, "unsupported_grant_type", 70003,
                "The app requested an unsupported grant type '" + grant_type->second + "'.");
            return;
        }
        const auto client_id = form.find("client_id");
        if (client_id == form.end() || client_id->second.empty()) {
            write_token_error(sim, req, res, 400, "invalid_request", 900144,
                              "The request body must contain the following parameter: "
                              "'client_id'.");
            return;
        }
        const App* app = tenant->find_app(client_id->second);
        if (app == nullptr) {
            write_token_error(sim, req, res, 400, "unauthorized_client", 700016,
                              "Application with identifier '" + client_id->second +
                                  "' was not found in the directory '" + tenant_segment +
                                  "'. This can happen if the application has not been installed "
                                  "by the administrator of the tenant or consented to by any "
                                  "user in the tenant. You may have sent your authentication "
                                  "request to the wrong tenant.");
            return;
        }
        app_id = app->app_id;
        const auto scope = form.find("scope");
        if (scope == form.end() || scope->second.empty()) {
            write_token_error(sim, req, res, 400, "invalid_request", 900144,
                              "The request body must contain the following parameter: 'scope'.");
            return;
        }
        for (const auto& b : sim.graph_bases) {  // the scope names the Graph it is for
            if (iequals(scope->second, b + "/.default")) {
                audience = b;
            }
        }
        if (audience.empty()) {
            write_token_error(sim, req, res, 400, "invalid_scope", 70011,
                              "The provided request must include a 'scope' input parameter. The "
                              "provided value for the input parameter 'scope' is not valid. The "
                              "scope " +
                                  scope->second + " is not valid.");
            return;
        }
        const auto assertion = form.find("client_assertion");
        if (assertion != form.end() && !assertion->second.empty()
                ? !check_assertion_request(sim, *app, form, req, res)
                : !check_client_secret(sim, *app, form, req, res)) {
            return;
        }
        roles = app->permissions;
    }
    const std::string token = issue_token(sim, tenant_id, app_id, roles, audience);
    const json body = {
        {"token_type", "Bearer"},
        {"expires_in", sim.options.token_lifetime},
        {"ext_expires_in", sim.options.token_lifetime},
        {"access_token", token},
    };
    res.status = 200;
    res.set_header("x-ms-request-id", random_guid());
    res.set_header("Cache-Control", "no-store, no-cache");
    res.set_header("Pragma", "no-cache");
    res.set_content(body.dump(), "application/json; charset=utf-8");
}

std::optional<AccessToken> check_bearer(Simulator& sim, const httplib::Request& req,
                                        httplib::Response& res, const RequestIds& ids) {
    const std::string header = req.get_header_value("Authorization");
    auto reject = [&](const std::string& message) {
        res.set_header("WWW-Authenticate",
                       "Bearer realm=\"\", authorization_uri=\"" + sim.base +
                           "/common/oauth2/authorize\", "
                           "client_id=\"00000003-0000-0000-c000-000000000000\"");
        write_graph_error(sim, res, 401, "InvalidAuthenticationToken", message, ids);
        return std::nullopt;
    };
    if (!istarts_with(header, "Bearer ") || header.size() <= 7) {
        return reject("Access token is empty.");
    }
    const std::string token = header.substr(7);
    if (token.find('.') == std::string::npos) {
        return reject("IDX14100: JWT is not well formed, there are no dots (.).");
    }
    AccessToken found;
    std::uint32_t generation = 0;
    {
        std::lock_guard<std::mutex> lock(sim.tokens_mutex);
        const auto it = sim.tokens.find(token);
        if (it == sim.tokens.end()) {
            return reject("Access token validation failure. Invalid audience.");
        }
        found = it->second;
        generation = sim.access_generation[found.tenant_id];
    }
    const UnixSeconds now = sim.clock.now();
    if (!iequals(found.audience, sim.graph_base_for(req))) {  // a token for another cloud
        return reject("Access token validation failure. Invalid audience.");
    }
    if (found.expires <= now || found.generation < generation) {
        return reject("Lifetime validation failed, the token is expired.");
    }
    if (now + 300 < found.issued) {
        return reject("Access token has expired or is not yet valid.");
    }
    return found;
}

}  // namespace graphsim
