# style: the size rules of docs/architecture.md (scripts/check-size: no production file over 600
# lines, no function over 80) and the committed .clang-format, on every C++ source. Both read
# the source tree only; they run with the unit tests (and in scripts/test --quick).
add_test(NAME size_rules COMMAND python3 ${PROJECT_SOURCE_DIR}/scripts/check-size)
add_test(NAME clang_format
         COMMAND bash -c "find common decision store sync milter ctl tests -name '*.cpp' -o -name '*.h' | sort | xargs clang-format --dry-run -Werror"
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(size_rules clang_format PROPERTIES LABELS unit TIMEOUT 120)
