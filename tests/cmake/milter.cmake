# milter: the recipient decision, the reply mapping, m365gate-milter against miltertest and a
# real Postfix and Sendmail on loopback, and the milter benchmarks (built, never run by ctest).

# Unit tests: the decision against a real LMDB store, the reply and log-line formatting.
add_executable(decision_test unit/decision_test.cpp)
target_link_libraries(decision_test PRIVATE m365_decision m365_catch_main)
catch_discover_tests(decision_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

add_executable(reply_test unit/reply_test.cpp)
target_link_libraries(reply_test PRIVATE m365_milter_core m365_catch_main)
catch_discover_tests(reply_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

add_executable(harvest_test unit/harvest_test.cpp)
target_link_libraries(harvest_test PRIVATE m365_milter_core m365_catch_main)
catch_discover_tests(harvest_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

# Tools for tests and benchmarks: fill a store (the sync worker's stand-in) and speak the
# milter protocol (libmilter is server-only).
add_executable(m365gate-store-fill tools/store_fill.cpp)
target_link_libraries(m365gate-store-fill PRIVATE m365_store CLI11::CLI11)

add_executable(m365gate-milter-loadgen bench/milter_loadgen.cpp)
target_link_libraries(m365gate-milter-loadgen PRIVATE PkgConfig::MILTER CLI11::CLI11 Threads::Threads)

# postfix_compare.sh's third variant: a milter without libmilter, to measure Postfix's own share.
add_executable(m365gate-null-milter bench/null_milter.cpp)
target_link_libraries(m365gate-null-milter PRIVATE PkgConfig::MILTER CLI11::CLI11)

add_executable(decision_bench bench/decision_bench.cpp)
target_link_libraries(decision_bench PRIVATE m365_decision)

# The milter never opens a network connection of its own: it must not even link libcurl.
add_test(NAME milter_links_no_curl
         COMMAND sh -c "! ldd \"$1\" | grep -i curl" sh $<TARGET_FILE:m365gate-milter>)
set_tests_properties(milter_links_no_curl PROPERTIES LABELS unit)

set(milter_tools
    $<TARGET_FILE:m365gate-milter> $<TARGET_FILE:m365gate-store-fill>
    $<TARGET_FILE:m365gate-milter-loadgen>)

# miltertest scripts against the running daemon, one ctest per script.
file(GLOB milter_lua_scripts CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/integration/t-*.lua)
foreach(script IN LISTS milter_lua_scripts)
    get_filename_component(script_name ${script} NAME_WE)
    add_test(NAME milter_${script_name}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/milter_miltertest.sh
                     ${milter_tools} ${script})
    set_tests_properties(milter_${script_name} PROPERTIES
        ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 120 SKIP_RETURN_CODE 77)
endforeach()

foreach(script milter_replies milter_daemon milter_store_growth milter_postfix_e2e
               milter_fail2ban)
    add_test(NAME ${script}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/${script}.sh ${milter_tools})
    # Exit 77: a tool is missing or not root; reported as skipped, not passed.
    set_tests_properties(${script} PROPERTIES
        ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 180 SKIP_RETURN_CODE 77)
endforeach()

# The same RCPT cases through a real Postfix with the milter and with the tables m365gate-sync
# exports ([postfix] export_dir): same answers but for the documented differences.
add_test(NAME postfix_maps_e2e
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/postfix_maps_e2e.sh ${milter_tools}
                 $<TARGET_FILE:m365gate-sync>)
set_tests_properties(postfix_maps_e2e PROPERTIES
    ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 180 SKIP_RETURN_CODE 77)

# Sendmail from its Debian .debs (sendmail-bin would remove Postfix): fetched once with
# apt-get download into /var/cache/m365gate-test/sendmail-debs (flock'ed), extracted per run.
# Exit 77: not root, or the .debs cannot be downloaded.
add_test(NAME milter_sendmail_e2e
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/milter_sendmail_e2e.sh ${milter_tools})
set_tests_properties(milter_sendmail_e2e PROPERTIES
    ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 180 SKIP_RETURN_CODE 77)
