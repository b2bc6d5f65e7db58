# SPDX-License-Identifier: Apache-2.0
# Installation: libraries, public headers, the CMake package (camstream::<module> targets) and
# camstream.pc, so an outside project can find_package(camstream) or pkg-config camstream.
include(CMakePackageConfigHelpers)

get_property(cs_targets GLOBAL PROPERTY CS_INSTALL_TARGETS)
install(TARGETS camstream_headers camstream_flags ${cs_targets}
        EXPORT camstreamTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/camstream DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/include/camstream/cs_build_config.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/camstream)

set(cs_cmakedir ${CMAKE_INSTALL_LIBDIR}/cmake/camstream)
install(EXPORT camstreamTargets NAMESPACE camstream:: DESTINATION ${cs_cmakedir})
configure_package_config_file(cmake/camstreamConfig.cmake.in
    ${CMAKE_CURRENT_BINARY_DIR}/camstreamConfig.cmake INSTALL_DESTINATION ${cs_cmakedir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/camstreamConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/camstreamConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/camstreamConfigVersion.cmake
        DESTINATION ${cs_cmakedir})

# pkg-config: libraries highest module first so static linking resolves downwards.
set(CS_PC_LIBS "")
list(REVERSE cs_targets)
foreach(t IN LISTS cs_targets)
    string(APPEND CS_PC_LIBS " -l${t}")
endforeach()
# Libraries of other projects the modules need (e.g. -lmbedcrypto for auth), after camstream's own.
get_property(cs_pc_extra GLOBAL PROPERTY CS_PC_EXTRA_LIBS)
list(REMOVE_DUPLICATES cs_pc_extra)
set(CS_PC_EXTRA_LIBS "")
foreach(l IN LISTS cs_pc_extra)
    string(APPEND CS_PC_EXTRA_LIBS " ${l}")
endforeach()
file(RELATIVE_PATH CS_PC_RELPREFIX
     /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" CS_PC_RELPREFIX "${CS_PC_RELPREFIX}")
configure_file(cmake/camstream.pc.in ${CMAKE_CURRENT_BINARY_DIR}/camstream.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/camstream.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
