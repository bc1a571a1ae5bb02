// milter/glue.cpp - libmilter callbacks around the pure decision (decision/decision.h).
//
// Callback order (libmilter's API documentation): negotiate -> connect -> { envfrom -> envrcpt* }*
// -> close, with abort between any two message callbacks. close may come without connect and
// with a NULL private pointer. When the MTA lets the milter choose its macros (Postfix, Sendmail
// 8.14+), connect and envfrom are negotiated away: the client and the sender come with each RCPT
// (on_negotiate says why). Every callback goes through guarded(): no C++ exception may
// unwind into libmilter's C code.
#include "milter/glue.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <ctime>
#include <stdexcept>
#include <utility>

#include "common/log.h"

namespace m365gate::milter {
namespace {

App* g_app = nullptr;  // set once in main() before smfi_main(); never reassigned

constexpr std::size_t max_client_text = 255;  // host names and addresses we keep
constexpr std::size_t max_sender = 1024;

// Logs at most once per `interval` seconds per call site.
class RateLimit {
public:
    explicit RateLimit(std::int64_t interval) : interval_(interval) {}
    bool allow(std::int64_t now) {
        std::int64_t last = last_.load(std::memory_order_relaxed);
        return now - last >= interval_ &&
               last_.compare_exchange_strong(last, now, std::memory_order_relaxed);
    }

private:
    const std::int64_t interval_;
    std::atomic<std::int64_t> last_{0};
};

RateLimit snapshot_failure_log{10};

std::string bounded(const char* text, std::size_t max_len) {
    if (text == nullptr) {
        return {};
    }
    std::string_view view(text);
    return std::string(view.substr(0, std::min(view.size(), max_len)));
}

std::string address_of(const sockaddr* sa) {
    if (sa == nullptr) {
        return {};
    }
    char buf[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        if (inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf) != nullptr) {
            return buf;
        }
    } else if (sa->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        if (inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf) != nullptr) {
            return buf;
        }
    } else if (sa->sa_family == AF_UNIX) {
        return "local";
    }
    return {};
}

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

void log_internal_error(const char* where, const char* what) {
    spdlog::error("event=internal_error callback={} error={}", where, log_value(what));
    if (g_app != nullptr) {
        g_app->metrics().internal_error();
    }
}

// Every libmilter callback goes through here. `fallback` is what the MTA gets after a fault.
template <typename F>
sfsistat guarded(const char* where, sfsistat fallback, F&& body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        log_internal_error(where, e.what());
    } catch (...) {
        log_internal_error(where, "unknown exception");
    }
    return fallback;
}

Connection* connection_of(SMFICTX* ctx) { return static_cast<Connection*>(smfi_getpriv(ctx)); }

// The connection's data, created here when connect was negotiated away or came without it.
Connection& ensure_connection(SMFICTX* ctx) {
    if (Connection* existing = connection_of(ctx)) {
        return *existing;
    }
    auto created = std::make_unique<Connection>();
    if (smfi_setpriv(ctx, created.get()) != MI_SUCCESS) {
        throw std::runtime_error("smfi_setpriv failed");
    }
    return *created.release();  // owned by the context now; freed in on_close
}

void note_queue_id(SMFICTX* ctx, Connection& conn) {
    if (const char* id = smfi_getsymval(ctx, const_cast<char*>("i"))) {
        if (*id != '\0') {
            conn.queue_id = bounded(id, max_client_text);
        }
    }
}

// What the rejection log and the harvest defence need of a session, asked for at RCPT.
constexpr const char* rcpt_macros = "i {rcpt_addr} {client_addr} {client_name} {mail_addr}";

