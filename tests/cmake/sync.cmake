# Sync worker tests: the importer unit test, the integration tests against the Graph simulator
# over real TLS (real m365gate-sync binary, real LMDB store). Included from tests/CMakeLists.txt.
add_executable(importer_test unit/importer_test.cpp)
target_link_libraries(importer_test PRIVATE m365_sync_core m365_catch_main)
catch_discover_tests(importer_test
    PROPERTIES ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS "sync;unit")
