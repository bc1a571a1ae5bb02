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