// Per-connection read from the macros the MTA sent with this RCPT.
void read_rcpt_macros(SMFICTX* ctx, Connection& conn) {
    auto macro = [ctx](const char* name) { return smfi_getsymval(ctx, const_cast<char*>(name)); };
    conn.client_addr = bounded(macro("{client_addr}"), max_client_text);
    conn.client_name = bounded(macro("{client_name}"), max_client_text);
    conn.sender = std::string(strip_brackets(bounded(macro("{mail_addr}"), max_sender)));
    conn.queue_id = bounded(macro("i"), max_client_text);
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long,
                      unsigned long, unsigned long* pf0, unsigned long* pf1, unsigned long* pf2,
                      unsigned long* pf3) {
    return guarded("negotiate", SMFIS_ALL_OPTS, [&] {
        // We modify nothing, and only the RCPT matters: ask the MTA not to send the rest (only
        // the bits it offers, or it refuses the negotiation).
        constexpr unsigned long unused_steps = SMFIP_NOHELO | SMFIP_NOHDRS | SMFIP_NOEOH |
                                               SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA;
        *pf0 = 0;
        *pf1 = f1 & unused_steps;
        *pf2 = 0;
        *pf3 = 0;
        // The connect and MAIL steps carry only the client and the sender, each a round trip
        // the SMTP session waits for. When the MTA takes a macro list, they come with each RCPT
        // instead: 2 + n round trips per session with n recipients instead of 4 + n. An MTA
        // that does not offer it keeps both steps (and the log still names client and sender).
        constexpr unsigned long skippable = SMFIP_NOCONNECT | SMFIP_NOMAIL;
        if ((f0 & SMFIF_SETSYMLIST) != 0 && (f1 & skippable) == skippable &&
            smfi_setsymlist(ctx, SMFIM_ENVRCPT, const_cast<char*>(rcpt_macros)) == MI_SUCCESS) {
            ensure_connection(ctx).macros_at_rcpt = true;
            *pf0 |= SMFIF_SETSYMLIST;
            *pf1 |= skippable;
        }
        return SMFIS_CONTINUE;
    });
}

sfsistat on_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* hostaddr) {
    return guarded("connect", SMFIS_CONTINUE, [&] {
        Connection& conn = ensure_connection(ctx);
        conn.client_name = bounded(hostname, max_client_text);
        conn.client_addr = address_of(hostaddr);
        if (conn.client_addr.empty()) {
            conn.client_addr =
                bounded(smfi_getsymval(ctx, const_cast<char*>("{client_addr}")), max_client_text);
        }
        return SMFIS_CONTINUE;
    });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    return guarded("envfrom", SMFIS_CONTINUE, [&] {
        Connection& conn = ensure_connection(ctx);
        conn.end_message();  // a new message: forget the previous one's sender and queue id
        if (argv != nullptr && argv[0] != nullptr) {
            conn.sender = std::string(strip_brackets(bounded(argv[0], max_sender)));
        }
        note_queue_id(ctx, conn);
        return SMFIS_CONTINUE;
    });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    return guarded("envrcpt", SMFIS_TEMPFAIL, [&] {
        Connection& conn = ensure_connection(ctx);
        if (conn.macros_at_rcpt) {
            read_rcpt_macros(ctx, conn);
        } else {
            note_queue_id(ctx, conn);
        }
        // Postfix's {rcpt_addr} is the address after its own parse and resolve; Sendmail's
        // may be a mailer-level address without a domain: use it only when it has one.
        std::string_view rcpt;
        const char* resolved = smfi_getsymval(ctx, const_cast<char*>("{rcpt_addr}"));
        if (resolved != nullptr && std::string_view(resolved).find('@') != std::string::npos) {
            rcpt = resolved;
        } else if (argv != nullptr && argv[0] != nullptr) {
            rcpt = argv[0];
        }
        const RcptOutcome out = handle_rcpt(*g_app, conn, rcpt, unix_now());
        if (!out.reply) {
            return SMFIS_CONTINUE;  // never SMFIS_ACCEPT: that would accept every later RCPT
        }
        if (smfi_setreply(ctx, const_cast<char*>(out.reply->code.c_str()),
                          const_cast<char*>(out.reply->status.c_str()),
                          const_cast<char*>(out.reply->text.c_str())) != MI_SUCCESS) {
            spdlog::warn("event=setreply status=error code={} status={} text={}",
                         log_value(out.reply->code), log_value(out.reply->status),
                         log_value(out.reply->text));
        }
        return out.decision.verdict == Verdict::reject ? SMFIS_REJECT : SMFIS_TEMPFAIL;
    });
}

sfsistat on_abort(SMFICTX* ctx) {
    return guarded("abort", SMFIS_CONTINUE, [&] {
        if (Connection* conn = connection_of(ctx)) {
            conn->end_message();
        }
        return SMFIS_CONTINUE;
    });
}

