# config: common/ (m365gate.toml, credential files, durations and dates, logging).
# Included from tests/CMakeLists.txt, so paths are relative to tests/.
add_executable(config_test unit/config_test.cpp unit/credential_test.cpp unit/text_test.cpp)
target_link_libraries(config_test PRIVATE m365_common m365_catch_main)
catch_discover_tests(config_test
    EXTRA_ARGS -w NoTests
    TEST_PREFIX "config."
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

# common/time.h: durations, dates, the UTC printer.
add_executable(time_test unit/time_test.cpp)
target_link_libraries(time_test PRIVATE m365_common m365_catch_main)
catch_discover_tests(time_test
    EXTRA_ARGS -w NoTests
    TEST_PREFIX "time."
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

# common/certificate.h: certificate credentials, the client assertion verified with OpenSSL.
add_executable(certificate_test unit/certificate_test.cpp)
target_link_libraries(certificate_test PRIVATE m365_certificate m365_catch_main OpenSSL::Crypto
    nlohmann_json::nlohmann_json)
catch_discover_tests(certificate_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)
