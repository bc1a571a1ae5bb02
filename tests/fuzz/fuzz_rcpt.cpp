// tests/fuzz/fuzz_rcpt.cpp - the RCPT path of the milter: parse_rcpt/canonical_key, decide()
// against a real LMDB store, reply_for()/reply_text(), and handle_rcpt() (the milter's own
// RCPT handler, with its log lines) on the same store.
//
// Input: the RCPT argument, then optionally '\n' and knobs read with FuzzedDataProvider (the
// decision settings, a reply template, code and status, the connection's client name, sender
// and queue id). A plain seed file ("<bob@customer.example>") is just an address.
//
// Invariants (abort() on violation):
//   - decide() agrees with a small model of DESIGN.md steps 1-8 written here against the
//     known contents of the store (the differential check that catches a wrong answer): role
//     addresses before the store check and after each cut, every delimiter position tried;
//   - the canonical form is a fixed point (parsing a key gives the key back), a dot-atom local
//     part means the same mailbox quoted and with every character escaped, and a domain that
//     parses is ASCII (U-labels become A-labels);
//   - report mode never refuses; enforce mode's verdict is would_be;
//   - reply_for(): nothing for accept, a 5xx code and 5.x.x status for reject, 4xx / 4.x.x
//     for tempfail, whatever the configured code/status; the text is printable ASCII, at most
//     max_reply_text bytes, every '%' doubled;
//   - handle_rcpt() decides and replies exactly as decide() + reply_for() do; its key=value
//     line is printable ASCII, its JSON line is one line of valid JSON.
#include <fuzzer/FuzzedDataProvider.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/config.h"
#include "decision/decision.h"
#include "fuzz_check.h"
#include "milter/glue.h"
#include "milter/rejection.h"
#include "milter/reply.h"
#include "store/store.h"

