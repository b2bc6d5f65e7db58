# SPDX-License-Identifier: Apache-2.0
# CMake toolchain file for 32-bit ARMv7 hard-float Linux (Raspberry Pi 2/3/4 with a 32-bit OS,
# ARMv7 cameras) with Debian's arm-linux-gnueabihf cross compiler. It needs only
# gcc-arm-linux-gnueabihf: its C library (libc6-dev-armhf-cross, under /usr/arm-linux-gnueabihf)
# is enough for the self-contained modules (platform, mkv) and the fuzz replay programs. Other
# libraries (cmocka, libcurl, ...) come from `:armhf` multiarch packages when installed, or only
# from a copy of the device's root file system given as -DCS_SYSROOT=<dir> (or -DCMAKE_SYSROOT).
# Target programs run under qemu-arm-static. Debian's armhf is ARMv7: ARMv6 boards (Pi Zero/1)
# need Raspberry Pi OS's own compiler. See docs/cross-compiling.md.
#   cmake -S . -B build/cross-armhf -DCMAKE_TOOLCHAIN_FILE=toolchains/arm-linux-gnueabihf.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(cs_triplet arm-linux-gnueabihf)

set(CMAKE_C_COMPILER ${cs_triplet}-gcc)
set(CMAKE_CXX_COMPILER ${cs_triplet}-g++)
# 64-bit off_t: files over 2 GiB, and readdir() under qemu-user on a 64-bit host, where ext4 hands
# out 64-bit directory offsets that a 32-bit-off_t readdir() rejects with EOVERFLOW (an empty
# directory, as far as the program can tell).
set(CMAKE_C_FLAGS_INIT "-D_FILE_OFFSET_BITS=64")
set(CMAKE_CXX_FLAGS_INIT "-D_FILE_OFFSET_BITS=64")

# A device sysroot: CS_SYSROOT from the command line or the environment. try_compile() projects
# re-read this file, so the variable is forwarded to them.
if(NOT CS_SYSROOT AND DEFINED ENV{CS_SYSROOT})
    set(CS_SYSROOT "$ENV{CS_SYSROOT}")
endif()
if(CS_SYSROOT AND NOT CMAKE_SYSROOT)
    set(CMAKE_SYSROOT "${CS_SYSROOT}")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CS_SYSROOT)

# Headers, libraries and packages only from the target's roots; programs from the host. Without
# a sysroot the roots are the cross libc's prefix and the host root (multiarch `:armhf` packages
# live in /usr/lib/arm-linux-gnueabihf; CMake picks the arch directory from the triplet).
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
find_program(CS_QEMU_ARM NAMES qemu-arm-static qemu-arm)
if(CS_QEMU_ARM)
    if(CMAKE_SYSROOT)
        set(CMAKE_CROSSCOMPILING_EMULATOR ${CS_QEMU_ARM} -L ${CMAKE_SYSROOT})
    elseif(EXISTS /lib/ld-linux-armhf.so.3)
        set(CMAKE_CROSSCOMPILING_EMULATOR ${CS_QEMU_ARM})
    else()
        set(CMAKE_CROSSCOMPILING_EMULATOR ${CS_QEMU_ARM} -L /usr/${cs_triplet})
    endif()
endif()