sfsistat on_close(SMFICTX* ctx) {
    return guarded("close", SMFIS_CONTINUE, [&] {
        std::unique_ptr<Connection> conn{
            connection_of(ctx)};  // may be null (close without connect)
        smfi_setpriv(ctx, nullptr);
        return SMFIS_CONTINUE;
    });
}

}  // namespace

namespace {

std::optional<StoreHandle::FileId> file_id(const std::filesystem::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
        return std::nullopt;
    }
    return StoreHandle::FileId{static_cast<std::uint64_t>(st.st_dev),
                               static_cast<std::uint64_t>(st.st_ino)};
}

// What tells one data.mdb from another, or the same one written since.
std::optional<std::array<std::uint64_t, 4>> file_stamp(const std::filesystem::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
        return std::nullopt;
    }
    return std::array<std::uint64_t, 4>{
        static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
        static_cast<std::uint64_t>(st.st_size),
        static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000u +
            static_cast<std::uint64_t>(st.st_mtim.tv_nsec)};
}

}  // namespace

void StoreHandle::retire(bool reopen_at_once) {
    retiring_ = store_;
    store_.reset();  // closes the environment here unless a Snapshot still uses it
    opened_id_.reset();
    reopen_at_once_ = reopen_at_once;
}

void StoreHandle::check_replaced(std::chrono::steady_clock::time_point now) {
    last_check_ = now;
    const auto id = file_id(dir_ / "data.mdb");
    if (id && opened_id_ && *id == *opened_id_) {
        return;
    }
    if (!id) {
        spdlog::error(
            "event=store_replaced status=missing store={} note=\"data.mdb is gone; "
            "on_cache_unavailable until a store is back\"",
            log_value(dir_.string()));
    } else {
        spdlog::warn(
            "event=store_replaced status=reopening store={} note=\"data.mdb was replaced (new "
            "inode): reading the new store\"",
            log_value(dir_.string()));
    }
    retire(true);
}

std::shared_ptr<const store::Store> StoreHandle::get() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (store_ && now - last_check_ >= std::chrono::seconds(1)) {
        check_replaced(now);
    }
    if (store_) {
        return store_;
    }
    if (!retiring_.expired()) {
        return nullptr;  // the old environment must be closed first (see glue.h)
    }
    if (attempted_ && !reopen_at_once_ && now - last_attempt_ < std::chrono::seconds(1)) {
        return nullptr;
    }
    attempted_ = true;
    reopen_at_once_ = false;
    last_attempt_ = now;
    last_check_ = now;
    // Taken before the open: a replacement between the two is noticed by the next check.
    const auto id = file_id(dir_ / "data.mdb");
    const auto stamp = file_stamp(dir_ / "data.mdb");
    if (damaged_ && stamp == damaged_) {
        return nullptr;  // still the damaged file: already logged, nothing new to check
    }
    damaged_.reset();
    std::string error;
    const char* kind = "other";
    try {
        store::StoreOptions options;
        options.max_size = max_size_;
        options.read_only = true;
        options.create = false;
        store_ = std::make_shared<const store::Store>(dir_, options);
        opened_id_ = id;
        if (!last_error_.empty()) {
            spdlog::info("event=store_open status=ok store={}", log_value(dir_.string()));
        }
        last_error_.clear();
        return store_;
    } catch (const store::StoreError& e) {
        error = e.what();
        kind = store::to_string(e.kind());
        if (e.kind() == store::StoreError::Kind::corrupt) {
            damaged_ = stamp;
        }
    } catch (const std::exception& e) {
        error = e.what();
    }
    if (last_error_ != error) {  // once per distinct failure, not once per second
        // Missing (before the first sync) is expected; a corrupt store or an unknown schema
        // needs an admin.
        const auto level =
            std::string_view(kind) == "io" ? spdlog::level::warn : spdlog::level::err;
        spdlog::log(level,
                    "event=store_open status=unavailable store={} error_kind={} error={} "
                    "applying=on_cache_unavailable retry=1s",
                    log_value(dir_.string()), kind, log_value(error));
    }
    last_error_ = error;
    return nullptr;
}

void StoreHandle::invalidate(const std::shared_ptr<const store::Store>& broken) {
    std::lock_guard<std::mutex> lock(mu_);
    if (broken && store_ == broken) {
        retire(false);
        last_attempt_ = std::chrono::steady_clock::now();
        attempted_ = true;
    }
}

std::string StoreHandle::last_error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_error_;
}

