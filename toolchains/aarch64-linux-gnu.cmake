# SPDX-License-Identifier: Apache-2.0
# CMake toolchain file for 64-bit ARM Linux (Raspberry Pi 3/4/5 with a 64-bit OS, ARM64 cameras)
# with Debian's aarch64-linux-gnu cross compiler. The target's libraries come from Debian multiarch
# (the `:arm64` -dev packages installed on the build host; toolchains/setup-sysroot-aarch64) or,
# given -DCS_SYSROOT=<dir> (or -DCMAKE_SYSROOT=<dir>), only from a copy of the device's own root
# file system, pkg-config included. Target programs (the tests) run under qemu-aarch64-static when
# it is installed. See docs/cross-compiling.md.
#   cmake -S . -B build/cross-aarch64 -DCMAKE_TOOLCHAIN_FILE=toolchains/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(cs_triplet aarch64-linux-gnu)

set(CMAKE_C_COMPILER ${cs_triplet}-gcc)
set(CMAKE_CXX_COMPILER ${cs_triplet}-g++)

# A device sysroot: CS_SYSROOT from the command line or the environment. try_compile() projects
# re-read this file, so the variable is forwarded to them.
if(NOT CS_SYSROOT AND DEFINED ENV{CS_SYSROOT})
    set(CS_SYSROOT "$ENV{CS_SYSROOT}")
endif()
if(CS_SYSROOT AND NOT CMAKE_SYSROOT)
    set(CMAKE_SYSROOT "${CS_SYSROOT}")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CS_SYSROOT)

# Headers, libraries and packages only from the target's roots; programs (pkg-config, qemu) from
# the host. Multiarch keeps arm64 libraries in the host's /usr/lib/aarch64-linux-gnu, so the host
# root is a target root too; CMake picks the arch directory from the compiler's triplet.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
unset(ENV{PKG_CONFIG_PATH})
if(CMAKE_SYSROOT)
    list(APPEND CMAKE_FIND_ROOT_PATH "${CMAKE_SYSROOT}")
    set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CMAKE_SYSROOT}")
    set(ENV{PKG_CONFIG_LIBDIR} "${CMAKE_SYSROOT}/usr/lib/${cs_triplet}/pkgconfig:${CMAKE_SYSROOT}/usr/lib/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
else()
    list(APPEND CMAKE_FIND_ROOT_PATH /usr/${cs_triplet} /)
    unset(ENV{PKG_CONFIG_SYSROOT_DIR})
    set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${cs_triplet}/pkgconfig:/usr/share/pkgconfig")
endif()

# Roots given with -DCMAKE_FIND_ROOT_PATH (e.g. a staging prefix with camstream in it) are kept.
list(REMOVE_DUPLICATES CMAKE_FIND_ROOT_PATH)

# ctest and try_run() run target programs through qemu. The dynamic loader and the libc it loads
# must come from the same glibc build: mixing them (e.g. qemu -L /usr/${cs_triplet}, whose loader
# is libc6-*-cross, while libc.so.6 resolves to the multiarch libc6:<arch>) makes threaded programs
# spin forever. So: a sysroot is qemu's prefix (-L); else the multiarch loader, when installed, is
# used as is (no -L); else the cross libc's prefix.
find_program(CS_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(CS_QEMU_AARCH64)
    if(CMAKE_SYSROOT)
        set(CMAKE_CROSSCOMPILING_EMULATOR ${CS_QEMU_AARCH64} -L ${CMAKE_SYSROOT})
    elseif(EXISTS /lib/ld-linux-aarch64.so.1)
        set(CMAKE_CROSSCOMPILING_EMULATOR ${CS_QEMU_AARCH64})
    else()
        set(CMAKE_CROSSCOMPILING_EMULATOR ${CS_QEMU_AARCH64} -L /usr/${cs_triplet})
    endif()
endif()
