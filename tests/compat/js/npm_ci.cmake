# SPDX-License-Identifier: Apache-2.0
# cmake -DNODE=... -DNPM=... -DSRC=<tests/compat/js> -DDST=<build dir> -P npm_ci.cmake
# Installs the JS compat test's pinned packages with `npm ci --prefix DST` from a copy of
# package.json + package-lock.json, unless DST already holds an install of this very lock (the
# stamp holds the hash of both files). Fails loudly without node/npm.
if(NOT NODE OR NOT NPM)
    message(FATAL_ERROR "compat_js: node and npm are required for the AWS SDK for JavaScript v3 "
                        "compat test and were not found at configure time (install nodejs + npm, "
                        ">= 18, then re-run cmake). CI has them; this test does not skip.")
endif()
file(SHA256 ${SRC}/package.json h1)
file(SHA256 ${SRC}/package-lock.json h2)
set(want "${h1} ${h2}")
set(stamp ${DST}/npm-ci.stamp)
if(EXISTS ${stamp} AND EXISTS ${DST}/node_modules/@aws-sdk/client-kinesis-video/package.json)
    file(READ ${stamp} have)
    if(have STREQUAL want)
        message(STATUS "compat_js: node_modules is current (${DST})")
        return()
    endif()
endif()
file(REMOVE ${stamp})
file(COPY ${SRC}/package.json ${SRC}/package-lock.json DESTINATION ${DST})
execute_process(COMMAND ${NPM} ci --prefix ${DST} --no-audit --no-fund
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compat_js: `npm ci --prefix ${DST}` failed (${rc})")
endif()
file(WRITE ${stamp} "${want}")