App::App(std::shared_ptr<const Config> cfg)
    : config_(cfg),
      store_(cfg->store.path, cfg->store.max_size),
      metrics_writer_("m365gate_milter.prom", [this] { return render_milter_metrics(*this); }) {
    metrics_writer_.configure(cfg->metrics);
}

App::~App() { metrics_writer_.stop(); }

void App::start_metrics() { metrics_writer_.start(); }

std::shared_ptr<const Rules> App::rules() const {
    std::shared_ptr<const Config> cfg = config_.current();
    std::lock_guard<std::mutex> lock(rules_mu_);
    if (!rules_ || rules_->config != cfg) {
        auto next = std::make_shared<Rules>();
        next->policies = decision::tenant_policies(*cfg);
        next->counters = metrics_.tables_for(next->policies);
        next->config = std::move(cfg);
        rules_ = std::move(next);
    }
    return rules_;
}

std::vector<std::string> App::replace_config(std::shared_ptr<const Config> next) {
    const std::shared_ptr<const Config> old = config_.current();
    std::vector<std::string> restart;
    const auto differs = [&](bool changed, const char* name) {
        if (changed) {
            restart.emplace_back(name);
        }
    };
    differs(old->milter.socket != next->milter.socket, "milter.socket");
    differs(old->milter.socket_mode != next->milter.socket_mode, "milter.socket_mode");
    differs(old->milter.socket_group != next->milter.socket_group, "milter.socket_group");
    differs(old->milter.user != next->milter.user, "milter.user");
    differs(old->milter.group != next->milter.group, "milter.group");
    differs(old->milter.pid_file != next->milter.pid_file, "milter.pid_file");
    differs(old->milter.timeout != next->milter.timeout, "milter.timeout");
    differs(old->milter.stop_timeout != next->milter.stop_timeout, "milter.stop_timeout");
    differs(old->store.path != next->store.path, "store.path");
    differs(old->store.max_size != next->store.max_size, "store.max_size");
    differs(old->log.target != next->log.target, "log.target");
    differs(old->log.file != next->log.file, "log.file");
    metrics_writer_.configure(next->metrics);
    config_.replace(std::move(next));
    return restart;
}

std::string_view strip_brackets(std::string_view address) {
    while (!address.empty() && (address.front() == ' ' || address.front() == '\t')) {
        address.remove_prefix(1);
    }
    while (!address.empty() && (address.back() == ' ' || address.back() == '\t')) {
        address.remove_suffix(1);
    }
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
        address = address.substr(1, address.size() - 2);
    }
    return address;
}

namespace {

// What a blocked client hears (the class matches: SMFIS_TEMPFAIL with a 4xx reply; Postfix and
// Sendmail close the connection after a 421).
SmtpReply harvest_reply(HarvestAction action) {
    if (action == HarvestAction::disconnect) {
        return SmtpReply{"421", "4.7.1",
                         "Too many unknown recipients from your address; closing connection"};
    }
    return SmtpReply{"450", "4.7.1", "Too many unknown recipients from your address; try later"};
}

// Counts an unknown recipient of `client`; logs the crossing, once.
void note_unknown(App& app, const RcptContext& ctx, const ClientKey& client,
                  const HarvestConfig& harvest, const decision::Decision& d, std::int64_t now) {
    const bool block = harvest.action != HarvestAction::report && d.mode == MilterMode::enforce;
    const auto crossing = app.harvest().note_unknown(client, harvest, block, now);
    if (!crossing) {
        return;
    }
    const std::string key = to_string(client);
    HarvestEvent event;
    event.client_key = key;
    event.code = crossing->blocked_until != 0 ? harvest_action_name(harvest.action) : "";
    event.unknown = crossing->unknown;
    event.window = harvest.window.count();
    event.block_for = crossing->blocked_until != 0 ? harvest.block_for.count() : 0;
    app.metrics().harvest_crossing(crossing->blocked_until != 0 ? harvest.action
                                                                : HarvestAction::report);
    spdlog::warn("{}", harvest_line(ctx, event));
    if (app.rejections().enabled()) {
        app.rejections().write(harvest_json(ctx, event, now));
    }
}

// One RCPT into its tenant's counters (milter_metrics.h): no lock, no allocation.
void count_rcpt(App& app, const Rules& rules, const decision::Decision& d) noexcept {
    const std::size_t reason = rcpt_reason_index(d.reason);
    const RcptVerdict verdict = rcpt_verdict_of(d);
    if (!d.tenant.empty()) {
        for (std::size_t i = 0; i < rules.policies.size(); ++i) {
            if (rules.policies[i].name == d.tenant) {
                rules.counters[i]->add(verdict, reason);
                return;
            }
        }
    }
    app.metrics().no_tenant().add(verdict, reason);
}

}  // namespace

