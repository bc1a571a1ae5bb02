// ctl/lookup.cpp - `lookup` (what the milter would answer, through the same decision::decide())
// and `dump` (every known address).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <ostream>

#include "ctl/ctl.h"
#include "decision/decision.h"

namespace m365gate::ctl {

namespace {

const char* verdict_name(Verdict v) {
    switch (v) {
        case Verdict::accept:
            return "continue";
        case Verdict::reject:
            return "reject";
        case Verdict::tempfail:
            break;
    }
    return "tempfail";
}

// The reply the milter would set: the configured code, status and text with {address}.
std::optional<Reply> reply_for(const decision::Decision& d, const DecisionSettings& settings,
                               const std::string& raw) {
    if (d.would_be == Verdict::accept) {
        return std::nullopt;
    }
    Reply reply = d.would_be == Verdict::reject ? settings.reject : settings.tempfail;
    const std::string placeholder = "{address}";
    const std::string address = d.address.empty() ? raw : d.address;
    for (auto pos = reply.text.find(placeholder); pos != std::string::npos;
         pos = reply.text.find(placeholder, pos + address.size())) {
        reply.text.replace(pos, placeholder.size(), address);
    }
    return reply;
}

}  // namespace

int run_lookup(const Config& cfg, const std::vector<std::string>& addresses, bool json,
               std::int64_t now, std::ostream& out, std::ostream& err) {
    std::string why;
    const auto store = open_store(cfg, why);
    std::optional<store::Snapshot> snapshot;
    if (store) {
        try {
            snapshot.emplace(*store);
        } catch (const std::exception& e) {
            why = e.what();
        }
    }
    if (!snapshot) {
        err << "m365gatectl: warning: cannot read the store " << cfg.store.path.string() << ": "
            << why << "; deciding as the milter does without a store\n";
    }
    const auto policies = decision::tenant_policies(cfg);
    nlohmann::json results = nlohmann::json::array();
    for (const auto& raw : addresses) {
        const decision::Decision d =
            decision::decide(raw, cfg.decision, policies, snapshot ? &*snapshot : nullptr, now);
        const auto reply = reply_for(d, cfg.decision, raw);
        if (json) {
            nlohmann::json r;
            r["input"] = raw;
            r["address"] = d.address;
            r["verdict"] = verdict_name(d.verdict);
            r["would_be"] = verdict_name(d.would_be);
            r["reason"] = d.reason;
            r["step"] = d.step;
            r["tenant"] = d.tenant;
            if (d.recipient) {
                r["object"] = {{"kind", store::to_string(d.recipient->kind)},
                               {"id", d.recipient->object_id}};
            } else {
                r["object"] = nullptr;
            }
            if (reply) {
                r["reply"] = {
                    {"code", reply->code}, {"status", reply->status}, {"text", reply->text}};
            } else {
                r["reply"] = nullptr;
            }
            results.push_back(r);
            continue;
        }
        out << raw << "\n";
        out << "  verdict: " << verdict_name(d.verdict);
        if (d.verdict != d.would_be) {
            out << " (report mode; enforce would " << verdict_name(d.would_be) << ")";
        }
        out << "\n  reason:  " << d.reason << " (DESIGN step " << d.step << ")\n";
        if (reply) {
            out << "  reply:   " << reply->code << " " << reply->status << " " << reply->text
                << "\n";
        }
        out << "  tenant:  " << (d.tenant.empty() ? "-" : d.tenant) << "\n";
        if (d.recipient) {
            out << "  object:  " << store::to_string(d.recipient->kind) << " "
                << d.recipient->object_id << "\n";
        } else {
            out << "  object:  -\n";
        }
    }
    if (json) {
        out << results.dump(2) << "\n";
    }
    return exit_ok;
}

int run_dump(const Config& cfg, const std::string& tenant, bool long_format, std::ostream& out,
             std::ostream& err) {
    std::string why;
    const auto store = open_store(cfg, why);
    if (!store) {
        err << "m365gatectl: cannot read the store " << cfg.store.path.string() << ": " << why
            << "\n";
        return exit_failure;
    }
    try {
        const store::Snapshot snapshot(*store);
        std::vector<std::string> tenants = snapshot.tenants();
        if (!tenant.empty()) {
            if (std::find(tenants.begin(), tenants.end(), tenant) == tenants.end()) {
                err << "m365gatectl: no tenant \"" << tenant << "\" in the store"
                    << (cfg.find_tenant(tenant) ? " (configured, but never synced)" : "") << "\n";
                return exit_failure;
            }
            tenants = {tenant};
        }
        for (const auto& name : tenants) {
            snapshot.for_each_address(name, [&](std::string_view address,
                                                const store::Recipient& r) {
                out << address;
                if (long_format) {
                    out << '\t' << name << '\t' << store::to_string(r.kind) << '\t' << r.object_id;
                }
                out << '\n';
                return static_cast<bool>(out);
            });
        }
    } catch (const std::exception& e) {
        err << "m365gatectl: cannot read the store " << cfg.store.path.string() << ": " << e.what()
            << "\n";
        return exit_failure;
    }
    return exit_ok;
}

}  // namespace m365gate::ctl
