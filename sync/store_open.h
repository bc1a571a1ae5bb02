// sync/store_open.h - the sync worker's store: opened (a corrupt one moved aside and replaced
// by an empty store that a full sync refills) and checked again after every round.
#pragma once

#include <memory>
#include <string>

#include "common/config.h"
#include "store/store.h"
#include "sync/alerts.h"

namespace m365gate::sync {

// Opens (or creates) the store. A store that fails to open as corrupt (LMDB finds no valid
// meta page, data.mdb is shorter than its pages, ...) is only a copy of Graph: it is moved
// aside into <store>/broken-<UTC time>/, logged at error level, `alerter` sends store_damaged,
// and an empty store takes its place, which this run fills with a full sync. The move happens
// under <store>/sync.lock (the WriterLock's file), so a second m365gate-sync waits and then
// finds the new store. An unknown schema version is not touched (a clear error: a newer
// m365gate may have written it): StoreError (schema).
std::unique_ptr<store::Store> open_store(const Config& cfg, Alerter& alerter);

// After each round: the whole store is checked again (store/verify.h), so damage done to
// data.mdb while it is open (a disk error, another program) is found here, before a milter or
// m365gatectl opens it. Returns the problem ("" when sound), logged at error level.
std::string check_store(const store::Store& st);

}  // namespace m365gate::sync
