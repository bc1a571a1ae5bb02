// sync/postfix_tables.h - the published lists as Postfix lookup tables ([postfix] export_dir).
//
// Two tables Postfix reads itself, so that a gateway can check recipients without the milter:
//   domains.lmdb     managed domain -> "OK"                 (relay_domains = lmdb:DIR/domains)
//   recipients.lmdb  user@domain or @domain -> "OK"         (relay_recipient_maps = lmdb:...)
// in Postfix's own lmdb layout (one file, the unnamed database, keys and values with their
// trailing NUL, as postmap writes them). Each is written as a new file in the directory and
// renamed over the old one, never written in place (Postfix daemons notice the new file and
// restart themselves); a table whose content did not change is left alone (same inode), so a
// round that changed nothing does not restart Postfix's daemons. What the tables say, and where
// that differs from the milter's decision, is in docs/sync.md ("Postfix tables").
// Called by the sync worker after a round that published a list, as the sync user; a failed or
// refused sync publishes nothing and so leaves the tables as they were.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/config.h"
#include "store/store.h"

namespace m365gate::sync {

struct PostfixTables {
    std::vector<std::string> domains;     // sorted, unique; canonical (A-labels)
    std::vector<std::string> recipients;  // sorted, unique: "user@domain" and "@domain"
};

// The tables' content, from the store and the config, per configured tenant:
//   - synced (a successful sync on record): its domains; its addresses, its extra_recipients
//     and `[milter] always_accept` at each of its domains;
//   - never synced: its domains, and "@domain" (anything at it) unless
//     `[milter] on_cache_unavailable` is "reject" (then only always_accept);
//   - enabled = false: its domains and "@domain" (the milter treats it as unmanaged).
// A domain whose A-label has a Unicode form is listed in both forms (with smtputf8_enable,
// Postfix looks up the UTF-8 form as the client sent it).
PostfixTables build_postfix_tables(const Config& cfg, const store::Snapshot& snapshot);

struct TableWrite {
    std::string name;      // "domains" | "recipients"
    bool written = false;  // false: the file already held exactly this content
    std::size_t entries = 0;
};

// Writes DIR/recipients.lmdb, then DIR/domains.lmdb (a new recipient is known before its new
// domain is relayed). DIR must be a directory only root or this user can change
// (common/safe_file.h). Throws std::runtime_error naming the table and the call that failed; a
// failure leaves that table (and the later one) as it was and removes the temporary file.
std::vector<TableWrite> write_postfix_tables(const std::filesystem::path& dir,
                                             const PostfixTables& tables);

// build + write + one log line per table (event=postfix_tables); never throws. No-op when
// [postfix] export_dir is "". True when the tables are current (written or unchanged).
bool export_postfix_tables(const Config& cfg, const store::Store& store);

}  // namespace m365gate::sync
