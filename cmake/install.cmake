# cmake/install.cmake - where `cmake --install` puts m365gate on a Debian system.
# include()d from the top-level CMakeLists.txt after the targets exist. With
# `cmake --install build --prefix /usr` (add DESTDIR=... in the environment to stage):
#   /usr/sbin/m365gate-sync, /usr/sbin/m365gate-milter    daemons (sync/, milter/CMakeLists.txt)
#   /usr/bin/m365gatectl                                  admin CLI
#   /usr/lib/systemd/system/m365gate-{sync,milter}.service
#   /usr/lib/tmpfiles.d/m365gate.conf, /usr/lib/sysusers.d/m365gate.conf
#   /etc/logrotate.d/m365gate
#   /usr/share/man/man8/m365gate-sync.8, m365gate-milter.8, m365gatectl.8
#   /usr/share/man/man5/m365gate.toml.5
#   /usr/share/doc/m365gate/README.md and the guides of docs/ (admin-guide.md, alerts.md, ...)
#   /usr/share/doc/m365gate/examples/m365gate.toml, rotate-secret, postfix/, sendmail/
# CMake cannot install "/etc/m365gate/m365gate.toml only if absent" without overwriting an
# admin's file, so the example config goes to the doc directory; the admin guide says to copy it.
# lib/systemd/system and lib/{tmpfiles,sysusers}.d are relative to the prefix (/usr/lib/... is
# where Debian 12 looks; M365GATE_SYSTEMD_UNIT_DIR overrides); logrotate is always /etc.
# The units name /usr/sbin: install with --prefix /usr (the default /usr/local would leave
# them pointing at binaries that are not there).
set(M365GATE_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "systemd unit directory (relative to the prefix, or absolute)")
set(M365GATE_LOGROTATE_DIR "/etc/logrotate.d" CACHE STRING "logrotate configuration directory")

# m365gate-sync and m365gate-milter have their install() rules next to their targets.
install(TARGETS m365gatectl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(FILES contrib/systemd/m365gate-sync.service contrib/systemd/m365gate-milter.service
        DESTINATION ${M365GATE_SYSTEMD_UNIT_DIR})
install(FILES contrib/tmpfiles/m365gate.conf DESTINATION lib/tmpfiles.d)
install(FILES contrib/systemd/m365gate.sysusers DESTINATION lib/sysusers.d
        RENAME m365gate.conf)
install(FILES contrib/logrotate/m365gate DESTINATION ${M365GATE_LOGROTATE_DIR})

install(FILES docs/man/m365gate-sync.8 docs/man/m365gate-milter.8 docs/man/m365gatectl.8
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES docs/man/m365gate.toml.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)

install(FILES conf/m365gate.toml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(PROGRAMS contrib/rotate-secret DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY contrib/postfix contrib/sendmail contrib/fail2ban contrib/grafana
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# The guides; notes left in docs/ for the next session (SESSION-*.md) are not documentation.
file(GLOB m365gate_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
list(FILTER m365gate_docs EXCLUDE REGEX "/SESSION-[^/]*\\.md$")
install(FILES README.md ${m365gate_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})
