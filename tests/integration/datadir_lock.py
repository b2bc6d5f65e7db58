#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# One server per data directory: a second camstream-ingest on a data dir that a running one holds
# exits 1 at once with a message naming the holder's pid (its startup recovery would otherwise
# delete objects the first is about to index); the lock goes with the holder, also on kill -9.
# Usage: datadir_lock.py camstream-ingest
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e  # noqa: E402
from cs_e2e import check  # noqa: E402


def second(binary, data):
    return subprocess.run([binary, "--listen", "127.0.0.1:0", "--data-dir", data, "--auth",
                           "none"], capture_output=True, text=True, timeout=30)


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-datadir-lock-")
    data = os.path.join(tmp, "data")
    first = e.Server(binary, data, extra=["--auth", "none"])
    check(first.url != "", "first server up: %s" % first.banner)
    p = second(binary, data)
    check(p.returncode == 1, "a second server on the same data dir exits 1 (got %s)" % p.returncode)
    want = "in use by another camstream-ingest (pid %d)" % first.proc.pid
    check(want in p.stderr and "--data-dir" in p.stderr,
          "its message names the holder's pid and what to do (%r)" % p.stderr.strip()[:160])
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    first.log.close()
    again = e.Server(binary, data, extra=["--auth", "none"])
    check(again.url != "", "after the holder is killed (-9) a new server takes the data dir")
    check(again.stop() == 0, "it exits 0 on SIGTERM")
    e.rmtree_if_ok(tmp)
    return e.finish()


if __name__ == "__main__":
    sys.exit(main())
