# store: address canonicalisation and the LMDB store, on a real disk.
add_executable(store_test unit/store_test.cpp unit/address_test.cpp)
target_link_libraries(store_test PRIVATE m365_store m365_catch_main PkgConfig::LMDB Threads::Threads)
catch_discover_tests(store_test
    EXTRA_ARGS -w NoTests
    PROPERTIES ENVIRONMENT "${M365GATE_CATCH_ENV}" LABELS unit)

add_executable(store_bench bench/store_bench.cpp)
target_link_libraries(store_bench PRIVATE m365_store)
