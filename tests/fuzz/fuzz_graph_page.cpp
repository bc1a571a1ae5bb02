// tests/fuzz/fuzz_graph_page.cpp - what m365gate-sync reads from Graph: a page or delta round
// (sync/graph.h parse_graph_page, nextLink/deltaLink origin checks, the error body) and the
// directory objects in it (sync/importer.h parse_directory_object, object_addresses,
// merge_delta_addresses, managed_domains_from_graph, smtp_proxy_address).
//
// Input: the response body. Invariants (abort() on violation):
//   - only SyncError(graph, malformed_response) is thrown for bad pages and items;
//   - a link is followed only when it is on the configured origin, with no blank, control,
//     backslash or 8-bit byte;
//   - object_addresses(): sorted, unique, every one in a managed domain, no control byte,
//     no @removed object has addresses;
//   - merge_delta_addresses(): nothing when no address property is present; exactly
//     object_addresses() when all are present; else that plus the previous managed addresses;
//   - managed domains are non-empty and hold no ASCII upper case.
#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/log.h"
#include "fuzz_check.h"
#include "sync/graph.h"
#include "sync/http.h"
#include "sync/importer.h"
#include "sync/sync_error.h"

namespace {

using namespace m365gate;
using namespace m365gate::sync;

const std::string origin = "https://graph.microsoft.com";

void check_malformed(const SyncError& e) {
    FUZZ_CHECK(e.result().error_kind == "graph", e.what());
    FUZZ_CHECK(e.result().error_code == "malformed_response", e.what());
}

void check_link(const std::string& link) {
    if (link.empty()) return;
    if (same_origin(link, origin)) {
        FUZZ_CHECK(link.size() > origin.size() && link[origin.size()] == '/', link);
        FUZZ_CHECK(link.find('\\') == std::string::npos, link);
        for (unsigned char c : link) {
            FUZZ_CHECK(c > 0x20 && c < 0x7f, link);
        }
        const std::string collection = collection_of(link, origin);
        FUZZ_CHECK(collection.find_first_of("/?(") == std::string::npos, collection);
        (void)permission_for(collection);
    } else {
        FUZZ_CHECK(collection_of(link, origin).empty(), link);
    }
    FUZZ_CHECK(fuzz::printable_ascii(log_value(link, 120)), link);
}

void check_addresses(const std::vector<std::string>& out, const DomainSet& managed) {
    FUZZ_CHECK(std::is_sorted(out.begin(), out.end()), "not sorted");
    FUZZ_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), "not unique");
    for (const auto& a : out) {
        FUZZ_CHECK(in_managed_domain(a, managed), a);
        FUZZ_CHECK(a.size() <= max_address_octets, a);
        FUZZ_CHECK(a.find_first_of(std::string_view("\0\r\n", 3)) == std::string::npos, a);
    }
}

void check_object(const DirectoryObject& o, const DomainSet& managed,
                  const std::vector<std::string>& previous) {
    FUZZ_CHECK(!o.id.empty() && o.id.size() <= 256, o.id);
    for (const auto& p : o.proxy_addresses) {
        if (const auto a = smtp_proxy_address(p)) {
            FUZZ_CHECK(!a->empty(), p);
            FUZZ_CHECK(ascii_lower(std::string_view(p).substr(0, 5)) == "smtp:", p);
            FUZZ_CHECK(
                a->front() != ' ' && a->front() != '\t' && a->back() != ' ' && a->back() != '\t',
                p);
        }
    }
    for (const bool include_upn : {false, true}) {
        const auto now = object_addresses(o, include_upn, managed);
        check_addresses(now, managed);
        if (o.removed) {
            FUZZ_CHECK(now.empty(), o.id);
        }
        const auto merged = merge_delta_addresses(o, previous, include_upn, managed);
        const bool any = o.has_mail || o.has_proxy_addresses || (include_upn && o.has_upn);
        FUZZ_CHECK(merged.has_value() == any, o.id);
        if (!merged) continue;
        check_addresses(*merged, managed);
        const bool complete = o.has_mail && o.has_proxy_addresses && (!include_upn || o.has_upn);
        std::vector<std::string> want = now;
        if (!complete) {
            for (const auto& a : previous) {
                if (in_managed_domain(a, managed)) want.push_back(a);
            }
            std::sort(want.begin(), want.end());
            want.erase(std::unique(want.begin(), want.end()), want.end());
        }
        FUZZ_CHECK(*merged == want, o.id);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);

    // The same bytes as an error body (non-200 answers).
    const GraphErrorBody err = parse_graph_error(body);
    FUZZ_CHECK(fuzz::printable_ascii(log_value(err.code, 80)), err.code);
    FUZZ_CHECK(fuzz::printable_ascii(log_value(err.request_id, 64)), err.request_id);

    GraphPage page;
    PageDefect defect = PageDefect::none;
    try {
        defect = parse_graph_page(body, "/v1.0/users/delta", page);
    } catch (const SyncError& e) {
        check_malformed(e);
        return 0;
    }
    if (defect != PageDefect::none) {
        FUZZ_CHECK(page.value.is_null() && page.next_link.empty() && page.delta_link.empty(),
                   "a defective page filled the output");
        return 0;
    }
    FUZZ_CHECK(page.value.is_array(), "value is not an array");
    check_link(page.next_link);
    check_link(page.delta_link);

    // The page as /domains: verified Email domains.
    DomainSet managed = {"contoso.example", "customer.example", "xn--bcher-kva.example"};
    try {
        const DomainSet from_graph = managed_domains_from_graph(page.value);
        for (const auto& d : from_graph) {
            FUZZ_CHECK(!d.empty(), "empty domain");
            FUZZ_CHECK(
                std::none_of(d.begin(), d.end(), [](char c) { return c >= 'A' && c <= 'Z'; }), d);
        }
        managed.insert(from_graph.begin(), from_graph.end());
    } catch (const SyncError& e) {
        check_malformed(e);
    }

    // The page as users/groups/contacts, each object merged over the one before it.
    std::vector<std::string> previous = {"alice@contoso.example", "old@customer.example",
                                         "x@unmanaged.example"};
    for (const auto& item : page.value) {
        try {
            const DirectoryObject o = parse_directory_object(item);
            check_object(o, managed, previous);
            auto now = object_addresses(o, true, managed);
            if (!now.empty()) previous = std::move(now);
        } catch (const SyncError& e) {
            check_malformed(e);
        }
    }
    return 0;
}
