#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# PutMedia keep-alives (PROTOCOL.md §3: IDLE "while no data flows"): the real camstream-ingest,
# an HTTP/1.1 chunked PutMedia with `curl -T .` (non-blocking stdin: curl reads acks while the
# pipe is empty). The producer sends the stream header and two Clusters, then nothing for a while:
# the first fragment must be acked through PERSISTED during the pause (the upload really streams),
# and an IDLE ack must arrive within CS_TEST_IDLE_WAIT seconds (default 15) of silence. Then the
# rest of the video is sent and every fragment gets BUFFERING/RECEIVED/PERSISTED in order, IDLE
# lines in between being allowed.
# Usage: putmedia_idle.py camstream-ingest getmedia_mkvdump. Exit 77 = skipped.
import json
import os
import select
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e  # noqa: E402
from cs_e2e import check  # noqa: E402


def main():
    miss = e.missing_tools(e.CURL, e.GST, e.FFPROBE)
    if miss:
        print("skip: missing " + " ".join(miss))
        return 77
    binary, dump = sys.argv[1:3]
    wait_s = float(os.environ.get("CS_TEST_IDLE_WAIT", "15"))
    tmp = tempfile.mkdtemp(prefix="cs-putmedia-idle-")
    path = os.path.join(tmp, "ball.mkv")
    data = e.make_mkv(path)
    if data is None:
        print("skip: GStreamer (videotestsrc, x264enc, matroskamux) could not make the video")
        return 77
    up = e.Upload(path, data, dump)
    check(up.reader_ok and len(up.ranges) == 5, "the GStreamer MKV has 5 Clusters")
    srv = e.Server(binary, os.path.join(tmp, "data"))
    try:
        url = srv.url
        st, _, _ = e.curl_json(url, "/createStream", {"StreamName": "idle"}, tmp)
        check(st == 200, "createStream")
        # `-T .`: non-blocking stdin, so curl reads acks while the producer is silent. No
        # --max-time: with it curl 7.88 waits for stdin in select() and reads nothing meanwhile.
        stdin = e.pipe_with(data[:up.ranges[0][0]] + b"".join(up.cluster_bytes[:2]))
        put = subprocess.Popen([e.CURL, "-sS", "-N", "--aws-sigv4", e.SIGV4,
                                "--user", "%s:%s" % (e.AK, e.SK), "-X", "POST", "-H",
                                "x-amzn-stream-name: idle", "-H", "Transfer-Encoding: chunked"]
                               + e.PUT_HEADERS + ["-T", ".", url + "/putMedia"],
                               stdin=stdin[0], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        os.close(stdin[0])
        writer = os.fdopen(stdin[1], "wb")
        text = b""
        fd = put.stdout.fileno()
        deadline = time.monotonic() + wait_s
        idle_at = None
        while time.monotonic() < deadline and idle_at is None:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                text += chunk
                if b'"IDLE"' in text:
                    idle_at = wait_s - (deadline - time.monotonic())
        lines = [json.loads(x) for x in text.decode().splitlines() if x.strip()]
        check(any(a.get("EventType") == "PERSISTED" and a.get("FragmentTimecode") ==
                  up.timecodes[0] for a in lines),
              "the first fragment is PERSISTED while the upload pauses")
        idles = [a for a in lines if a.get("EventType") == "IDLE"]
        check(bool(idles), "an IDLE ack arrives while no data flows (waited up to %.0f s; got "
              "one after %s s)" % (wait_s, "%.1f" % idle_at if idle_at is not None else "-"))
        writer.write(b"".join(up.cluster_bytes[2:]))
        writer.close()
        rest = put.stdout.read()
        check(put.wait(timeout=120) == 0, "curl PutMedia ends cleanly")
        e.check_acks((text + rest).decode(), up.timecodes, "PutMedia with a pause")
    finally:
        check(srv.stop() == 0, "server exits 0 on SIGTERM")
    e.rmtree_if_ok(tmp)
    return e.finish()


if __name__ == "__main__":
    sys.exit(main())
