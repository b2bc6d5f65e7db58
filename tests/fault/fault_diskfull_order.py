#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Disk full, then free again, inside one upload: after a fragment's persist fails, nothing later
of that upload is stored, so the stream stays in producer-timestamp order when the producer
re-sends the failed fragment on a new connection (found by the long soak: three fragments stored
after a later one were then skipped by a consumer reading in number order).
  1. an upload sends F1 (its end is the start of F2's Cluster) while the disk is full: F1's
     persist fails (ERROR 5001);
  2. the disk is freed and the upload sends the rest of F2 and F3 (F2 ends): F2 must not be
     PERSISTED by this upload (before the fix it was, ahead of F1's re-send);
  3. the producer re-sends F1, F2, F3 on a new upload: all PERSISTED, and the stream's fragment
     numbers are in producer-timestamp order with each fragment once.
Usage: fault_diskfull_order.py CAMSTREAM_INGEST"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvs  # noqa: E402


def wait_for(cond, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-fault-full-order-")
    header, clusters = kvs.make_mkv(os.path.join(tmp, "in.mkv"), 60)
    if len(clusters) < 3:
        kvs.skip("the test MKV has %d Clusters (3 wanted)" % len(clusters))
    c1, c2, c3 = clusters[:3]
    mnt = kvs.small_data_dir(tmp)
    srv = kvs.Server(binary, mnt)
    rc = 1
    try:
        srv.start()
        kvs.create_stream(srv, "order")

        # 1. F1 ends while the disk is full.
        filler = kvs.fill(mnt)
        up = kvs.Upload(srv, "order")
        up.send(header + c1)
        half = len(c2) // 2
        up.send(c2[:half])  # the next Cluster ends F1
        kvs.check(wait_for(lambda: up.of("ERROR")),
                  "disk full: F1 gets an ERROR ack (%s)" %
                  [(a.get("EventType"), a.get("ErrorId")) for a in up.acks])
        kvs.check([e.get("ErrorId") for e in up.of("ERROR")] == [5001],
                  "the ERROR is 5001 (%s)" % [e.get("ErrorId") for e in up.of("ERROR")])

        # 2. The disk is freed; the same upload goes on (F2 ends where F3 starts).
        os.unlink(filler)
        up.send(c2[half:] + c3)
        up.finish()
        persisted = up.of("PERSISTED")
        print("first upload: %s" % [(a.get("EventType"), a.get("ErrorId")) for a in up.acks],
              flush=True)
        kvs.check(not persisted,
                  "nothing after the failed F1 is PERSISTED by that upload (%d were)" %
                  len(persisted))
        kvs.check(srv.alive(), "the server is still running")

        # 3. The producer re-sends everything from F1 on a new connection.
        up2 = kvs.Upload(srv, "order")
        up2.send(header + c1 + c2 + c3)
        up2.finish()
        kvs.check(len(up2.of("PERSISTED")) == 3 and not up2.of("ERROR"),
                  "the re-send: F1, F2, F3 PERSISTED (%s)" %
                  [(a.get("EventType"), a.get("ErrorId")) for a in up2.acks])
        frags = kvs.list_fragments(srv, "order")
        by_number = sorted(frags, key=lambda f: int(f["FragmentNumber"]))
        ts = [f["ProducerTimestamp"] for f in by_number]
        print("stored (by number): %s" % ts, flush=True)
        kvs.check(len(frags) == 3, "the stream holds 3 fragments (%d)" % len(frags))
        kvs.check(ts == sorted(ts) and len(set(ts)) == len(ts),
                  "fragment numbers are in producer-timestamp order, each fragment once")
        rc = 0
        print("PASS")
    finally:
        srv.stop()
        subprocess.call(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
