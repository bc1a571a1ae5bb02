# cmake/install.cmake - where `cmake --install` puts m365gate on a Debian system.
# include()d from the top-level CMakeLists.txt after the targets exist. With the usual
# -DCMAKE_INSTALL_PREFIX=/usr:
#   /usr/sbin/m365gate-sync, /usr/sbin/m365gate-milter    daemons
#   /usr/bin/m365gatectl                                  admin CLI
#   /usr/lib/systemd/system/m365gate-{sync,milter}.service
#   /usr/lib/tmpfiles.d/m365gate.conf, /usr/lib/sysusers.d/m365gate.conf
#   /etc/logrotate.d/m365gate
#   /usr/share/doc/m365gate/*.md, examples/m365gate.toml, examples/postfix, examples/sendmail,
#   examples/rotate-secret
# CMake cannot install "/etc/m365gate/m365gate.toml only if absent" without overwriting an
# admin's file, so the example config goes to the doc directory; the admin guide says to copy it.
# lib/systemd/system and lib/{tmpfiles,sysusers}.d are relative to the prefix (/usr/lib/... is
# where Debian 12 looks; M365GATE_SYSTEMD_UNIT_DIR overrides); logrotate is always /etc.
set(M365GATE_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "systemd unit directory (relative to the prefix, or absolute)")
set(M365GATE_LOGROTATE_DIR "/etc/logrotate.d" CACHE STRING "logrotate configuration directory")

install(TARGETS m365gate-sync m365gate-milter RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS m365gatectl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(FILES contrib/systemd/m365gate-sync.service contrib/systemd/m365gate-milter.service
        DESTINATION ${M365GATE_SYSTEMD_UNIT_DIR})
install(FILES contrib/tmpfiles/m365gate.conf DESTINATION lib/tmpfiles.d)
install(FILES contrib/systemd/m365gate.sysusers DESTINATION lib/sysusers.d
        RENAME m365gate.conf)
install(FILES contrib/logrotate/m365gate DESTINATION ${M365GATE_LOGROTATE_DIR})

install(FILES conf/m365gate.toml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(PROGRAMS contrib/rotate-secret DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
foreach(mta IN ITEMS postfix sendmail)
    if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/contrib/${mta})
        install(DIRECTORY contrib/${mta} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
    endif()
endforeach()

file(GLOB m365gate_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${m365gate_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR} OPTIONAL)
