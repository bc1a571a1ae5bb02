# metrics: the Prometheus text of both daemons ([metrics], common/metrics.h), the textfile
# written without following links, the writer thread and `m365gatectl metrics`. The files the
# running daemons write are checked by milter_metrics (below) and the sync integration test.
add_executable(metrics_test unit/metrics_test.cpp)
target_link_libraries(metrics_test PRIVATE m365_milter_core m365_sync_core m365_ctl m365_catch_main)
catch_discover_tests(metrics_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)
