# install: what `cmake --install BUILD --prefix /usr` gives a Debian admin (cmake/install.cmake):
# the layout in a DESTDIR, man pages rendered by groff without warnings and true to --help and
# conf/m365gate.toml, units that agree with the programs' defaults and pass systemd-analyze
# verify, sysusers/tmpfiles applied to a scratch root, logrotate -d. Needs the built binaries.
add_test(NAME install
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/integration/install_test.sh)
set_tests_properties(install PROPERTIES
    ENVIRONMENT "${M365GATE_TEST_ENV}" LABELS integration TIMEOUT 120)
