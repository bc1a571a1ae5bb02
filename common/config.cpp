// common/config.cpp - m365gate.toml into one Config: the entry points (load_config,
// parse_config), the top level of the file, and reading a file whole. The values are read in
// config_values.cpp, the sections in config_sections.cpp and config_tenant.cpp; credential
// files in credentials.cpp.

#include "common/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "common/config_internal.h"

namespace m365gate {
namespace config_detail {

std::string errno_text(int err) { return std::generic_category().message(err); }

void fail_too_large(const std::string& file, const char* what, std::size_t limit) {
    throw ConfigError(file + ": " + what + " is larger than " +
                      (limit >= (1u << 20) ? std::to_string(limit >> 20) + " MiB"
                                           : std::to_string(limit >> 10) + " KiB") +
                      "; refusing it");
}

toml::table parse_toml(std::string_view text, const std::string& name, const char* withheld) {
    try {
        return toml::parse(text, name);
    } catch (const toml::parse_error& e) {
        throw ConfigError(
            name + ":" + std::to_string(e.source().begin.line) + ":" +
            std::to_string(e.source().begin.column) + ": " +
            (withheld != nullptr ? std::string(withheld) : std::string(e.description())));
    }
}

UniqueFd open_regular(const std::string& name, const char* what, struct stat& st, bool follow) {
    UniqueFd fd(::open(name.c_str(),
                       O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW)));
    if (fd.get() < 0) {
        if (!follow && errno == ELOOP) {
            throw ConfigError(name + ": " + what +
                              " is a symbolic link: point the config at the real file");
        }
        throw ConfigError(name + ": cannot open " + what + ": " + errno_text(errno));
    }
    if (::fstat(fd.get(), &st) != 0) {
        throw ConfigError(name + ": cannot stat " + what + ": " + errno_text(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw ConfigError(name + ": " + what + " is not a regular file");
    }
    return fd;
}

std::string read_whole(int fd, std::size_t limit, const std::string& name, const char* what) {
    std::string text;
    char buffer[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw ConfigError(name + ": cannot read " + what + ": " + errno_text(errno));
        }
        if (n == 0) {
            return text;
        }
        text.append(buffer, std::size_t(n));
        if (text.size() > limit) {
            fail_too_large(name, what, limit);
        }
    }
}

namespace {

constexpr std::size_t max_config_bytes = 1u << 20;  // 1 MiB

// Every top-level key is one of the sections.
void check_top_level(const std::string& name, const toml::table& root) {
    static const std::vector<std::string_view> sections = {
        "store", "log", "milter", "sync", "alerts", "metrics", "postfix", "tenant"};
    const toml::key* unknown = first_unknown_key(root, sections);
    if (unknown == nullptr) {
        return;
    }
    const toml::node& node = *root.get(unknown->str());
    const int line = static_cast<int>(unknown->source().begin.line);
    if (node.is_table()) {
        fail_line(name, line, "[" + std::string(unknown->str()) + "]", "unknown section");
    }
    fail_line(name, line, key_text(unknown->str()),
              "unknown key outside any section (sections: [store], [log], [milter], "
              "[sync], [alerts], [metrics], [postfix], [[tenant]])");
}

const toml::table* section_table(const std::string& file, const toml::table& root,
                                 std::string_view name) {
    const toml::node* n = root.get(name);
    if (n == nullptr) {
        return nullptr;
    }
    if (!n->is_table()) {
        fail_line(file, line_of(*n), "[" + std::string(name) + "]",
                  std::string("expected a table, got ") + type_name(n->type()));
    }
    return n->as_table();
}

}  // namespace
}  // namespace config_detail

using namespace config_detail;

Config parse_config(std::string_view text, const std::string& name) {
    if (text.size() > max_config_bytes) {
        fail_too_large(name, "configuration", max_config_bytes);
    }
    const toml::table root = parse_toml(text, name);
    check_top_level(name, root);

    Config cfg;
    cfg.file = name;
    if (const toml::table* t = section_table(name, root, "store")) {
        read_store(name, *t, cfg.store);
    }
    if (const toml::table* t = section_table(name, root, "log")) {
        read_log(name, *t, cfg.log);
    }
    if (const toml::table* t = section_table(name, root, "milter")) {
        read_milter(name, *t, cfg.milter, cfg.decision);
    }
    if (const toml::table* t = section_table(name, root, "sync")) {
        read_sync(name, *t, cfg.sync);
    }
    cfg.decision.stale_after = cfg.sync.stale_after;
    if (const toml::table* t = section_table(name, root, "alerts")) {
        read_alerts(name, *t, cfg.alerts);
    }
    if (const toml::table* t = section_table(name, root, "metrics")) {
        read_metrics(name, *t, cfg.metrics);
    }
    if (const toml::table* t = section_table(name, root, "postfix")) {
        read_postfix(name, *t, cfg.postfix);
    }
    if (const toml::node* n = root.get("tenant")) {
        read_tenants(name, *n, cfg);
    }
    return cfg;
}

Config load_config(const std::filesystem::path& file) {
    const std::string name = file.string();
    struct stat st {};
    const UniqueFd fd = open_regular(name, "configuration", st);
    const std::string text = read_whole(fd.get(), max_config_bytes, name, "configuration");
    Config cfg = parse_config(text, name);
    cfg.file = file;
    return cfg;
}

}  // namespace m365gate
