// sync/importer.cpp - address extraction, full enumeration and delta application.
#include "sync/importer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/address.h"
#include "common/log.h"
#include "sync/sync_error.h"

namespace m365gate::sync {
namespace {

using json = nlohmann::json;

constexpr const char* users_select = "$select=id,mail,proxyAddresses,userPrincipalName";
constexpr const char* groups_select = "$select=id,mail,mailEnabled,proxyAddresses";
constexpr const char* contacts_select = "$select=id,mail,proxyAddresses";
constexpr std::uintmax_t max_extra_file_bytes = 16u << 20;

SyncError malformed(const std::string& what) {
    return sync_error(ErrorKind::graph, "malformed_response",
                      "Graph sent a malformed object: " + what);
}

// Reads an optional string-or-null property. Returns whether it was present.
bool optional_string(const json& item, const char* key, std::optional<std::string>& out) {
    const auto it = item.find(key);
    if (it == item.end()) {
        return false;
    }
    if (it->is_null()) {
        out.reset();
    } else if (it->is_string()) {
        out = it->get<std::string>();
    } else {
        throw malformed(std::string(key) + " is neither a string nor null");
    }
    return true;
}

void add_address(std::string_view raw, const DomainSet& managed, std::vector<std::string>& out) {
    auto canonical = canonical_address(raw);
    if (canonical && in_managed_domain(*canonical, managed)) {
        out.push_back(std::move(*canonical));
    }
}

void sort_unique(std::vector<std::string>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
}

std::string trim(std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\r')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) {
        v.remove_suffix(1);
    }
    return std::string(v);
}

struct Collection {
    const char* name;  // key in TenantState::delta_links
    store::ObjectKind kind;
    const char* select;
};
constexpr Collection collections[] = {
    {"users", store::ObjectKind::user, users_select},
    {"groups", store::ObjectKind::group, groups_select},
    {"contacts", store::ObjectKind::contact, contacts_select},
};

}  // namespace

std::optional<std::string> smtp_proxy_address(std::string_view proxy) {
    const auto colon = proxy.find(':');
    if (colon != 4 || ascii_lower(proxy.substr(0, 4)) != "smtp") {
        return std::nullopt;
    }
    proxy.remove_prefix(5);
    while (!proxy.empty() && (proxy.front() == ' ' || proxy.front() == '\t')) {
        proxy.remove_prefix(1);
    }
    while (!proxy.empty() && (proxy.back() == ' ' || proxy.back() == '\t')) {
        proxy.remove_suffix(1);
    }
    if (proxy.empty()) {
        return std::nullopt;
    }
    return std::string(proxy);
}

bool in_managed_domain(std::string_view canonical_address, const DomainSet& managed) {
    const auto at = canonical_address.rfind('@');
    if (at == std::string_view::npos) {
        return false;
    }
    return managed.count(std::string(canonical_address.substr(at + 1))) != 0;
}

DirectoryObject parse_directory_object(const json& item) {
    if (!item.is_object()) {
        throw malformed("an item of \"value\" is not an object");
    }
    DirectoryObject o;
    const auto id = item.find("id");
    if (id == item.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
        throw malformed("an item has no string \"id\"");
    }
    o.id = id->get<std::string>();
    if (o.id.size() > 256) {
        throw malformed("an item's id is longer than 256 bytes");
    }
    if (item.find("@removed") != item.end()) {
        o.removed = true;
        return o;
    }
    o.has_mail = optional_string(item, "mail", o.mail);
    o.has_upn = optional_string(item, "userPrincipalName", o.upn);
    const auto proxies = item.find("proxyAddresses");
    if (proxies != item.end()) {
        o.has_proxy_addresses = true;
        if (proxies->is_array()) {
            for (const auto& p : *proxies) {
                if (!p.is_string()) {
                    throw malformed("proxyAddresses holds a non-string");
                }
                o.proxy_addresses.push_back(p.get<std::string>());
            }
        } else if (!proxies->is_null()) {
            throw malformed("proxyAddresses is neither an array nor null");
        }
    }
    const auto mail_enabled = item.find("mailEnabled");
    if (mail_enabled != item.end()) {
        if (mail_enabled->is_boolean()) {
            o.mail_enabled = mail_enabled->get<bool>();
        } else if (!mail_enabled->is_null()) {
            throw malformed("mailEnabled is not a boolean");
        }
    }
    return o;
}

std::vector<std::string> object_addresses(const DirectoryObject& o, bool include_upn,
                                          const DomainSet& managed) {
    std::vector<std::string> out;
    if (o.mail) {
        add_address(*o.mail, managed, out);
    }
    for (const auto& p : o.proxy_addresses) {
        if (const auto a = smtp_proxy_address(p)) {
            add_address(*a, managed, out);
        }
    }
    // A guest's UPN ("bob_fabrikam.com#EXT#@contoso.onmicrosoft.com") is no mail address.
    if (include_upn && o.upn && o.upn->find("#EXT#") == std::string::npos &&
        o.upn->find("#ext#") == std::string::npos) {
        add_address(*o.upn, managed, out);
    }
    sort_unique(out);
    return out;
}

