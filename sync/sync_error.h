// sync/sync_error.h - how a tenant's sync attempt fails, as typed exceptions.
//
// The token client, the Graph client and the importer throw SyncError carrying the
// SyncResult the worker records and hands to the Alerter; DeltaReset asks the worker for a
// full resync; SyncStopped unwinds a sync cut short by SIGTERM (the open write transaction
// aborts, the store keeps the last committed list). Messages never hold a secret or token.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "sync/alerts.h"

namespace m365gate::sync {

// Why an attempt failed. The text forms (error_kind_text) are what the store's TenantState,
// the log lines, m365gatectl and the alerts hold; they never change.
enum class ErrorKind {
    token,    // the token endpoint refused
    consent,  // Graph 403: a permission is missing
    graph,    // any other Graph error
    network,  // connect, timeout, reset
    tls,      // certificate
    shrink,   // the mass-deletion guard refused the sync
    store,    // LMDB
    config,   // credential file, extra recipients file
    limit,    // a bound of the round: max_pages, max_objects, round_budget, max_spill_size
    stopped,  // SIGTERM/SIGINT during the sync
};

constexpr const char* error_kind_text(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::token:
            return "token";
        case ErrorKind::consent:
            return "consent";
        case ErrorKind::graph:
            return "graph";
        case ErrorKind::network:
            return "network";
        case ErrorKind::tls:
            return "tls";
        case ErrorKind::shrink:
            return "shrink";
        case ErrorKind::store:
            return "store";
        case ErrorKind::config:
            return "config";
        case ErrorKind::limit:
            return "limit";
        case ErrorKind::stopped:
            return "stopped";
    }
    return "graph";
}

class SyncError : public std::runtime_error {
public:
    explicit SyncError(SyncResult result)
        : std::runtime_error(result.message), result_(std::move(result)) {}
    const SyncResult& result() const noexcept { return result_; }

private:
    SyncResult result_;
};

// Builds the SyncResult of a failure.
inline SyncError sync_error(ErrorKind kind, std::string code, std::string message) {
    SyncResult r;
    r.ok = false;
    r.error_kind = error_kind_text(kind);
    r.error_code = std::move(code);
    r.message = std::move(message);
    return SyncError(std::move(r));
}

// Graph refused a delta link (410, syncStateNotFound, resyncRequired): resync in full.
class DeltaReset : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The stop flag was set (SIGTERM/SIGINT) during a sync.
class SyncStopped : public std::runtime_error {
public:
    SyncStopped() : std::runtime_error("stopped") {}
};

}  // namespace m365gate::sync
