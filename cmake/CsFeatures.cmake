# SPDX-License-Identifier: Apache-2.0
# Feature tests: every CS_HAVE_* macro the code uses is decided here, never by OS name.
include(CheckSymbolExists)
include(CheckIncludeFile)
include(CheckCSourceCompiles)

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
if(CMAKE_USE_PTHREADS_INIT)
    set(CS_HAVE_PTHREAD 1)
endif()

set(CMAKE_REQUIRED_DEFINITIONS -D_GNU_SOURCE)
set(CMAKE_REQUIRED_LIBRARIES Threads::Threads)
check_symbol_exists(clock_gettime "time.h" CS_HAVE_CLOCK_GETTIME)
check_symbol_exists(CLOCK_MONOTONIC "time.h" CS_HAVE_CLOCK_MONOTONIC)
check_symbol_exists(pthread_condattr_setclock "pthread.h" CS_HAVE_PTHREAD_CONDATTR_SETCLOCK)
check_symbol_exists(pthread_setname_np "pthread.h" CS_HAVE_PTHREAD_SETNAME_NP)
check_symbol_exists(getrandom "sys/random.h" CS_HAVE_GETRANDOM)
check_symbol_exists(fdatasync "unistd.h" CS_HAVE_FDATASYNC)
check_symbol_exists(renameat "stdio.h" CS_HAVE_RENAMEAT)
check_include_file(stdatomic.h CS_HAVE_STDATOMIC_H)
check_include_file(linux/sockios.h CS_HAVE_LINUX_SOCKIOS_H) # SIOCOUTQ: bytes unsent in a socket
unset(CMAKE_REQUIRED_DEFINITIONS)
unset(CMAKE_REQUIRED_LIBRARIES)

if(NOT CS_HAVE_PTHREAD OR NOT CS_HAVE_CLOCK_GETTIME)
    message(FATAL_ERROR "camstream needs a port for this platform: only platform/posix exists "
                        "(threads via pthreads, clocks via clock_gettime)")
endif()
set(CS_PLATFORM_PORT posix)