std::optional<std::vector<std::string>> merge_delta_addresses(
    const DirectoryObject& o, const std::vector<std::string>& previous, bool include_upn,
    const DomainSet& managed) {
    const bool upn_counts = include_upn;
    const bool any = o.has_mail || o.has_proxy_addresses || (upn_counts && o.has_upn);
    if (!any) {
        return std::nullopt;
    }
    std::vector<std::string> now = object_addresses(o, include_upn, managed);
    const bool complete = o.has_mail && o.has_proxy_addresses && (!upn_counts || o.has_upn);
    if (!complete) {
        // Absent = no information: keep what the object had (a stale address lingers until
        // the next full sync rather than a real one being rejected).
        for (const auto& a : previous) {
            if (in_managed_domain(a, managed)) {
                now.push_back(a);
            }
        }
        sort_unique(now);
    }
    return now;
}

DomainSet managed_domains_from_graph(const json& domains) {
    DomainSet out;
    for (const auto& d : domains) {
        if (!d.is_object()) {
            throw malformed("a domain is not an object");
        }
        const auto id = d.find("id");
        const auto verified = d.find("isVerified");
        const auto services = d.find("supportedServices");
        if (id == d.end() || !id->is_string()) {
            throw malformed("a domain has no string \"id\"");
        }
        if (verified == d.end() || !verified->is_boolean() || !verified->get<bool>()) {
            continue;
        }
        if (services == d.end() || !services->is_array()) {
            continue;
        }
        bool email = false;
        for (const auto& s : *services) {
            if (s.is_string() && s.get_ref<const std::string&>() == "Email") {
                email = true;
            }
        }
        if (email) {
            const std::string domain = canonical_domain(id->get<std::string>());
            if (!domain.empty()) {
                out.insert(domain);
            }
        }
    }
    return out;
}

std::vector<std::string> read_extra_recipients_file(const std::filesystem::path& file,
                                                    const std::string& tenant) {
    std::vector<std::string> out;
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    if (ec) {
        if (ec == std::errc::no_such_file_or_directory) {
            spdlog::warn("tenant={} event=extra_recipients_file status=missing file={}", tenant,
                         log_value(file.string()));
            return out;
        }
        throw sync_error(
            ErrorKind::config, "extra_recipients_file",
            "cannot read extra_recipients_file " + printable(file.string()) + ": " + ec.message());
    }
    if (size > max_extra_file_bytes) {
        throw sync_error(
            ErrorKind::config, "extra_recipients_file",
            "extra_recipients_file " + printable(file.string()) + " is larger than 16 MiB");
    }
    std::ifstream in(file);
    if (!in) {
        throw sync_error(ErrorKind::config, "extra_recipients_file",
                         "cannot open extra_recipients_file " + printable(file.string()) + ": " +
                             std::strerror(errno));
    }
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        const auto hash = line.find('#');
        const std::string text = trim(std::string_view(line).substr(0, hash));
        if (text.empty()) {
            continue;
        }
        auto canonical = canonical_address(text);
        if (!canonical) {
            spdlog::warn(
                "tenant={} event=extra_recipients_file status=skipped file={} line={} "
                "reason=not_an_address",
                tenant, log_value(file.string()), number);
            continue;
        }
        out.push_back(std::move(*canonical));
    }
    if (in.bad()) {
        throw sync_error(ErrorKind::config, "extra_recipients_file",
                         "error reading extra_recipients_file " + printable(file.string()));
    }
    return out;
}

Importer::Importer(GraphClient& graph, const TenantConfig& tenant, const std::atomic<bool>* stop)
    : graph_(graph), tenant_(tenant), stop_(stop) {}

void Importer::check_stop() const {
    if (stop_ != nullptr && stop_->load()) {
        throw SyncStopped();
    }
}

DomainSet Importer::managed_domains() {
    DomainSet out;
    if (!tenant_.domains.empty()) {
        for (const auto& d : tenant_.domains) {
            const std::string c = canonical_domain(d);
            if (!c.empty()) {
                out.insert(c);
            }
        }
        return out;
    }
    graph_.for_each_page(graph_.url("/domains?$select=id,isVerified,supportedServices"),
                         [&](const json& items) {
                             const DomainSet page = managed_domains_from_graph(items);
                             out.insert(page.begin(), page.end());
                         });
    if (out.empty()) {
        throw sync_error(ErrorKind::graph, "no_managed_domains",
                         "Graph lists no verified domain with the Email service; set domains "
                         "for this tenant in the config");
    }
    return out;
}

