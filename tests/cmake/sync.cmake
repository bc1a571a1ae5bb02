# Sync worker tests: the importer unit test, the integration tests against the Graph simulator
# over real TLS (real m365gate-sync binary, real LMDB store). Included from tests/CMakeLists.txt.
add_executable(importer_test unit/importer_test.cpp)
target_link_libraries(importer_test PRIVATE m365_sync_core m365_catch_main)
catch_discover_tests(importer_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

# Integration: the real m365gate-sync against the real simulator over TLS. Runs the binaries
# it names, so it depends on them being built.
add_executable(sync_integration_test integration/sync_test.cpp)
target_link_libraries(sync_integration_test PRIVATE m365_store m365_catch_main
    nlohmann_json::nlohmann_json PkgConfig::CURL)
target_compile_definitions(sync_integration_test PRIVATE
    M365GATE_SYNC_BIN="$<TARGET_FILE:m365gate-sync>"
    M365GATE_GRAPHSIM_BIN="$<TARGET_FILE:m365gate-graphsim>"
    M365GATE_MAKE_TEST_CA="${PROJECT_SOURCE_DIR}/tests/graphsim/make-test-ca.sh"
    M365GATE_SOURCE_DIR_STR="${PROJECT_SOURCE_DIR}"
    M365GATE_HAVE_TEST_CLOCK=${M365GATE_HAVE_TEST_CLOCK})
add_dependencies(sync_integration_test m365gate-sync m365gate-graphsim)
catch_discover_tests(sync_integration_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS integration TIMEOUT 180)

# [postfix] export_dir: the real m365gate-sync writes the Postfix tables after a published
# list, and leaves them alone after a failed or refused sync (postmap -q checks the format).
add_executable(sync_postfix_tables_test integration/sync_postfix_tables_test.cpp)
target_link_libraries(sync_postfix_tables_test PRIVATE m365_store m365_catch_main
    nlohmann_json::nlohmann_json PkgConfig::CURL)
target_compile_definitions(sync_postfix_tables_test PRIVATE
    M365GATE_SYNC_BIN="$<TARGET_FILE:m365gate-sync>"
    M365GATE_GRAPHSIM_BIN="$<TARGET_FILE:m365gate-graphsim>"
    M365GATE_MAKE_TEST_CA="${PROJECT_SOURCE_DIR}/tests/graphsim/make-test-ca.sh"
    M365GATE_SOURCE_DIR_STR="${PROJECT_SOURCE_DIR}"
    M365GATE_HAVE_TEST_CLOCK=${M365GATE_HAVE_TEST_CLOCK})
add_dependencies(sync_postfix_tables_test m365gate-sync m365gate-graphsim)
catch_discover_tests(sync_postfix_tables_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS integration TIMEOUT 180)

add_executable(postfix_tables_test unit/postfix_tables_test.cpp)
target_link_libraries(postfix_tables_test PRIVATE m365_sync_core m365_catch_main PkgConfig::LMDB)
catch_discover_tests(postfix_tables_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

# Certificate credentials (client assertions) against the simulator, which verifies them.
add_executable(sync_cert_integration_test integration/sync_cert_test.cpp)
target_link_libraries(sync_cert_integration_test PRIVATE m365_store m365_certificate
    m365_catch_main nlohmann_json::nlohmann_json PkgConfig::CURL)
target_compile_definitions(sync_cert_integration_test PRIVATE
    M365GATE_SYNC_BIN="$<TARGET_FILE:m365gate-sync>"
    M365GATE_GRAPHSIM_BIN="$<TARGET_FILE:m365gate-graphsim>"
    M365GATE_MAKE_TEST_CA="${PROJECT_SOURCE_DIR}/tests/graphsim/make-test-ca.sh"
    M365GATE_SOURCE_DIR_STR="${PROJECT_SOURCE_DIR}"
    M365GATE_HAVE_TEST_CLOCK=${M365GATE_HAVE_TEST_CLOCK})
add_dependencies(sync_cert_integration_test m365gate-sync m365gate-graphsim)
catch_discover_tests(sync_cert_integration_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS integration TIMEOUT 120)
