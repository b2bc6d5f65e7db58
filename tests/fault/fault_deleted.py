#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""deleteStream removes the fragment objects: two streams get 10 fragments each; "gone" is
deleted (its fragments vanish from the API at once); the sweeper of a server run with
--retention-interval 1 then removes its objects from DATA_DIR/objects while "kept"'s stay and
stay readable; a restart (recovery) finds nothing to repair.
Usage: fault_deleted.py CAMSTREAM_INGEST"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvs  # noqa: E402


def objects(data):
    out = []
    for root, _, files in os.walk(os.path.join(data, "objects")):
        out += [os.path.join(root, f) for f in files if f.endswith(".mkv")]
    return out


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-fault-del-")
    data = os.path.join(tmp, "data")
    header, clusters = kvs.make_mkv(os.path.join(tmp, "in.mkv"), 150)
    srv = kvs.Server(binary, data, ["--retention-interval", "1"]).start()
    try:
        for n in ("gone", "kept"):
            kvs.create_stream(srv, n)
            up = kvs.Upload(srv, n)
            up.send(header)
            for c in clusters:
                up.send(c)
            up.finish()
            kvs.check(len(up.of("PERSISTED")) == len(clusters), "%s: all PERSISTED" % n)
        kvs.check(len(objects(data)) == 2 * len(clusters), "%d objects on disk" %
                  len(objects(data)))
        s, h, b = kvs.call(srv, "/describeStream", {"StreamName": "gone"})
        arn = json.loads(b)["StreamInfo"]["StreamARN"]
        s, h, b = kvs.call(srv, "/deleteStream", {"StreamARN": arn})
        kvs.check(s == 200, "deleteStream")
        s, h, b = kvs.call(srv, "/listFragments", {"StreamName": "gone"})
        kvs.check(s == 404, "its fragments are gone from the API at once (%d)" % s)
        deadline = time.time() + 60
        while time.time() < deadline and len(objects(data)) != len(clusters):
            time.sleep(0.2)
        kvs.check(len(objects(data)) == len(clusters),
                  "the sweeper removed the deleted stream's objects (%d left)" %
                  len(objects(data)))
        nums = sorted(f["FragmentNumber"] for f in kvs.list_fragments(srv, "kept"))
        served = kvs.split_fragments(kvs.get_media_for_fragments(srv, "kept", nums))
        kvs.check(served == [kvs.cluster_payload(c) for c in clusters],
                  "the other stream is intact and readable")
        kvs.check(srv.stop() == 0, "clean stop")
        before = len(srv.log_text())
        srv.start()
        kvs.check("all consistent" in srv.log_text()[before:],
                  "restart: recovery found nothing to repair")
        kvs.check(srv.stop() == 0, "clean stop")
        return 0
    except kvs.Fail:
        srv.kill9()
        return 1


if __name__ == "__main__":
    sys.exit(main())
