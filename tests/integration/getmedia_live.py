#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# GetMedia at the live edge (issue 4; docs/internals/GETMEDIA.md "The live edge"): the real
# camstream-ingest (--auth none), a PutMedia upload written by hand over a raw HTTP/1.1 chunked
# socket so the test decides when each byte leaves, and raw GetMedia sockets (StartSelector NOW).
#  1. bytes as they arrive: the producer sends the first half of a Cluster and holds the rest; two
#     live consumers must receive that half (with the fragment's number, from the BUFFERING ack)
#     while the rest is still held back: the server forwards bytes, not finished fragments;
#  2. several consumers, and a slow one: a third consumer stops reading; the producer's upload is
#     not slowed (every fragment PERSISTED while that consumer reads nothing) and, once it reads
#     again, it gets every fragment exactly once, in order, byte-identical (it fell back to the
#     store), like the fast consumers;
#  3. FragmentNumber: BUFFERING and RECEIVED acks carry the number PERSISTED confirms, and the
#     consumers' AWS_KINESISVIDEO_FRAGMENT_NUMBER tags are those numbers;
#  4. takeover: a second upload of the same stream makes the first one get an ERROR ack
#     (ErrorId 4000, no fragment) and its response end;
#  5. a fragment cut by the producer's disconnect: a consumer in the middle of it is dropped
#     (it holds part of a fragment that will never end) and resumes after its last
#     CONTINUATION_TOKEN with no duplicate.
# Usage: getmedia_live.py camstream-ingest getmedia_mkvdump. Exit 77 = skipped.
import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e  # noqa: E402
from cs_e2e import check  # noqa: E402

WAIT = 30.0  # seconds a condition may take before it counts as failed (never a speed figure)


def host_port(url):
    hp = url.split("://", 1)[1]
    h, p = hp.rsplit(":", 1)
    return h, int(p)


def post_json(url, path, body):
    """A whole request on its own connection: (status, body bytes)."""
    h, p = host_port(url)
    s = socket.create_connection((h, p), timeout=WAIT)
    data = json.dumps(body).encode()
    s.sendall(b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (path.encode(), h.encode(), p,
                                                                      len(data)) + data)
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    s.close()
    head, _, rest = out.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"transfer-encoding: chunked" in head.lower():
        rest = dechunk(rest)[0]
    return status, rest


def dechunk(buf):
    """Decodes complete chunks: (payload, rest, ended)."""
    out = b""
    while True:
        line_end = buf.find(b"\r\n")
        if line_end < 0:
            return out, buf, False
        size = int(buf[:line_end].split(b";")[0], 16)
        if size == 0:
            return out, buf[line_end + 2:], True
        if len(buf) < line_end + 2 + size + 2:
            return out, buf, False
        out += buf[line_end + 2:line_end + 2 + size]
        buf = buf[line_end + 2 + size + 2:]


