// tests/tools/store_tamper.cpp - m365gate-store-tamper: writes a schema version m365gate does
// not know into a store, through LMDB itself (the store API refuses to), for the test that an
// unknown schema is a clear error and never moved aside (tests/integration/fault_corrupt.sh).
//
//   m365gate-store-tamper --store DIR --schema VERSION
#include <lmdb.h>
#include <sysexits.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    CLI::App cli{"m365gate-store-tamper: set the schema version of a store (tests only)"};
    std::string dir, schema;
    cli.add_option("--store", dir)->required();
    cli.add_option("--schema", schema)->required();
    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return cli.exit(e) == 0 ? EX_OK : EX_USAGE;
    }
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi meta = 0;
    int rc = mdb_env_create(&env);
    if (rc == 0) rc = mdb_env_set_maxdbs(env, 8);
    if (rc == 0) rc = mdb_env_set_mapsize(env, 1ull << 30);
    if (rc == 0) rc = mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0640);
    if (rc == 0) rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc == 0) rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc == 0) {
        MDB_val key{6, const_cast<char*>("schema")};
        MDB_val val{schema.size(), schema.data()};
        rc = mdb_put(txn, meta, &key, &val, 0);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = nullptr;
    }
    if (txn != nullptr) mdb_txn_abort(txn);
    if (env != nullptr) mdb_env_close(env);
    if (rc != 0) {
        std::cerr << "m365gate-store-tamper: " << dir << ": " << mdb_strerror(rc) << "\n";
        return 1;
    }
    return EX_OK;
}