namespace {

using namespace m365gate;

constexpr std::int64_t now = 1'800'000'000;
constexpr std::int64_t day = 86400;

// What the store holds, kept here too so the model can answer without the store.
struct ModelTenant {
    std::string name;
    std::vector<std::string> domains;  // in the store (and, for some, in the config)
    std::set<std::string> addresses;   // canonical
    std::int64_t last_success = 0;     // 0 = never synced
    bool has_state = true;             // false: config only (northwind)
};

struct World {
    std::filesystem::path dir;
    // The App's read-only store, shared here: LMDB wants one environment per file per process.
    std::shared_ptr<const store::Store> st;
    std::vector<ModelTenant> model;
    std::shared_ptr<Config> base;  // tenants and store path for the App
    std::unique_ptr<milter::App> app;
};
World* world = nullptr;

void remove_world() {
    if (world != nullptr) {
        std::error_code ec;
        world->st.reset();
        world->app.reset();
        std::filesystem::remove_all(world->dir, ec);
    }
}

void publish(store::Store& st, const ModelTenant& t) {
    store::TenantList list;
    list.tenant = t.name;
    list.domains = t.domains;
    int n = 0;
    for (const auto& a : t.addresses) {
        store::TenantObject o;
        o.kind = (n % 3 == 0)
                     ? store::ObjectKind::user
                     : (n % 3 == 1 ? store::ObjectKind::group : store::ObjectKind::contact);
        o.id = t.name + "-obj-" + std::to_string(++n);
        o.addresses = {a};
        list.objects.push_back(std::move(o));
    }
    list.state.last_attempt = t.last_success;
    list.state.last_success = t.last_success;
    store::publish(st, list);
}

// The config's view of the tenants (what decide() uses without a store).
std::vector<TenantConfig> config_tenants() {
    TenantConfig contoso;
    contoso.name = "contoso";
    contoso.domains = {"customer.example",
                       "B\xC3\xBC"
                       "cher.example"};  // not contoso.example
    contoso.extra_recipients = {"dyn-group@customer.example", "<Other.List@Customer.Example>"};
    TenantConfig fabrikam;
    fabrikam.name = "fabrikam";
    fabrikam.domains = {"fabrikam.example"};
    TenantConfig tailspin;
    tailspin.name = "tailspin";
    tailspin.domains = {"tailspin.example"};
    TenantConfig northwind;
    northwind.name = "northwind";
    northwind.domains = {"northwind.example"};
    return {contoso, fabrikam, tailspin, northwind};
}

World* make_world() {
    auto w = std::make_unique<World>();
    std::string pattern = (std::filesystem::temp_directory_path() / "fuzz_rcpt.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
        std::abort();
    }
    w->dir = pattern;
    store::StoreOptions options;
    options.max_size = 64ull << 20;
    {
        store::Store writer(w->dir / "store", options);
        w->model = {
            {"contoso",
             {"customer.example", "contoso.example", "xn--bcher-kva.example"},
             {"alice@customer.example", "alice.smith@customer.example", "bob@customer.example",
              "bob@contoso.example", "first-last@customer.example", "\"john doe\"@customer.example",
              "100%off@customer.example", "bang!path@customer.example",
              "j\xC3\xB6rg@customer.example", "info@xn--bcher-kva.example", "a@customer.example",
              "x+y@customer.example", "%s%n@customer.example", "<b>@customer.example",
              "mary-jane@customer.example", "\"al\\\"ice\"@customer.example"},
             now - 600,
             true},
            {"fabrikam", {"fabrikam.example"}, {"carol@fabrikam.example"}, now - 2 * day, true},
            {"tailspin", {"tailspin.example"}, {"dave@tailspin.example"}, 0, true},
            {"northwind", {}, {}, 0, false},
        };
        for (const auto& t : w->model) {
            if (t.has_state) {
                publish(writer, t);
            }
        }
    }
    w->base = std::make_shared<Config>();
    w->base->store.path = w->dir / "store";
    w->base->store.max_size = options.max_size;
    w->base->tenants = config_tenants();
    w->app = std::make_unique<milter::App>(w->base);
    w->st = w->app->store().get();
    if (!w->st) {
        std::abort();
    }
    return w.release();
}

// ---- the model of DESIGN.md steps 1-8, against World::model -------------------------------
// Steps 1-2 (parsing, the canonical form) are parse_rcpt()'s, checked on their own below.

struct Expected {
    Verdict verdict;
    std::string reason;
    std::string tenant;
    int step;
};

bool null_path(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s.empty() || s == "<>";
}

const ModelTenant* model_tenant(std::string_view name) {
    for (const auto& t : world->model) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

Expected model_decide(std::string_view rcpt, const DecisionSettings& s,
                      const std::vector<decision::TenantPolicy>& policies, bool with_store) {
    if (null_path(rcpt)) return {Verdict::accept, "null_sender_rcpt", "", 1};
    const auto a = parse_rcpt(rcpt);
    if (!a) return {Verdict::accept, "unparseable", "", 1};
    const std::string key = canonical_key(*a);
    std::string tenant;
    if (with_store) {
        for (const auto& t : world->model) {
            if (std::find(t.domains.begin(), t.domains.end(), a->domain) != t.domains.end()) {
                tenant = t.name;
            }
        }
    }
    const decision::TenantPolicy* policy = nullptr;
    for (const auto& p : policies) {
        if (tenant.empty() &&
            std::find(p.domains.begin(), p.domains.end(), a->domain) != p.domains.end()) {
            tenant = p.name;
        }
    }
    for (const auto& p : policies) {
        if (p.name == tenant) policy = &p;
    }
    if (tenant.empty()) return {Verdict::accept, "unmanaged_domain", "", 2};
    if (policy != nullptr && !policy->enabled)
        return {Verdict::accept, "tenant_disabled", tenant, 2};
    // The bases step 3 and step 6 try: cut before each delimiter after the first byte,
    // leftmost first, at most max_subaddress_cuts; a quoted local part is never cut.
    std::vector<std::string> bases;
    for (std::size_t i = 1; !a->quoted && i < a->local.size(); ++i) {
        if (bases.size() == decision::max_subaddress_cuts) break;
        if (s.subaddress_delimiters.find(a->local[i]) != std::string::npos) {
            bases.push_back(a->local.substr(0, i));
        }
    }
    const auto is_role = [&](const std::string& local) {
        return std::find(s.always_accept.begin(), s.always_accept.end(), local) !=
               s.always_accept.end();
    };
    bool role = is_role(a->local);
    for (const auto& b : bases) role = role || is_role(b);
    if (role) return {Verdict::accept, "always_accept", tenant, 3};
    const ModelTenant* t = model_tenant(tenant);
    const std::int64_t last = (with_store && t != nullptr && t->has_state) ? t->last_success : 0;
    if (last == 0) return {s.on_cache_unavailable, "cache_unavailable", tenant, 4};
    const auto is_recipient = [&](const std::string& k) {
        if (t->addresses.count(k) != 0) return true;
        return policy != nullptr &&
               std::find(policy->extra_recipients.begin(), policy->extra_recipients.end(), k) !=
                   policy->extra_recipients.end();
    };
    if (t->addresses.count(key) != 0) return {Verdict::accept, "known", tenant, 5};
    if (is_recipient(key)) return {Verdict::accept, "extra_recipient", tenant, 5};
    for (const auto& b : bases) {
        if (is_recipient(b + "@" + a->domain)) {
            return {Verdict::accept, "known_subaddress", tenant, 6};
        }
    }
    if (now - last > static_cast<std::int64_t>(s.stale_after.count())) {
        return {s.on_stale, "stale", tenant, 7};
    }
    return {Verdict::reject, "unknown_recipient", tenant, 8};
}

// ---- checks ----------------------------------------------------------------------------------

std::string describe(std::string_view rcpt, const decision::Decision& d) {
    return "rcpt=" + std::string(rcpt.substr(0, 200)) + " reason=" + std::string(d.reason) +
           " tenant=" + d.tenant + " step=" + std::to_string(d.step) +
           " verdict=" + std::to_string(static_cast<int>(d.verdict)) +
           " would_be=" + std::to_string(static_cast<int>(d.would_be));
}

void check_reply_text(std::string_view text, std::size_t max_len) {
    FUZZ_CHECK(text.size() <= max_len, text);
    FUZZ_CHECK(fuzz::printable_ascii(text), text);
    // Every '%' doubled: runs of '%' have even length, so none is half of a pair.
    std::size_t run = 0;
    for (char c : text) {
        if (c == '%') {
            ++run;
        } else {
            FUZZ_CHECK(run % 2 == 0, text);
            run = 0;
        }
    }
    FUZZ_CHECK(run % 2 == 0, text);
}

bool valid_code(const std::string& code, char cls) {
    return code.size() == 3 && code[0] == cls && code[1] >= '0' && code[1] <= '9' &&
           code[2] >= '0' && code[2] <= '9';
}

void check_reply(Verdict verdict, const std::optional<milter::SmtpReply>& r,
                 const DecisionSettings& s, std::string_view what) {
    if (verdict == Verdict::accept) {
        FUZZ_CHECK(!r, what);
        return;
    }
    FUZZ_CHECK(r.has_value(), what);
    const char cls = verdict == Verdict::reject ? '5' : '4';
    FUZZ_CHECK(valid_code(r->code, cls), r->code);
    FUZZ_CHECK(r->status.size() >= 5 && r->status[0] == cls && r->status[1] == '.', r->status);
    const Reply& configured = verdict == Verdict::reject ? s.reject : s.tempfail;
    if (r->code != configured.code) {  // fell back: the built-in default of that class
        FUZZ_CHECK(r->code == (cls == '5' ? "550" : "451"), r->code);
    }
    check_reply_text(r->text, milter::max_reply_text);
}

bool same(const decision::Decision& a, const decision::Decision& b) {
    return a.verdict == b.verdict && a.would_be == b.would_be && a.reason == b.reason &&
           a.tenant == b.tenant && a.address == b.address && a.step == b.step;
}

void check_decision(std::string_view rcpt, const DecisionSettings& s,
                    const std::vector<decision::TenantPolicy>& policies, bool with_store) {
    std::optional<store::Snapshot> snap;
    if (with_store) snap.emplace(*world->st);
    const decision::Decision d = decision::decide(rcpt, s, policies, snap ? &*snap : nullptr, now);
    const Expected e = model_decide(rcpt, s, policies, with_store);
    const std::string what = describe(rcpt, d) + " expected reason=" + e.reason +
                             " tenant=" + e.tenant + " step=" + std::to_string(e.step);
    FUZZ_CHECK(d.reason == e.reason && d.tenant == e.tenant && d.step == e.step, what);
    FUZZ_CHECK(d.would_be == e.verdict, what);
    // The owning tenant's own mode, else [milter]'s.
    MilterMode mode = s.mode;
    for (const auto& p : policies) {
        if (p.name == e.tenant && p.mode) mode = *p.mode;
    }
    if (mode == MilterMode::report) {
        FUZZ_CHECK(d.verdict == Verdict::accept, what);
    } else {
        FUZZ_CHECK(d.verdict == d.would_be, what);
    }
    if (d.step == 1) {
        FUZZ_CHECK(d.address.empty() && d.verdict == Verdict::accept, what);
    } else {
        FUZZ_CHECK(canonical_address(rcpt) == d.address, what);
    }
    if (d.reason == "known" || d.reason == "known_subaddress") {
        // known_subaddress may come from an extra recipient (no directory object).
        if (d.recipient) {
            FUZZ_CHECK(d.recipient->tenant == d.tenant && !d.recipient->object_id.empty(), what);
        } else {
            FUZZ_CHECK(d.reason == "known_subaddress", what);
        }
    }
    const std::string_view to = milter::strip_brackets(rcpt);
    check_reply(d.verdict, milter::reply_for(d.verdict, to, s), s, what);
    check_reply(d.would_be, milter::reply_for(d.would_be, to, s), s, what);
}

Verdict verdict_of(std::uint8_t bits) {
    switch (bits % 3) {
        case 0:
            return Verdict::tempfail;
        case 1:
            return Verdict::reject;
        default:
            return Verdict::accept;
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    // handle_rcpt() logs: format every line (trace level) into a sink that drops it.
    auto logger =
        std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
    world = make_world();
    std::atexit(remove_world);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t lf = input.find('\n');
    std::string_view rcpt = input.substr(0, lf);

    // The settings: defaults unless knobs follow the address.
    DecisionSettings s;
    milter::Connection conn;
    std::string rcpt_whole;
    bool with_store = true;
    std::uint32_t tenant_bits = 0;  // per-tenant mode and enabled, two bits per tenant
    if (lf != std::string_view::npos) {
        FuzzedDataProvider knobs(data + lf + 1, size - lf - 1);
        const auto bits = knobs.ConsumeIntegral<std::uint32_t>();
        s.mode = (bits & 1) ? MilterMode::report : MilterMode::enforce;
        s.on_stale = verdict_of(std::uint8_t(bits >> 1));
        s.on_cache_unavailable = verdict_of(std::uint8_t(bits >> 3));
        with_store = (bits & (1u << 5)) == 0;
        if (bits & (1u << 6)) s.always_accept.clear();
        if (bits & (1u << 7)) s.always_accept.push_back(knobs.ConsumeRandomLengthString(16));
        if (bits & (1u << 8)) s.subaddress_delimiters = knobs.ConsumeRandomLengthString(4);
        if (bits & (1u << 9)) s.stale_after = Seconds(knobs.ConsumeIntegral<std::uint32_t>());
        if (bits & (1u << 10)) s.reject.text = knobs.ConsumeRandomLengthString(1200);
        if (bits & (1u << 11)) s.tempfail.text = knobs.ConsumeRandomLengthString(1200);
        if (bits & (1u << 12)) s.reject.code = knobs.ConsumeRandomLengthString(4);
        if (bits & (1u << 13)) s.reject.status = knobs.ConsumeRandomLengthString(8);
        if (bits & (1u << 14)) s.tempfail.code = knobs.ConsumeRandomLengthString(4);
        if (bits & (1u << 15)) s.tempfail.status = knobs.ConsumeRandomLengthString(8);
        tenant_bits = bits >> 17;
        conn.client_name = knobs.ConsumeRandomLengthString(300);
        conn.client_addr = knobs.ConsumeRandomLengthString(64);
        conn.sender = knobs.ConsumeRandomLengthString(1100);
        conn.queue_id = knobs.ConsumeRandomLengthString(40);
        if (bits & (1u << 16)) {
            rcpt_whole.assign(input);  // the LF (and everything after it) inside the address
            rcpt = rcpt_whole;
        }
        // reply_text() on its own, with any bound.
        const std::string raw = knobs.ConsumeRandomLengthString(2000);
        const std::size_t max_len = knobs.ConsumeIntegralInRange<std::size_t>(0, 1000);
        check_reply_text(milter::reply_text(raw, max_len), max_len);
    }

    // parse_rcpt() never reads past its input and agrees with canonical_address().
    const auto parsed = parse_rcpt(rcpt);
    if (parsed) {
        const std::string key = canonical_key(*parsed);
        FUZZ_CHECK(!parsed->local.empty() && !parsed->domain.empty(), key);
        FUZZ_CHECK(key.size() <= max_address_octets, key);
        FUZZ_CHECK(key.find_first_of(std::string_view("\0\r\n", 3)) == std::string::npos, key);
        FUZZ_CHECK(canonical_address(rcpt) == key, key);
        // A domain that parses is ASCII: U-labels became A-labels.
        FUZZ_CHECK(std::all_of(parsed->domain.begin(), parsed->domain.end(),
                               [](char c) { return static_cast<unsigned char>(c) < 0x80; }),
                   key);
        // The canonical form is a fixed point, where the key is not itself read differently
        // (a leading '@' is a source route, '<' a bracket, blanks are trimmed, one trailing
        // dot of the domain is removed).
        // ("b@.." has the domain "."; "<a@d >" the domain "d ").
        const char first = key.front();
        const char last = key.back();
        const bool domain_reads_back = last != ' ' && last != '\t' && last != '.';
        if (domain_reads_back && first != '@' && first != '<' && first != ' ' && first != '\t') {
            FUZZ_CHECK(canonical_address(key) == key, key);
        }
        // A dot-atom local part is the same mailbox quoted, and with every character escaped.
        if (domain_reads_back && !parsed->quoted && is_dot_atom(parsed->local)) {
            std::string escaped = "\"";
            for (char c : parsed->local) {
                escaped.push_back('\\');
                escaped.push_back(c);
            }
            escaped += "\"@" + parsed->domain;
            const std::string quoted = "\"" + parsed->local + "\"@" + parsed->domain;
            if (quoted.size() <= max_address_octets) {
                FUZZ_CHECK(canonical_address(quoted) == key, key);
            }
            if (escaped.size() <= max_address_octets) {
                FUZZ_CHECK(canonical_address(escaped) == key, key);
            }
        }
    } else {
        FUZZ_CHECK(!canonical_address(rcpt), rcpt);
    }

    // decide() with the policies the milter computes from the config, with and without store.
    Config cfg = *world->base;
    cfg.decision = s;
    for (std::size_t i = 0; i < cfg.tenants.size(); ++i) {  // none, enforce, report, disabled
        switch ((tenant_bits >> (2 * i)) & 3u) {
            case 1:
                cfg.tenants[i].mode = MilterMode::enforce;
                break;
            case 2:
                cfg.tenants[i].mode = MilterMode::report;
                break;
            case 3:
                cfg.tenants[i].enabled = false;
                break;
            default:
                break;
        }
    }
    const auto policies = decision::tenant_policies(cfg);
    check_decision(rcpt, s, policies, with_store);
    if (with_store) {
        check_decision(rcpt, s, policies, false);
    }

    // The milter's RCPT handler on the same store decides and replies the same way.
    auto next = std::make_shared<const Config>(std::move(cfg));
    world->app->replace_config(next);
    const milter::RcptOutcome out = milter::handle_rcpt(*world->app, conn, rcpt, now);
    {
        const store::Snapshot snap(*world->st);
        const decision::Decision d = decision::decide(rcpt, s, policies, &snap, now);
        FUZZ_CHECK(same(out.decision, d),
                   describe(rcpt, out.decision) + " vs " + describe(rcpt, d));
        const auto reply = milter::reply_for(d.verdict, milter::strip_brackets(rcpt), s);
        FUZZ_CHECK(reply.has_value() == out.reply.has_value(), describe(rcpt, d));
        if (reply) {
            FUZZ_CHECK(reply->code == out.reply->code && reply->status == out.reply->status &&
                           reply->text == out.reply->text,
                       out.reply->text);
        }
    }

    // The rejection log lines for the outcome.
    if (const auto action = milter::rejection_action(out.decision)) {
        const auto logged =
            out.reply ? out.reply
                      : milter::reply_for(out.decision.would_be, milter::strip_brackets(rcpt), s);
        FUZZ_CHECK(logged.has_value(), describe(rcpt, out.decision));
        const milter::RcptContext ctx{conn.queue_id, conn.client_name, conn.client_addr,
                                      conn.sender, milter::strip_brackets(rcpt)};
        const std::string line = milter::rejection_line(*action, ctx, out.decision, *logged);
        FUZZ_CHECK(fuzz::printable_ascii(line), line);
        const std::string json = milter::rejection_json(*action, ctx, out.decision, *logged, now);
        FUZZ_CHECK(!json.empty() && json.back() == '\n' && json.find('\n') == json.size() - 1,
                   json);
        const auto parsed_json = nlohmann::json::parse(json, nullptr, false);
        FUZZ_CHECK(!parsed_json.is_discarded() && parsed_json.is_object(), json);
        FUZZ_CHECK(parsed_json.value("reason", "") == out.decision.reason, json);
    }
    return 0;
}
