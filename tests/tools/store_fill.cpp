// tests/tools/store_fill.cpp - m365gate-store-fill: publish a tenant's recipient list into an
// LMDB store from a text file, for tests and benchmarks (the sync worker's stand-in).
//
//   m365gate-store-fill --store DIR --tenant NAME --domain D [--domain D...]
//                       --addresses FILE|- [--last-success UNIX|now|never] [--max-size SIZE]
//
// One object per line (kind user, id "u<n>"); several addresses on one line, separated by
// blanks, are one object (a user and its aliases). Blank lines and lines starting with '#' are
// skipped. Publishes through store::publish(): one write transaction that replaces the tenant's
// previous list, exactly as a full sync does.
#include <sysexits.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/address.h"
#include "common/config.h"
#include "store/store.h"

namespace {

using namespace m365gate;

std::int64_t parse_last_success(const std::string& text) {
    if (text == "now") {
        return static_cast<std::int64_t>(std::time(nullptr));
    }
    if (text == "never") {
        return 0;
    }
    std::size_t used = 0;
    const long long value = std::stoll(text, &used);
    if (used != text.size() || value < 0) {
        throw std::invalid_argument("--last-success: want UNIX seconds, now or never");
    }
    return value;
}

void read_objects(std::istream& in, store::TenantList& list, std::uint64_t& addresses) {
    std::string line;
    std::size_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream words(line);
        store::TenantObject object;
        object.kind = store::ObjectKind::user;
        object.id = "u" + std::to_string(list.objects.size() + 1);
        std::string word;
        while (words >> word) {
            auto canonical = canonical_address(word);
            if (!canonical) {
                std::cerr << "m365gate-store-fill: line " << line_no << ": not an address: " << word
                          << "\n";
                continue;
            }
            object.addresses.push_back(std::move(*canonical));
        }
        if (!object.addresses.empty()) {
            addresses += object.addresses.size();
            list.objects.push_back(std::move(object));
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"m365gate-store-fill: publish a tenant's recipient list into a store (tests)"};
    std::string dir;
    std::string tenant;
    std::vector<std::string> domains;
    std::string addresses_file;
    std::string last_success = "now";
    std::string max_size = "1G";
    cli.add_option("--store", dir, "store directory")->required();
    cli.add_option("--tenant", tenant, "tenant name")->required();
    cli.add_option("--domain", domains, "managed domain (repeatable)")->required();
    cli.add_option("--addresses", addresses_file, "file with one object per line, - for stdin")
        ->required();
    cli.add_option("--last-success", last_success, "UNIX seconds, now or never")
        ->capture_default_str();
    cli.add_option("--max-size", max_size, "map size (store.max_size)")->capture_default_str();
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? EX_OK : EX_USAGE;
    }

    try {
        const auto started = std::chrono::steady_clock::now();
        const auto size = parse_size(max_size);
        if (!size) {
            throw std::invalid_argument("--max-size: not a size: " + max_size);
        }
        store::TenantList list;
        list.tenant = tenant;
        for (const auto& d : domains) {
            list.domains.push_back(canonical_domain(d));
        }
        std::uint64_t addresses = 0;
        if (addresses_file == "-") {
            read_objects(std::cin, list, addresses);
        } else {
            std::ifstream in(addresses_file);
            if (!in) {
                throw std::runtime_error("cannot read " + addresses_file);
            }
            read_objects(in, list, addresses);
        }
        const std::int64_t success = parse_last_success(last_success);
        list.state.last_attempt = success;
        list.state.last_success = success;
        list.state.last_full_sync = success;
        list.state.last_sync_kind = success == 0 ? "" : "full";
        list.state.address_count = addresses;
        list.state.domain_count = list.domains.size();
        list.state.object_count = list.objects.size();

        store::StoreOptions options;
        options.max_size = *size;
        store::Store st(dir, options);
        store::publish(st, list);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::cout << "m365gate-store-fill: tenant=" << tenant << " objects=" << list.objects.size()
                  << " addresses=" << addresses << " domains=" << list.domains.size()
                  << " last_success=" << success << " data_bytes=" << st.file_size()
                  << " seconds=" << seconds << "\n";
        return EX_OK;
    } catch (const std::exception& e) {
        std::cerr << "m365gate-store-fill: " << e.what() << "\n";
        return EX_SOFTWARE;
    }
}