std::vector<std::pair<std::string, std::vector<std::string>>> Importer::extra_recipient_objects(
    const DomainSet& managed) const {
    auto keep = [&](std::vector<std::string> addresses, const char* source) {
        std::vector<std::string> out;
        for (auto& a : addresses) {
            auto canonical = canonical_address(a);
            if (!canonical) {
                spdlog::warn(
                    "tenant={} event=extra_recipient status=skipped source={} "
                    "reason=not_an_address address={}",
                    tenant_.name, source, log_value(a));
            } else if (!in_managed_domain(*canonical, managed)) {
                spdlog::warn(
                    "tenant={} event=extra_recipient status=skipped source={} "
                    "reason=unmanaged_domain address={}",
                    tenant_.name, source, log_value(*canonical));
            } else {
                out.push_back(std::move(*canonical));
            }
        }
        sort_unique(out);
        return out;
    };
    const std::vector<std::string> listed = keep(tenant_.extra_recipients, "extra_recipients");
    std::vector<std::string> from_file;
    if (!tenant_.extra_recipients_file.empty()) {
        from_file = keep(read_extra_recipients_file(tenant_.extra_recipients_file, tenant_.name),
                         "extra_recipients_file");
    }
    return {{"extra_recipients", listed}, {"extra_recipients_file", from_file}};
}

ImportStats Importer::full(store::Rebuild& rebuild, const DomainSet& managed) {
    ImportStats stats;
    // Delta links for "now" first: whatever changes while we enumerate shows up in the next
    // delta round (applying a change twice is harmless).
    for (const auto& c : collections) {
        const std::string url =
            graph_.url(std::string("/") + c.name + "/delta?" + c.select + "&$deltatoken=latest");
        std::string link;
        try {
            link = graph_.for_each_page(url, [](const json&) {});
        } catch (const DeltaReset& e) {
            throw sync_error(ErrorKind::graph, "syncStateNotFound", e.what());
        }
        if (link.empty()) {
            throw sync_error(ErrorKind::graph, "no_delta_link",
                             std::string("Graph sent no deltaLink for ") + c.name + "/delta");
        }
        stats.delta_links[c.name] = link;
        check_stop();
    }

    stats.domains = managed.size();
    const std::pair<const Collection*, std::string> lists[] = {
        {&collections[0], graph_.url(std::string("/users?") + users_select + "&$top=999")},
        {&collections[1], graph_.url(std::string("/groups?$filter=mailEnabled%20eq%20true&") +
                                     groups_select + "&$top=999")},
        {&collections[2], graph_.url(std::string("/contacts?") + contacts_select + "&$top=999")},
    };
    for (const auto& entry : lists) {
        const Collection* c = entry.first;  // not a structured binding: the lambda captures it
        graph_.for_each_page(entry.second, [&](const json& items) {
            check_stop();
            for (const auto& item : items) {
                const DirectoryObject o = parse_directory_object(item);
                ++stats.items;
                if (o.removed || (o.mail_enabled && !*o.mail_enabled)) {
                    continue;
                }
                const auto addresses = object_addresses(o, tenant_.include_upn, managed);
                if (!addresses.empty()) {
                    rebuild.put_object(c->kind, o.id, addresses);
                }
            }
        });
    }
    for (const auto& [id, addresses] : extra_recipient_objects(managed)) {
        if (!addresses.empty()) {
            rebuild.put_object(store::ObjectKind::extra, id, addresses);
        }
    }
    return stats;
}

ImportStats Importer::delta(store::Writer& w, const DomainSet& managed,
                            const std::map<std::string, std::string>& links) {
    ImportStats stats;
    stats.domains = managed.size();
    for (const auto& c : collections) {
        const auto link = links.find(c.name);
        if (link == links.end() || link->second.empty()) {
            throw DeltaReset(std::string("no stored delta link for ") + c.name);
        }
        const std::string next = graph_.for_each_page(link->second, [&](const json& items) {
            check_stop();
            for (const auto& item : items) {
                const DirectoryObject o = parse_directory_object(item);
                ++stats.items;
                if (o.removed || (o.mail_enabled && !*o.mail_enabled)) {
                    w.remove_object(tenant_.name, o.id);
                    ++stats.removed;
                    continue;
                }
                const auto previous = w.object_addresses(tenant_.name, o.id);
                const auto merged =
                    merge_delta_addresses(o, previous, tenant_.include_upn, managed);
                if (!merged) {
                    continue;
                }
                if (merged->empty()) {
                    w.remove_object(tenant_.name, o.id);
                } else if (*merged != previous) {
                    w.put_object(tenant_.name, c.kind, o.id, *merged);
                }
            }
        });
        if (next.empty()) {
            throw sync_error(
                ErrorKind::graph, "no_delta_link",
                std::string("a delta round of ") + c.name + " ended without a deltaLink");
        }
        stats.delta_links[c.name] = next;
    }
    for (const auto& [id, addresses] : extra_recipient_objects(managed)) {
        if (addresses.empty()) {
            w.remove_object(tenant_.name, id);
        } else {
            w.put_object(tenant_.name, store::ObjectKind::extra, id, addresses);
        }
    }
    return stats;
}

}  // namespace m365gate::sync