class Reader:
    """A response read incrementally from a socket (chunked body)."""

    def __init__(self, sock, rcvbuf=None):
        self.s = sock
        self.raw = b""
        self.body = b""
        self.head = None
        self.ended = False
        self.closed = False

    def pump(self, timeout=0.05):
        self.s.settimeout(timeout)
        try:
            c = self.s.recv(262144)
        except (socket.timeout, BlockingIOError):
            return False
        except OSError:
            self.closed = True
            return False
        if not c:
            self.closed = True
            return False
        self.raw += c
        if self.head is None and b"\r\n\r\n" in self.raw:
            self.head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        if self.head is not None:
            got, self.raw, ended = dechunk(self.raw)
            self.body += got
            self.ended = self.ended or ended
        return True

    def wait_for(self, cond, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not cond(self):
            if not self.pump(0.1) and self.closed:
                break
        return cond(self)


def get_media(url, stream, selector=None, rcvbuf=None):
    h, p = host_port(url)
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((h, p))
    body = json.dumps({"StreamName": stream,
                       "StartSelector": selector or {"StartSelectorType": "NOW"}}).encode()
    s.sendall(b"POST /getMedia HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (h.encode(), p, len(body)) + body)
    return Reader(s)


class Producer:
    """A PutMedia upload over a raw socket: HTTP/1.1 chunked, acks read back as they come."""

    def __init__(self, url, stream):
        h, p = host_port(url)
        self.s = socket.create_connection((h, p), timeout=WAIT)
        self.s.sendall(
            b"POST /putMedia HTTP/1.1\r\nHost: %s:%d\r\nx-amzn-stream-name: %s\r\n"
            b"x-amzn-fragment-timecode-type: ABSOLUTE\r\n"
            b"x-amzn-producer-start-timestamp: %d.000\r\n"
            b"x-amzn-fragment-acknowledgment-required: 1\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" % (h.encode(), p, stream.encode(),
                                                     e.START_MS // 1000))
        self.r = Reader(self.s)

    def send(self, data):
        # The ack reader shares this socket and shortens its timeout; a send may wait while the
        # server holds the body back (fragments waiting for their persist job).
        self.s.settimeout(WAIT)
        if data:
            self.s.sendall(b"%x\r\n" % len(data) + data + b"\r\n")

    def end(self):
        self.s.settimeout(WAIT)
        self.s.sendall(b"0\r\n\r\n")

    def acks(self):
        self.r.pump(0.01)
        return [json.loads(x) for x in self.r.body.decode().splitlines() if x.strip()]

    def wait_acks(self, cond):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not cond(self.acks()):
            if not self.r.pump(0.1) and self.r.closed:
                break
        return cond(self.acks())


def persisted(acks):
    return [a for a in acks if a.get("EventType") == "PERSISTED"]


def segments_of(dump, tmp, name, body):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(body)
    return e.reader_view(dump, path)


def main():
    miss = e.missing_tools(e.GST, e.FFPROBE)
    if miss:
        print("skip: missing " + " ".join(miss))
        return 77
    binary, dump = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="cs-getmedia-live-")
    path = os.path.join(tmp, "ball.mkv")
    data = e.make_mkv(path)
    if data is None:
        print("skip: GStreamer (videotestsrc, x264enc, matroskamux) could not make the video")
        return 77
    ball = e.Upload(path, data, dump)
    check(ball.reader_ok and len(ball.ranges) == 5, "the GStreamer MKV has 5 Clusters")
    # Section 1 wants fragments far bigger than socket buffers so that a consumer that stops
    # reading really falls behind: noise coded near-lossless, ~3 MB per 1 s fragment.
    big = os.path.join(tmp, "snow.mkv")
    p = e.subprocess.run(
        [e.GST, "-q"] + ("videotestsrc num-buffers=150 pattern=snow timestamp-offset=%d ! "
                         "video/x-raw,width=320,height=240,framerate=30/1 ! "
                         "x264enc bframes=0 key-int-max=30 option-string=scenecut=0 pass=quant "
                         "quantizer=1 ! video/x-h264,stream-format=avc,alignment=au,"
                         "profile=high-4:4:4 ! h264parse ! matroskamux streamable=true ! "
                         "filesink location=%s" % (e.START_MS * 1000000, big)).split(" "),
        capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr)
        print("skip: GStreamer could not make the noise video")
        return 77
    with open(big, "rb") as f:
        up = e.Upload(big, f.read(), dump)
    data = up.data
    n = len(up.ranges)
    check(up.reader_ok and n == 5 and min(len(c) for c in up.cluster_bytes) > 1500000,
          "the noise MKV has 5 Clusters above 1.5 MB (%s)" % [len(c) for c in up.cluster_bytes])
    header = data[:up.ranges[0][0]]
    srv = e.Server(binary, os.path.join(tmp, "data"), extra=["--auth", "none"])
    try:
        url = srv.url
        check(post_json(url, "/createStream", {"StreamName": "live"})[0] == 200, "createStream")

        # -- 1. bytes as they arrive, several consumers, a slow one --
        fast = [get_media(url, "live") for _ in range(2)]
        slow = get_media(url, "live", rcvbuf=4096)
        for c in fast + [slow]:
            c.wait_for(lambda r: r.head is not None, "200")
        check(all(c.head is not None and c.head.startswith(b"HTTP/1.1 200") for c in fast + [slow]),
              "three GetMedia (NOW) consumers get 200")
        prod = Producer(url, "live")
        c0 = up.cluster_bytes[0]
        half = len(c0) // 2
        prod.send(header + c0[:half])
        ok = prod.wait_acks(lambda a: any(x.get("EventType") == "BUFFERING" for x in a))
        check(ok, "BUFFERING ack for the first fragment while its Cluster is half sent")
        buf_num = next((x.get("FragmentNumber") for x in prod.acks()
                        if x.get("EventType") == "BUFFERING"), None)
        check(buf_num is not None and len(buf_num) == 47 and buf_num.isdigit(),
              "BUFFERING carries a 47-digit FragmentNumber (%s)" % buf_num)
        for i, c in enumerate(fast):
            got = c.wait_for(lambda r: c0[:half] in r.body, "half")
            check(got, "consumer %d has the first half of the Cluster (%d bytes) while the producer "
                  "still holds the rest" % (i + 1, half))
            check(buf_num is not None and buf_num.encode() in c.body,
                  "consumer %d: the fragment's number is in its tags before the fragment ends"
                  % (i + 1))
        check(c0[half:] not in fast[0].body or len(c0) - half < 8,
              "(the second half had not been sent yet)")
        # The rest, fragment after fragment; the slow consumer reads nothing meanwhile.
        prod.send(c0[half:])
        for k in range(1, n):
            prod.send(up.cluster_bytes[k])
        prod.end()
        ok = prod.wait_acks(lambda a: len(persisted(a)) == n)
        check(ok, "every fragment PERSISTED while the slow consumer reads nothing (the producer "
              "is not slowed by it)")
        check(prod.r.wait_for(lambda r: r.ended, "end"), "the PutMedia response ends")
        acks = prod.acks()
        numbers = [a["FragmentNumber"] for a in persisted(acks)]
        for kind in ("BUFFERING", "RECEIVED"):
            got = [a.get("FragmentNumber") for a in acks if a.get("EventType") == kind]
            check(got == numbers, "%s acks carry the numbers PERSISTED confirms" % kind)
        # Everything read back, by every consumer.
        for i, c in enumerate(fast + [slow]):
            name = "consumer %d%s" % (i + 1, " (slow)" if c is slow else "")
            c.wait_for(lambda r: r.body.count(b"AWS_KINESISVIDEO_CONTINUATION_TOKEN") >= n, "all")
            ok, segs = segments_of(dump, tmp, "c%d.mkv" % i, c.body)
            got_numbers = [s["tags"].get("AWS_KINESISVIDEO_FRAGMENT_NUMBER") for s in segs]
            check(ok and got_numbers == numbers,
                  "%s: every fragment exactly once, in order (%d of %d)" % (name, len(segs), n))
            check(e.verbatim_in_order(up.cluster_bytes, c.body),
                  "%s: the %d Clusters verbatim, in order" % (name, n))
            frames = [fr for s in segs for fr in s["frames"]]
            check(frames == up.reader_frames(range(n)),
                  "%s: %d frames identical to the upload's" % (name, len(frames)))
        # A continuation token the index does not hold (a fragment a live consumer got, then
        # lost in a crash before it was persisted): the server resumes at the first fragment
        # above it instead of refusing it. N-1 of the second fragment's number is such a token.
        below = str(int(numbers[1]) - 1).rjust(47, "0")
        res = get_media(url, "live", {"StartSelectorType": "CONTINUATION_TOKEN",
                                      "ContinuationToken": below})
        res.wait_for(lambda r: r.body.count(b"AWS_KINESISVIDEO_CONTINUATION_TOKEN") >= n - 1, "n-1")
        ok, segs = segments_of(dump, tmp, "below.mkv", res.body)
        got = [sg["tags"].get("AWS_KINESISVIDEO_FRAGMENT_NUMBER") for sg in segs]
        check(res.head is not None and res.head.startswith(b"HTTP/1.1 200") and got == numbers[1:],
              "a token not in the index (%s...) resumes at the first fragment above it (%d of %d)"
              % (below[:24], len(got), n - 1))
        res.s.close()
        check("live consumer behind" in srv.log_text(),
              "the slow consumer fell behind the live edge and read from the store (server log)")
        for c in fast + [slow]:
            c.s.close()
        up = ball
        data = up.data
        header = data[:up.ranges[0][0]]

        # -- 4. takeover --
        check(post_json(url, "/createStream", {"StreamName": "take"})[0] == 200, "createStream take")
        first = Producer(url, "take")
        first.send(header + up.cluster_bytes[0] + up.cluster_bytes[1])
        check(first.wait_acks(lambda a: len(persisted(a)) >= 1), "first upload: a fragment PERSISTED")
        second = Producer(url, "take")
        second.send(header + up.cluster_bytes[2])
        ok = first.wait_acks(lambda a: any(x.get("EventType") == "ERROR" for x in a))
        err = [x for x in first.acks() if x.get("EventType") == "ERROR"]
        check(ok and err[0].get("ErrorId") == 4000 and "FragmentTimecode" not in err[0],
              "the upload taken over gets ERROR 4000 without a fragment (%s)" % err)
        check(first.r.wait_for(lambda r: r.ended or r.closed, "end"),
              "the upload taken over: its response ends")
        second.send(up.cluster_bytes[3])
        second.end()
        check(second.wait_acks(lambda a: len(persisted(a)) == 2),
              "the newer upload: its fragments PERSISTED")
        first.s.close()
        second.s.close()

        # -- 5. a fragment cut by the producer's disconnect --
        check(post_json(url, "/createStream", {"StreamName": "cut"})[0] == 200, "createStream cut")
        cons = get_media(url, "cut")
        cons.wait_for(lambda r: r.head is not None, "200")
        p1 = Producer(url, "cut")
        p1.send(header + up.cluster_bytes[0])
        c1 = up.cluster_bytes[1]
        p1.send(c1[:len(c1) // 2])
        check(p1.wait_acks(lambda a: len(persisted(a)) >= 1), "cut: first fragment PERSISTED")
        check(cons.wait_for(lambda r: c1[:len(c1) // 2] in r.body, "half"),
              "cut: the consumer has half of the second fragment")
        p1.s.shutdown(socket.SHUT_RDWR)
        p1.s.close()
        check(cons.wait_for(lambda r: r.closed, "closed"),
              "cut: the consumer in the middle of the abandoned fragment is dropped")
        ok, segs = segments_of(dump, tmp, "cut1.mkv", cons.body + b"")
        tokens = [s["tags"].get("AWS_KINESISVIDEO_CONTINUATION_TOKEN") for s in segs]
        tokens = [t for t in tokens if t]
        check(len(tokens) == 1, "cut: the consumer completed exactly one fragment (%d)" % len(tokens))
        # The producer comes back and re-sends from the cut fragment on; the consumer resumes
        # after its token.
        p2 = Producer(url, "cut")
        p2.send(header + up.cluster_bytes[1] + up.cluster_bytes[2])
        p2.end()
        check(p2.wait_acks(lambda a: len(persisted(a)) == 2), "cut: the re-sent fragments PERSISTED")
        if tokens:
            res = get_media(url, "cut", {"StartSelectorType": "CONTINUATION_TOKEN",
                                         "ContinuationToken": tokens[0]})
            res.wait_for(lambda r: r.body.count(b"AWS_KINESISVIDEO_CONTINUATION_TOKEN") >= 2, "2")
            ok, segs = segments_of(dump, tmp, "cut2.mkv", res.body)
            check(ok and [s["clusters"] for s in segs] == [[up.timecodes[1]], [up.timecodes[2]]],
                  "cut: resuming after the token gives fragments 2 and 3 once each (%s)"
                  % [s["clusters"] for s in segs])
            res.s.close()
        cons.s.close()
        p2.s.close()
    finally:
        check(srv.stop() == 0, "server exits 0 on SIGTERM")
    return e.finish() if hasattr(e, "finish") else (1 if e.failures else 0)


if __name__ == "__main__":
    sys.exit(main())
