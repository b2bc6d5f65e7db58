# SPDX-License-Identifier: Apache-2.0
# Compiler flags of the house: warnings, sanitizers, and the cs_module() helper every module uses.

add_library(camstream_flags INTERFACE)
target_compile_options(camstream_flags INTERFACE
    -Wall -Wextra -Wconversion -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wno-sign-conversion)
# 64-bit file offsets everywhere: 32-bit targets (armhf) otherwise fail readdir()/stat() on large
# inodes and files over 2 GiB. A no-op on 64-bit targets.
add_compile_definitions(_FILE_OFFSET_BITS=64)
if(CS_WERROR)
    target_compile_options(camstream_flags INTERFACE -Werror)
endif()
if(CS_SANITIZE)
    # Applied globally so tests, tools and libraries agree on the runtime.
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()
if(CS_FUZZ)
    # Coverage instrumentation in every library, so libFuzzer sees edges inside the code it fuzzes;
    # the fuzz_* programs themselves add -fsanitize=fuzzer (tests/fuzz/CMakeLists.txt).
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
set_target_properties(camstream_flags PROPERTIES EXPORT_NAME flags)

# cs_module(<name> SOURCES ... [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
# Defines library camstream_<name> (alias camstream::<name>, exported as camstream::<name>).
function(cs_module name)
    cmake_parse_arguments(M "" "" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
    set(t camstream_${name})
    add_library(${t} ${M_SOURCES})
    add_library(camstream::${name} ALIAS ${t})
    set_target_properties(${t} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME camstream_${name})
    target_compile_definitions(${t} PRIVATE CS_BUILDING)
    target_link_libraries(${t} PUBLIC camstream_headers ${M_PUBLIC_LIBS}
                               PRIVATE $<BUILD_INTERFACE:camstream_flags> ${M_PRIVATE_LIBS})
    set_property(GLOBAL APPEND PROPERTY CS_INSTALL_TARGETS ${t})
endfunction()
