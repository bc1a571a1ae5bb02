// common/config_tenant.cpp - the [[tenant]] tables: names, IDs, the secret's expiry, domains
// (unique across tenants), endpoints, extra recipients, and the tenant's mode and enabled.

#include <map>
#include <utility>

#include "common/config.h"
#include "common/config_internal.h"
#include "common/idna.h"

namespace m365gate {
namespace config_detail {
namespace {

// Domain -> (tenant name, line) of the tenant that listed it first, across tenants.
using SeenDomains = std::map<std::string, std::pair<std::string, int>>;

// The required keys, and the three that name the tenant and its application.
void read_identity(const Section& s, TenantConfig& t) {
    for (const char* key : {"name", "tenant_id", "client_id"}) {
        if (s.node(key) == nullptr) {
            fail_line(s.file(), t.line, s.subject(""), std::string("missing required key ") + key);
        }
    }
    t.name = *s.string("name");
    if (!is_tenant_name(t.name)) {
        s.fail("name",
               "must be 1 to 64 of a-z 0-9 . _ - (it names the tenant in the store and "
               "the logs), got " +
                   quote_value(t.name));
    }
    t.tenant_id = *s.string("tenant_id");
    if (!is_guid(t.tenant_id) && !is_domain_name(t.tenant_id)) {
        s.fail("tenant_id",
               "must be the directory (tenant) ID, a GUID, or a domain such as "
               "\"contoso.onmicrosoft.com\", got " +
                   quote_value(t.tenant_id));
    }
    t.client_id = *s.string("client_id");
    if (!is_guid(t.client_id)) {
        s.fail("client_id",
               "must be the application (client) ID, a GUID, got " + quote_value(t.client_id));
    }
}

// Exactly one credential: client_secret_file or client_certificate_file (with assertion_alg).
void read_certificate(const Section& s, TenantConfig& t) {
    const bool secret = s.node("client_secret_file") != nullptr;
    const bool certificate = s.node("client_certificate_file") != nullptr;
    if (secret == certificate) {
        fail_line(s.file(), t.line, s.subject(""),
                  secret ? "client_secret_file and client_certificate_file are both set: a "
                           "tenant signs in with one credential, remove the other"
                         : "missing required key client_secret_file (or client_certificate_file)");
    }
    s.read_nonempty("client_certificate_file", t.client_certificate_file);
    if (auto alg = s.string("assertion_alg")) {
        if (*alg != "PS256" && *alg != "RS256") {
            s.fail("assertion_alg", "must be \"PS256\" or \"RS256\", got " + quote_value(*alg));
        }
        if (!certificate) {
            s.fail("assertion_alg", "applies only with client_certificate_file");
        }
        t.assertion_alg = *alg;
    }
    if (certificate && s.node("client_secret_expires") != nullptr) {
        s.fail("client_secret_expires",
               "does not apply with client_certificate_file (the certificate's notAfter is "
               "its expiry)");
    }
}

void read_secret(const Section& s, TenantConfig& t) {
    read_certificate(s, t);
    s.read_nonempty("client_secret_file", t.client_secret_file);
    if (const toml::node* n = s.node("client_secret_expires")) {
        const auto date = read_date(*n);
        if (!date) {
            s.fail_type(*n, "client_secret_expires", "a date or date-time");
        }
        if (!date->time) {
            s.fail("client_secret_expires", date->error);
        }
        t.client_secret_expires = date->time;
    }
}

// Domains in the store's canonical form (common/idna.h): U-labels become A-labels, so
// "bücher.example" and "xn--bcher-kva.example" are one domain, here and in the milter.
void read_domains(const Section& s, TenantConfig& t, SeenDomains& seen_domains) {
    auto domains = s.strings("domains", [](const std::string& v) -> std::string {
        const auto d = canonical_domain_name(v);
        if (!d && !is_ascii(v)) {
            return "not a valid internationalised domain name (IDNA2008) " + quote_value(v);
        }
        return d && is_domain_name(*d) ? "" : "not a domain name " + quote_value(v);
    });
    if (!domains) {
        return;
    }
    const toml::array& nodes = *s.node("domains")->as_array();
    for (std::size_t i = 0; i < domains->size(); ++i) {
        std::string d = *canonical_domain_name((*domains)[i]);
        const auto [it, inserted] = seen_domains.try_emplace(d, t.name, t.line);
        if (!inserted) {
            const std::string owner = it->second.first == t.name
                                          ? "listed twice in this tenant"
                                          : "already listed by tenant " +
                                                quote_value(it->second.first) + " (line " +
                                                std::to_string(it->second.second) + ")";
            s.fail_at(*nodes.get(i), "domains", quote_value(d) + " is " + owner);
        }
        t.domains.push_back(std::move(d));
    }
}

void read_endpoints(const Section& s, TenantConfig& t) {
    for (auto [key, out] : {std::pair{"login_endpoint", &t.login_endpoint},
                            std::pair{"graph_endpoint", &t.graph_endpoint}}) {
        if (auto url = s.string(key)) {
            while (!url->empty() && url->back() == '/') {
                url->pop_back();
            }
            const std::string error = check_url(*url, false);
            if (!error.empty()) {
                s.fail(key, error);
            }
            *out = *url;
        }
    }
}

// Addresses with the domain in canonical form (an A-label for a U-label), as the store
// keeps them; the local part lowercased (ASCII).
std::optional<std::string> extra_key(const std::string& address) {
    const auto at = address.rfind('@');
    const auto domain = canonical_domain_name(std::string_view(address).substr(at + 1));
    if (!domain) {
        return std::nullopt;
    }
    return ascii_lower(std::string_view(address).substr(0, at)) + "@" + *domain;
}

void read_recipients(const Section& s, TenantConfig& t) {
    if (auto to = s.strings("alert_mail_to", check_address)) {
        t.alert_mail_to = std::move(*to);
    }
    read_language(s, t.language);
    if (auto extra = s.strings("extra_recipients", [](const std::string& v) -> std::string {
            std::string error = check_address(v);
            if (error.empty() && !extra_key(v)) {
                error = "not a valid internationalised domain name (IDNA2008) in " + quote_value(v);
            }
            return error;
        })) {
        for (const auto& address : *extra) {
            t.extra_recipients.push_back(*extra_key(address));
        }
    }
    s.read("extra_recipients_file", t.extra_recipients_file);
}

TenantConfig read_tenant(const Section& s, SeenDomains& seen_domains) {
    TenantConfig t;
    t.line = s.line();
    read_identity(s, t);
    read_secret(s, t);
    read_domains(s, t, seen_domains);
    s.read("include_upn", t.include_upn);
    read_endpoints(s, t);
    read_recipients(s, t);
    if (s.node("mode") != nullptr) {
        t.mode.emplace();
        read_mode(s, *t.mode);
    }
    s.read("enabled", t.enabled);
    return t;
}

}  // namespace

void read_tenants(const std::string& file, const toml::node& node, Config& cfg) {
    if (!node.is_array_of_tables()) {
        fail_line(file, line_of(node), "[[tenant]]",
                  std::string("expected an array of tables ([[tenant]] headers), got ") +
                      type_name(node.type()));
    }
    SeenDomains seen_domains;
    std::size_t index = 0;
    for (const toml::node& element : *node.as_array()) {
        ++index;
        const Section s(
            file, *element.as_table(), "[[tenant]] #" + std::to_string(index),
            {"name", "tenant_id", "client_id", "client_secret_file", "client_secret_expires",
             "client_certificate_file", "assertion_alg", "domains", "include_upn", "login_endpoint",
             "graph_endpoint", "alert_mail_to", "language", "extra_recipients",
             "extra_recipients_file", "mode", "enabled"});
        // The name first, so that a duplicate is told before its domains clash.
        if (const toml::node* name_node = s.node("name"); name_node && name_node->is_string()) {
            if (const TenantConfig* first = cfg.find_tenant(name_node->as_string()->get())) {
                fail_line(file, s.line(), "[[tenant]] name " + quote_value(first->name),
                          "duplicate (first defined at line " + std::to_string(first->line) + ")");
            }
        }
        cfg.tenants.push_back(read_tenant(s, seen_domains));
    }
}

}  // namespace config_detail

const TenantConfig* Config::find_tenant(std::string_view name) const {
    for (const auto& t : tenants) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

}  // namespace m365gate