RcptOutcome handle_rcpt(App& app, const Connection& conn, std::string_view rcpt, std::int64_t now) {
    const std::shared_ptr<const Rules> rules = app.rules();  // once per RCPT (P12)
    const DecisionSettings& settings = rules->config->decision;

    RcptOutcome out;
    bool decided = false;
    const auto started = std::chrono::steady_clock::now();
    if (const auto st = app.store().get()) {
        try {
            const store::Snapshot snapshot(*st);  // one read txn, released before returning
            out.decision = decision::decide(rcpt, settings, rules->policies, &snapshot, now,
                                            /*describe_object=*/false);
            decided = true;
        } catch (const std::exception& e) {
            // A read that fails (corrupt page, a map the writer outgrew...) drops this Store;
            // the next open attempt, a second later at most, starts from the file again.
            app.store().invalidate(st);
            if (snapshot_failure_log.allow(now)) {
                spdlog::error(
                    "event=store_read status=error store={} error={} "
                    "applying=on_cache_unavailable note=\"reopening the store\"",
                    log_value(app.store().dir().string()), log_value(e.what()));
            }
        }
    }
    if (!decided) {
        out.decision = decision::decide(rcpt, settings, rules->policies, nullptr, now);
    }
    app.metrics().decision_latency().observe(std::chrono::steady_clock::now() - started);

    const std::string_view to = strip_brackets(rcpt);
    const RcptContext ctx{conn.queue_id, conn.client_name, conn.client_addr, conn.sender, to};
    const HarvestConfig& harvest = rules->config->milter.harvest;
    const std::optional<ClientKey> client =
        harvest.threshold > 0 ? client_key(conn.client_addr) : std::nullopt;
    if (client && harvest.action != HarvestAction::report &&
        out.decision.mode == MilterMode::enforce && out.decision.reason != "always_accept" &&
        app.harvest().blocked(*client, now)) {
        out.decision.verdict = Verdict::tempfail;
        out.decision.would_be = Verdict::tempfail;
        out.decision.reason = "harvest_blocked";
        out.decision.step = 0;
        out.reply = harvest_reply(harvest.action);
    } else {
        out.reply = reply_for(out.decision.verdict, to, settings);
    }
    if (client && out.decision.reason == "unknown_recipient") {
        note_unknown(app, ctx, *client, harvest, out.decision, now);
    }
    count_rcpt(app, *rules, out.decision);

    const auto action = rejection_action(out.decision);
    if (!action) {
        spdlog::debug("action=continue to={} tenant={} reason={} step={}",
                      log_value(std::string("<") + std::string(to) + ">"),
                      out.decision.tenant.empty() ? "-" : log_value(out.decision.tenant),
                      out.decision.reason, out.decision.step);
        return out;
    }
    // In report mode nothing is sent: log the reply that enforce mode would send.
    const std::optional<SmtpReply> logged =
        out.reply ? out.reply : reply_for(out.decision.would_be, to, settings);
    const std::string line = rejection_line(*action, ctx, out.decision, *logged);
    if (out.decision.would_be == Verdict::tempfail) {
        spdlog::warn("{}", line);
    } else {
        spdlog::info("{}", line);
    }
    if (app.rejections().enabled()) {
        app.rejections().write(rejection_json(*action, ctx, out.decision, *logged, now));
    }
    return out;
}

void set_app(App* app) { g_app = app; }

smfiDesc filter_description() {
    smfiDesc desc{};
    desc.xxfi_name = const_cast<char*>("m365gate");
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = 0;  // we modify nothing
    desc.xxfi_connect = on_connect;
    desc.xxfi_envfrom = on_envfrom;
    desc.xxfi_envrcpt = on_envrcpt;
    desc.xxfi_abort = on_abort;
    desc.xxfi_close = on_close;
    desc.xxfi_negotiate = on_negotiate;
    return desc;
}

}  // namespace m365gate::milter
