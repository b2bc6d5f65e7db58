#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Disk full: the data directory is a small tmpfs (mount -t tmpfs -o size=8m; else a loop-mounted
ext4 image; else skip with 77 saying why). A filler file leaves ~300 KiB free, then an upload of
~1.8 MB: the fragments that fit are PERSISTED, the others get ERROR acks with ErrorId 5001 (never
PERSISTED), the server stays up and the control plane still answers; every PERSISTED fragment is
listed and readable. After the filler is removed, a new upload is PERSISTED whole.
Usage: fault_diskfull.py CAMSTREAM_INGEST"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvs  # noqa: E402



def upload(srv, name, header, clusters):
    up = kvs.Upload(srv, name)
    up.send(header)
    for c in clusters:
        if not up.send(c):
            break
        time.sleep(0.005)
    up.finish(timeout=60)
    return up


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-fault-full-")
    header, clusters = kvs.make_mkv(os.path.join(tmp, "in.mkv"), 1800)
    mnt = kvs.small_data_dir(tmp)
    srv = kvs.Server(binary, mnt)
    rc = 1
    try:
        srv.start()
        kvs.create_stream(srv, "full")
        kvs.create_stream(srv, "after")
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - 300 * 1024))
            f.flush()
            os.fsync(f.fileno())
        up = upload(srv, "full", header, clusters)
        errors = up.of("ERROR")
        persisted = up.of("PERSISTED")
        print("%d PERSISTED, %d ERROR acks of %d fragments" % (len(persisted), len(errors),
                                                                 len(clusters)))
        kvs.check(up.status == 200, "upload answered 200")
        kvs.check(len(errors) > 0 and all(e.get("ErrorId") == 5001 for e in errors),
                  "fragments that do not fit get ERROR 5001 (%s)" %
                  sorted({e.get("ErrorId") for e in errors}))
        tcs_err = {e["FragmentTimecode"] for e in errors}
        kvs.check(not tcs_err & {p["FragmentTimecode"] for p in persisted},
                  "no fragment is both PERSISTED and ERROR")
        kvs.check(srv.alive(), "the server is still running")
        s, h, b = kvs.call(srv, "/describeStream", {"StreamName": "full"})
        kvs.check(s == 200, "describeStream still works while the disk is full")
        os.unlink(filler)
        listed = {f["FragmentNumber"] for f in kvs.list_fragments(srv, "full")}
        kvs.check({p["FragmentNumber"] for p in persisted} <= listed,
                  "every PERSISTED fragment is listed (%d)" % len(listed))
        if listed:
            served = kvs.split_fragments(kvs.get_media_for_fragments(srv, "full", sorted(listed)))
            orig = {kvs.cluster_payload(c) for c in clusters}
            kvs.check(len(served) == len(listed) and all(p in orig for p in served),
                      "they read back complete and byte-identical")
        up2 = upload(srv, "after", header, clusters[:20])
        kvs.check(len(up2.of("PERSISTED")) == 20 and not up2.of("ERROR"),
                  "after freeing space a new upload is PERSISTED whole (%d)" %
                  len(up2.of("PERSISTED")))
        kvs.check(srv.stop() == 0, "clean stop")
        srv.start()  # recovery on the once-full disk
        kvs.check(len(kvs.list_fragments(srv, "after")) == 20, "restart: all still listed")
        kvs.check(srv.stop() == 0, "clean stop after restart")
        rc = 0
    except kvs.Fail:
        rc = 1
    finally:
        srv.kill9()
        subprocess.call(["umount", mnt])
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
