# ctl: m365gatectl. Unit tests call the commands (ctl/ctl.h) against a real LMDB store filled
# with store::publish(); integration tests run the real binary against a store made by a real
# m365gate-sync from the Graph simulator; the demo test runs scripts/demo end to end.
add_executable(ctl_test unit/ctl_status_test.cpp unit/ctl_report_test.cpp
                        unit/ctl_report_formats_test.cpp
                        unit/ctl_secret_test.cpp unit/ctl_cert_test.cpp)
target_link_libraries(ctl_test PRIVATE m365_ctl m365_catch_main nlohmann_json::nlohmann_json)
catch_discover_tests(ctl_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

add_test(NAME ctl_integration
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/ctl_sync_test.sh)
set_tests_properties(ctl_integration PROPERTIES
    ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 300 RESOURCE_LOCK graphsim
    SKIP_RETURN_CODE 77)

# alert test: the real m365gatectl runs the real m365gate-sync --alert-test; mail through a
# stand-in sendmail, the webhook over TLS to the Graph simulator; a failing channel is named.
add_test(NAME ctl_alert_test
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/ctl_alert_test.sh)
set_tests_properties(ctl_alert_test PROPERTIES
    ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 120 RESOURCE_LOCK graphsim
    SKIP_RETURN_CODE 77)

# The first user's path: scripts/demo from start to finish with the binaries already built here
# (M365GATE_BINARY_DIR), a real Postfix on loopback included. Needs root.
add_test(NAME demo COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/demo_test.sh)
set_tests_properties(demo PROPERTIES
    ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS e2e TIMEOUT 600 RESOURCE_LOCK postfix)

# report --format html rendered by a real browser (Debian's chromium, headless): the numbers on
# the page, hostile log values as text, no request made by the page. chromium missing fails.
add_test(NAME ctl_report_html
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/ctl_report_html.sh
                 $<TARGET_FILE:m365gatectl>)
set_tests_properties(ctl_report_html PROPERTIES
    ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 120)
