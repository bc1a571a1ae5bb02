# alerts: what m365gate-sync tells admins (sync/alerts.cpp, sync/alert_*.cpp, docs/alerts.md).
# Included from tests/CMakeLists.txt, so paths are relative to tests/.
#
# Unit tests: the texts, time zones and RFC 5322 message (pure), and the once-only rules of
# the Alerter with `now` injected, a TenantState in memory and a stand-in sendmail script.
add_executable(alerts_test unit/alert_message_test.cpp unit/alert_mail_test.cpp
    unit/alert_texts_test.cpp unit/alerts_test.cpp unit/alert_glance_test.cpp)
target_link_libraries(alerts_test PRIVATE m365_sync_core m365_catch_main nlohmann_json::nlohmann_json)
catch_discover_tests(alerts_test
    EXTRA_ARGS -w NoTests
    TEST_PREFIX "alerts."
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

# The golden mails (tests/golden/alerts/*.eml, written by alert_glance_test.cpp) are valid
# MIME as Python's email package reads it: the Subject decodes, the body decodes in its charset.
add_test(NAME alerts_golden_mime
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/tools/check_eml.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/golden/alerts)
set_tests_properties(alerts_golden_mime PROPERTIES LABELS unit TIMEOUT 60)

# Integration: alerts fired by the real Alerter reach a throwaway Postfix on loopback through
# its sendmail (-C wrapper), are delivered to smtp-sink -d dump files and parsed there with
# Python's email package (an independent RFC 2047 / RFC 5322 reader); the webhook goes over
# verified TLS to the Graph simulator's /_sim/webhook. When m365gate-sync is built, the same
# script also runs it against the simulator (expired secret -> AADSTS7000222 alert; 403 on
# /applications -> the expiry from the config). Needs root (Postfix).
add_executable(m365gate-alert-fire integration/alerts_fire.cpp)
target_link_libraries(m365gate-alert-fire PRIVATE m365_sync_core CLI11::CLI11)

add_test(NAME alerts_delivery
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/alerts_delivery_test.sh)
set_tests_properties(alerts_delivery PROPERTIES
    ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 300
    RESOURCE_LOCK "postfix;graphsim" SKIP_RETURN_CODE 77)
