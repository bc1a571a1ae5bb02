// sync/sync_error.h - how a tenant's sync attempt fails, as typed exceptions (P8).
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

class SyncError : public std::runtime_error {
public:
    explicit SyncError(SyncResult result)
        : std::runtime_error(result.message), result_(std::move(result)) {}
    const SyncResult& result() const noexcept { return result_; }

private:
    SyncResult result_;
};

// Builds the SyncResult of a failure.
inline SyncError sync_error(std::string kind, std::string code, std::string message) {
    SyncResult r;
    r.ok = false;
    r.error_kind = std::move(kind);
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
