# hardening: fault injection, load and secrets/privilege tests (the sanitizer and
# fuzzing parts live elsewhere), and the file-system tests (fs_*: files handled
# with privilege in directories a less privileged user controls; docs/security.md). Each test is a script under tests/integration/ that starts the
# real binaries (m365gate-sync, m365gate-milter, the Graph simulator over TLS, Postfix) and
# prints one "SUMMARY name: ..." line, also written to
# ${PROJECT_BINARY_DIR}/hardening/<name>.summary; tests/bench/hardening-summary.sh collects them.

# Small tools the scripts drive: a milter client that checks every answer against the list in
# force (watch) or breaks sessions off mid-transaction (drop); what a reader sees in a store;
# a schema version written behind the store API's back.
add_executable(m365gate-milter-faults tools/milter_faults.cpp)
target_link_libraries(m365gate-milter-faults PRIVATE PkgConfig::MILTER CLI11::CLI11
    Threads::Threads)

add_executable(m365gate-store-inspect tools/store_inspect.cpp)
target_link_libraries(m365gate-store-inspect PRIVATE m365_store CLI11::CLI11 OpenSSL::Crypto
    PkgConfig::LMDB)

add_executable(m365gate-store-tamper tools/store_tamper.cpp)
target_link_libraries(m365gate-store-tamper PRIVATE PkgConfig::LMDB CLI11::CLI11)

# The attacker of fs_socket_race: run as the owner of the socket directory, it renames a
# symlink over each socket that appears there.
add_executable(m365gate-fs-race tools/fs_race.cpp)
target_link_libraries(m365gate-fs-race PRIVATE CLI11::CLI11)

# load_postfix_sync runs LOAD_SECONDS (default 120) of load; set it in the environment of
# ctest to change it (LOAD_SECONDS=600 ctest -R load_postfix_sync).
# Every script gets the same arguments: the binaries by target file, so ctest runs what was
# built. The scripts also find them through M365GATE_BINARY_DIR.
set(hardening_tools
    $<TARGET_FILE:m365gate-sync> $<TARGET_FILE:m365gate-milter> $<TARGET_FILE:m365gatectl>
    $<TARGET_FILE:m365gate-graphsim> $<TARGET_FILE:m365gate-milter-faults>
    $<TARGET_FILE:m365gate-store-inspect> $<TARGET_FILE:m365gate-store-tamper>
    $<TARGET_FILE:m365gate-fs-race>)

# Each script with its ctest TIMEOUT in seconds (run times measured on the 2-core machine:
# tests/bench/README.md, "Hardening"). Exit 77 only when a prerequisite cannot exist (not root,
# no Postfix); the label "hardening" selects them all: ctest -L hardening.
set(hardening_scripts
    fault_sigkill 600
    fault_map_full 120
    fault_corrupt 180
    fault_store_pages 240
    fault_graph 180
    fault_milter_abort 180
    load_postfix_sync 400
    secrets_privileges 180
    fs_socket_race 120
    fs_symlinks 90
    fs_secret_set 60)
list(LENGTH hardening_scripts hardening_n)
math(EXPR hardening_last "${hardening_n} - 1")
foreach(i RANGE 0 ${hardening_last} 2)
    math(EXPR j "${i} + 1")
    list(GET hardening_scripts ${i} script)
    list(GET hardening_scripts ${j} timeout)
    add_test(NAME ${script}
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/${script}.sh ${hardening_tools})
    set_tests_properties(${script} PROPERTIES
        ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS "integration;hardening"
        TIMEOUT ${timeout} SKIP_RETURN_CODE 77)
endforeach()
# Only the load test runs alone: its point is sustained load on both cores. The others assert
# what a user sees (answers, files, exit statuses), wait with wait_for rather than sleeps, and
# take their ports and directories at runtime, so they share the machine with other tests
# (ctest -j2); run alone they left one core idle for five minutes of every CI run.
set_tests_properties(load_postfix_sync PROPERTIES RUN_SERIAL TRUE)
