# metrics: the Prometheus text of both daemons ([metrics], common/metrics.h), the textfile
# written without following links, the writer thread and `m365gatectl metrics`. The files the
# running daemons write are checked by milter_metrics (below) and the sync integration test.
add_executable(metrics_test unit/metrics_test.cpp)
target_link_libraries(metrics_test PRIVATE m365_milter_core m365_sync_core m365_ctl m365_catch_main)
catch_discover_tests(metrics_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

# The milter's file after a known sequence of RCPTs through miltertest (needs root and
# miltertest: exit 77 otherwise, reported as skipped).
add_test(NAME milter_metrics
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/milter_metrics.sh
                 $<TARGET_FILE:m365gate-milter> $<TARGET_FILE:m365gate-store-fill>
                 $<TARGET_FILE:m365gate-milter-loadgen> $<TARGET_FILE:m365gatectl>)
set_tests_properties(milter_metrics PROPERTIES
    ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 120 SKIP_RETURN_CODE 77)

# The sync's file, written by the real m365gate-sync daemon after rounds against the Graph
# simulator (sync_harness.h).
add_executable(sync_metrics_test integration/sync_metrics_test.cpp)
target_link_libraries(sync_metrics_test PRIVATE m365_store m365_catch_main
    nlohmann_json::nlohmann_json PkgConfig::CURL)
target_compile_definitions(sync_metrics_test PRIVATE
    M365GATE_SYNC_BIN="$<TARGET_FILE:m365gate-sync>"
    M365GATE_GRAPHSIM_BIN="$<TARGET_FILE:m365gate-graphsim>"
    M365GATE_MAKE_TEST_CA="${PROJECT_SOURCE_DIR}/tests/graphsim/make-test-ca.sh"
    M365GATE_SOURCE_DIR_STR="${PROJECT_SOURCE_DIR}"
    M365GATE_HAVE_TEST_CLOCK=${M365GATE_HAVE_TEST_CLOCK})
add_dependencies(sync_metrics_test m365gate-sync m365gate-graphsim)
catch_discover_tests(sync_metrics_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS integration TIMEOUT 180)
