#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# The server sets its own open-file limit (HTTP.md "Descriptors"): it raises a low soft limit to
# what its connections need (max_connections 1024 + 1024 for files), up to the hard limit, lowers a
# huge one to 65,536 where the hard limit allows one (lws keeps a table of two pointers per
# descriptor), keeps one in between, and warns when the hard limit is too low. Started with soft limit 256, it then holds 400 open connections and still
# answers a request on a new one (EMFILE at ~250 without the raise).
# Usage: fd_limit.py camstream-ingest
import os
import resource
import socket
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e  # noqa: E402
from cs_e2e import check  # noqa: E402

NEED = 1024 + 1024


def limits(pid):
    """(soft, hard) 'Max open files' of a running process."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    return None


def start(binary, tmp, name, soft, hard):
    def pre():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return e.Server(binary, os.path.join(tmp, name), extra=["--auth", "none"], preexec=pre)


def metrics_ok(url):
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
            return r.status == 200 and b"camstream_http_connections" in r.read()
    except OSError as x:
        e.note("GET /metrics: %s" % x)
        return False


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-fdlimit-")
    soft0, hard0 = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard0 != resource.RLIM_INFINITY and hard0 < 8192:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft0, 8192))
        except (ValueError, OSError):
            pass
    soft0, hard0 = resource.getrlimit(resource.RLIMIT_NOFILE)
    check(hard0 == resource.RLIM_INFINITY or hard0 >= 8192,
          "this test can give the server a hard limit of 8192 (ours: %s)" % hard0)

    # 1. A low soft limit is raised to what 1,024 connections need.
    s = start(binary, tmp, "low", 256, 8192)
    check(s.url != "", "server up with soft limit 256: %s" % s.banner)
    got = limits(s.proc.pid)
    check(got == (NEED, 8192), "soft limit raised 256 -> %d, hard kept (got %s)" % (NEED, got))
    if soft0 < 450:  # this test's own 400 sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (
            4096 if hard0 == resource.RLIM_INFINITY else min(4096, hard0), hard0))
    host, port = s.url.split("//", 1)[1].rsplit(":", 1)
    conns = []
    for _ in range(400):
        c = socket.create_connection((host, int(port)), timeout=10)
        conns.append(c)
    check(metrics_ok(s.url), "with 400 connections open it still answers on a new one")
    text = s.log_text()
    check("too many open files" not in text.lower() and "EMFILE" not in text,
          "no 'too many open files' in its log")
    for c in conns:
        c.close()
    check(s.stop() == 0, "it exits 0 on SIGTERM")

    # 2. A soft limit between the need and 65,536 is kept; a higher one is lowered to 65,536 (lws'
    # descriptor table is sized from it). Raising our hard limit above its value needs
    # CAP_SYS_RESOURCE, so the second half runs only where the hard limit already allows it.
    mid = min(20000, hard0) if hard0 != resource.RLIM_INFINITY else 20000
    k = start(binary, tmp, "mid", mid, mid)
    got = limits(k.proc.pid)
    check(got == (mid, mid), "soft limit %d kept (got %s)" % (mid, got))
    check(metrics_ok(k.url), "and it answers")
    check(k.stop() == 0, "it exits 0 on SIGTERM")
    if hard0 == resource.RLIM_INFINITY or hard0 > 65536:
        big = start(binary, tmp, "huge", hard0 if hard0 != resource.RLIM_INFINITY else 200000,
                    hard0)
        got = limits(big.proc.pid)
        check(got is not None and got[0] == 65536, "a huge soft limit lowered to 65536 (got %s)"
              % (got,))
        check(metrics_ok(big.url), "and it answers")
        check(big.stop() == 0, "it exits 0 on SIGTERM")
    else:
        e.note("lowering a soft limit above 65536 not shown: our hard limit is %d (raising it "
               "needs CAP_SYS_RESOURCE)" % hard0)

    # 3. A hard limit below the need: as high as allowed, and a warning that says what to do.
    w = start(binary, tmp, "short", 1500, 1500)
    check(w.url != "", "server up with limits 1500/1500")
    got = limits(w.proc.pid)
    check(got == (1500, 1500), "limits kept at the hard limit (got %s)" % (got,))
    text = w.log_text()
    check("open-file limit 1500 (the hard limit) is below the %d" % NEED in text and
          "LimitNOFILE=" in text, "it warns and says how to raise it")
    check(w.stop() == 0, "it exits 0 on SIGTERM")
    e.rmtree_if_ok(tmp)
    return e.finish()


if __name__ == "__main__":
    sys.exit(main())
