#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Graceful shutdown (docs/ingest-server.md "Stopping"): the real camstream-ingest gets SIGTERM
# while it works, and must finish what it has in flight, refuse everything new, and exit 0.
# The drained uploads stop at a fragment boundary: one in the middle of a fragment is read on
# until that fragment ends (the next Cluster starts), so that nothing is stored cut short.
#
# 1. An idle server exits 0 on SIGTERM and says so in its log. A drain held open by a connection
#    with half a request head ends at once with status 1 on a second SIGTERM.
# 2. --shutdown-timeout bounds the wait: an upload stalled in the middle of its third fragment
#    gets PERSISTED for the first two, nothing for the third, and is cut when the timeout ends
#    the wait ("timed out with 1 open" logged, status 0); after a restart exactly the two acked
#    fragments are listed.
# 3. A busy server: a PutMedia over HTTP/1.1 chunked (a Python socket client sending a GStreamer
#    MKV in pieces) that has had two fragments acked PERSISTED and stopped in the middle of a
#    frame of the third; a PutMedia over h2c (`curl --http2-prior-knowledge -T .` from a pipe) in
#    the same state on another stream, stopped between two frames; a live GetMedia (curl,
#    HTTP/1.1) following the first stream; an idle keep-alive connection; a connection whose
#    request head is half sent. SIGTERM, then both producers send the rest of the video (without
#    ending their bodies), and:
#    - while the server still runs (the half-sent head keeps it), a new connection is refused;
#    - the half-sent request, completed now, gets 503 with `connection: close`;
#    - both uploads get BUFFERING/RECEIVED/PERSISTED for fragments 0, 1 and 2 (the one in
#      progress, whole) and nothing for 3 (not read), no ERROR; the HTTP/1.1 response ends with
#      the chunked terminator; curl's h2c upload ends without error once the producer stops;
#    - the live GetMedia response ends cleanly (curl exit 0) at the same boundary, and holds
#      fragments 0..2 byte- and frame-identical to the upload;
#    - the idle keep-alive connection is closed by the server (EOF);
#    - the server logs the drain and exits 0.
#    Restarted on the same data directory: listFragments lists exactly the acked fragments and
#    getMediaForFragmentList returns them byte- and frame-identical.
# 4. HTTPS (HTTP/1.1 and ALPN h2): an upload drained the same way ends with every ack and curl
#    exit 0 once the producer stops; the server exits 0.
# Usage: shutdown_drain.py camstream-ingest getmedia_mkvdump. Exit 77 = skipped.
import errno
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e  # noqa: E402
from cs_e2e import check, note  # noqa: E402

WAIT = 60  # seconds: a guard against hangs only, never a measured bound


def host_port(url):
    hp = url.split("://", 1)[1]
    h, p = hp.rsplit(":", 1)
    return h, int(p)


def wait_for(pred, timeout=WAIT, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def blocks(d, start, end):
    """Byte ranges of the SimpleBlock/BlockGroup children of the Cluster at d[start:end]."""
    _, il, _ = e._vint(d, start, True)
    _, sl, _ = e._vint(d, start + il, False)
    pos = start + il + sl
    out = []
    while pos < end:
        cid, cl, _ = e._vint(d, pos, True)
        size, csl, _ = e._vint(d, pos + cl, False)
        if cid in (0xA3, 0xA0):
            out.append((pos, pos + cl + csl + size))
        pos += cl + csl + size
    return out


class H1Response:
    """Reads an HTTP/1.1 response from a socket as it arrives: status, headers, and a chunked
    body (acks); knows whether the chunked terminator came and whether the peer closed."""

    def __init__(self, sock):
        self.sock = sock
        self.raw = b""
        self.status = None
        self.headers = {}
        self.body = b""
        self.terminated = False
        self.eof = False
        self._pos = None  # start of the unparsed chunked body in raw

    def pump(self, timeout=0.1):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return
        self.raw += chunk
        self._parse()

    def _parse(self):
        if self.status is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.raw[:end].decode(errors="replace").split("\r\n")
            self.status = int(lines[0].split()[1])
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            self._pos = end + 4
        while not self.terminated and self.headers.get("transfer-encoding") == "chunked":
            nl = self.raw.find(b"\r\n", self._pos)
            if nl < 0:
                return
            n = int(self.raw[self._pos:nl].split(b";")[0], 16)
            if len(self.raw) < nl + 2 + n + 2:
                return
            self.body += self.raw[nl + 2:nl + 2 + n]
            self._pos = nl + 2 + n + 2
            if n == 0:
                self.terminated = True

    def acks(self):
        out = []
        for ln in self.body.decode(errors="replace").splitlines():
            try:
                out.append(json.loads(ln))
            except ValueError:
                pass
        return out


def persisted(acks):
    return [a.get("FragmentTimecode") for a in acks if a.get("EventType") == "PERSISTED"]


def ack_lines(path):
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for ln in text.splitlines():
        try:
            out.append(json.loads(ln))
        except ValueError:
            pass
    return out


def idle_server(binary, tmp):
    srv = e.Server(binary, os.path.join(tmp, "data-idle"))
    check(srv.url != "", "idle: server started (%s)" % srv.banner)
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        rc = None
    log = srv.log_text()
    check(rc == 0, "idle: SIGTERM, the server exits 0 (status %s)" % rc)
    check("shutdown: 0 uploads/GetMedia responses drained" in log,
          "idle: the log says the shutdown drained nothing")
    srv.stop()


def second_signal(binary, tmp):
    """A drain held open by a connection with half a request head; a second SIGTERM ends the
    server at once with status 1."""
    srv = e.Server(binary, os.path.join(tmp, "data-second"), ["--shutdown-timeout", str(WAIT)],
                   log=os.path.join(tmp, "second-signal.log"))
    half = None
    try:
        half = socket.create_connection(host_port(srv.url))
        half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        srv.proc.send_signal(signal.SIGTERM)
        check(wait_for(lambda: "shutdown: listener closed" in srv.log_text()) is True,
              "second signal: the drain started")
        check(srv.proc.poll() is None, "second signal: the drain waits for the half request")
        srv.proc.send_signal(signal.SIGTERM)
        try:
            rc = srv.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 1 and "second signal: exiting" in srv.log_text(),
              "second signal: a second SIGTERM during the drain exits at once, status 1 (%s)" % rc)
    finally:
        if half is not None:
            half.close()
        srv.stop()


def start_h1_upload(url, stream):
    """A PutMedia over HTTP/1.1 chunked from a plain socket: (socket, response reader)."""
    host, port = host_port(url)
    sock = socket.create_connection((host, port))
    sock.sendall(("POST /putMedia HTTP/1.1\r\nHost: %s:%d\r\nx-amzn-stream-name: %s\r\n"
                  "x-amzn-fragment-timecode-type: ABSOLUTE\r\n"
                  "x-amzn-producer-start-timestamp: %d.000\r\n"
                  "x-amzn-fragment-acknowledgment-required: 1\r\n"
                  "Content-Type: application/octet-stream\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n"
                  % (host, port, stream, e.START_MS // 1000)).encode())
    return sock, H1Response(sock)


def send_chunk(sock, piece):
    sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")


def list_fragments(url, stream, tmp):
    st, _, doc = e.curl_json(url, "/listFragments", {"StreamName": stream}, tmp)
    frs = sorted((doc or {}).get("Fragments", []), key=lambda f: f.get("FragmentNumber", ""))
    return st, [f.get("FragmentNumber") for f in frs]


def stalled_timeout(binary, tmp, up, sent, want_tcs):
    """--shutdown-timeout 1 against an upload stalled in the middle of fragment 2."""
    data_dir = os.path.join(tmp, "data-stalled")
    srv = e.Server(binary, data_dir, ["--no-auth", "--shutdown-timeout", "1"],
                   log=os.path.join(tmp, "stalled.log"))
    sock = None
    try:
        st, _, _ = e.curl_json(srv.url, "/createStream", {"StreamName": "stalled"}, tmp)
        check(st == 200, "stalled: createStream")
        sock, r = start_h1_upload(srv.url, "stalled")
        for piece in sent:
            send_chunk(sock, piece)
        check(wait_for(lambda: r.pump() or persisted(r.acks()) == want_tcs[:2], step=0) is True,
              "stalled: fragments 0 and 1 PERSISTED, fragment 2 in progress and stalled")
        srv.proc.send_signal(signal.SIGTERM)
        try:
            rc = srv.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            rc = None
        log = srv.log_text()
        check(rc == 0 and re.search(r"shutdown: timed out after \d+ ms with 1 open", log),
              "stalled: --shutdown-timeout 1 ends the wait: 'timed out ... with 1 open' logged, "
              "status 0 (%s)" % rc)
        wait_for(lambda: r.pump() or r.eof, step=0)
        acks = r.acks()
        check(r.eof and not r.terminated and persisted(acks) == want_tcs[:2]
              and not [a for a in acks if a.get("FragmentTimecode") == want_tcs[2]
                       and a.get("EventType") in ("RECEIVED", "PERSISTED")],
              "stalled: the upload is cut without RECEIVED/PERSISTED for the unfinished "
              "fragment 2 (the producer re-sends it)")
        nums = [a.get("FragmentNumber") for a in acks if a.get("EventType") == "PERSISTED"]
    finally:
        if sock is not None:
            sock.close()
        srv.stop()
    srv = e.Server(binary, data_dir, ["--no-auth"], log=os.path.join(tmp, "stalled-2.log"))
    try:
        st, listed = list_fragments(srv.url, "stalled", tmp)
        check(st == 200 and listed == nums and len(nums) == 2,
              "stalled: after a restart exactly the 2 acked fragments are listed (%s)" % listed)
    finally:
        check(srv.stop() == 0, "stalled: restarted server exits 0 on SIGTERM")


def tls_upload(binary, tmp, up, sent, rest, want_tcs, version):
    """HTTPS (`--http1.1` or ALPN h2): an upload stopped mid-fragment is drained by SIGTERM, the
    producer sends the rest, stops once the last PERSISTED ack is in, curl ends without error,
    the server exits 0 (TLS close_notify and the lingering close on the way)."""
    what = "TLS %s upload" % version
    cert, key = e.make_cert(tmp)
    srv = e.Server(binary, os.path.join(tmp, "data-tls-" + version),
                   ["--no-auth", "--shutdown-timeout", str(WAIT), "--tls-cert", cert,
                    "--tls-key", key], log=os.path.join(tmp, "tls-%s.log" % version))
    args = ["--cacert", cert, "--http1.1" if version == "h1" else "--http2"]
    put = wfd = None
    try:
        st, _, _ = e.curl_json(srv.url, "/createStream", {"StreamName": "tls"}, tmp, args)
        check(st == 200, "%s: createStream" % what)
        acks = os.path.join(tmp, "acks-tls-%s.txt" % version)
        rfd, wfd = e.pipe_with(b"".join(sent))
        put = subprocess.Popen([e.CURL, "-sS", "-N", "-o", acks, "-X", "POST", "-H",
                                "x-amzn-stream-name: tls"] + args + e.PUT_HEADERS
                               + (["-H", "Transfer-Encoding: chunked"] if version == "h1" else [])
                               + ["-T", ".", srv.url + "/putMedia"],
                               stdin=rfd, stderr=subprocess.PIPE)
        os.close(rfd)
        check(wait_for(lambda: persisted(ack_lines(acks)) == want_tcs[:2]) is True,
              "%s: fragments 0 and 1 PERSISTED before SIGTERM" % what)
        srv.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "shutdown: listener closed" in srv.log_text())
        os.write(wfd, rest)
        wait_for(lambda: persisted(ack_lines(acks)) == want_tcs
                 or any(a.get("EventType") == "ERROR" for a in ack_lines(acks)), step=0.01)
        os.close(wfd)
        wfd = None
        try:
            put.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            put.kill()
            put.wait()
        err = put.stderr.read().decode(errors="replace").strip()
        check(put.returncode == 0, "%s: curl ends without error (exit %s%s)"
              % (what, put.returncode, (" " + err[-200:]) if put.returncode else ""))
        with open(acks, errors="replace") as f:
            e.check_acks(f.read(), want_tcs, what + " drained by SIGTERM")
        try:
            rc = srv.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "%s: the server exits 0 after the drain (status %s)" % (what, rc))
    finally:
        if wfd is not None:
            os.close(wfd)
        if put is not None and put.poll() is None:
            put.kill()
            put.wait()
        srv.stop()


def main():
    miss = e.missing_tools(e.CURL, e.GST, e.FFPROBE)
    if miss:
        print("skip: missing " + " ".join(miss))
        return 77
    binary, dump = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="cs-shutdown-")
    path = os.path.join(tmp, "ball.mkv")
    data = e.make_mkv(path)
    if data is None:
        print("skip: GStreamer (videotestsrc, x264enc, matroskamux) could not make the video")
        return 77
    up = e.Upload(path, data, dump)
    check(up.reader_ok and len(up.ranges) == 5, "the GStreamer MKV has 5 Clusters")

    # Before SIGTERM each upload sends the stream header, Clusters 0 and 1, and Cluster 2 up to
    # its block `cut`: the HTTP/1.1 upload stops in the middle of that block, the h2c one just
    # before it. After SIGTERM each sends the rest of the file (Clusters 3 and 4 included)
    # without ending its body: the server must read up to Cluster 3 and no further.
    header = data[:up.ranges[0][0]]
    c2s, c2e = up.ranges[2]
    bl = blocks(data, c2s, c2e)
    cut = len(bl) // 2
    check(cut >= 2 and len(up.frames[2]) == len(bl),
          "Cluster 2 has %d blocks; the uploads stop in the middle of block %d (HTTP/1.1) and "
          "before it (h2c)" % (len(bl), cut))
    mid = (bl[cut][0] + bl[cut][1]) // 2
    sent1 = [header + up.cluster_bytes[0], up.cluster_bytes[1], data[c2s:mid]]
    rest1 = data[mid:]
    sent2 = [header + up.cluster_bytes[0], up.cluster_bytes[1], data[c2s:bl[cut][0]]]
    rest2 = data[bl[cut][0]:]
    want_tcs = up.timecodes[:3]

    idle_server(binary, tmp)
    second_signal(binary, tmp)
    stalled_timeout(binary, tmp, up, sent1, want_tcs)

    data_dir = os.path.join(tmp, "data")
    extra = ["--no-auth", "--shutdown-timeout", str(WAIT)]
    srv = e.Server(binary, data_dir, extra, log=os.path.join(tmp, "server-1.log"))
    socks = []
    gm = put2 = wfd = None
    nums1 = nums2 = []
    try:
        url = srv.url
        host, port = host_port(url)
        for name in ("drain1", "drain2"):
            st, _, _ = e.curl_json(url, "/createStream", {"StreamName": name}, tmp)
            check(st == 200, "createStream %s" % name)

        # A live GetMedia on drain1, from the start (HTTP/1.1, chunked).
        gm_path = os.path.join(tmp, "gm-live.mkv")
        gm = subprocess.Popen([e.CURL, "-sS", "-N", "--max-time", str(3 * WAIT), "-o", gm_path,
                               "-w", "%{http_code} %{http_version}", "-H",
                               "Content-Type: application/json", "--data-binary",
                               '{"StreamName":"drain1","StartSelector":{"StartSelectorType":'
                               '"EARLIEST"}}', url + "/getMedia"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        # Upload 1: HTTP/1.1 chunked from a socket.
        u1, r1 = start_h1_upload(url, "drain1")
        socks.append(u1)
        for piece in sent1:
            send_chunk(u1, piece)

        # Upload 2: h2c, curl -T . from a pipe (non-blocking stdin: acks are read meanwhile).
        acks2 = os.path.join(tmp, "acks-h2.txt")
        rfd, wfd = e.pipe_with(b"".join(sent2))
        put2 = subprocess.Popen([e.CURL, "-sS", "-N", "--http2-prior-knowledge", "-o", acks2,
                                 "-X", "POST", "-H", "x-amzn-stream-name: drain2"]
                                + e.PUT_HEADERS + ["-T", ".", url + "/putMedia"],
                                stdin=rfd, stderr=subprocess.PIPE)
        os.close(rfd)

        # Both have fragments 0 and 1 persisted, fragment 2 in progress.
        def two_persisted():
            r1.pump()
            return (persisted(r1.acks()) == want_tcs[:2]
                    and persisted(ack_lines(acks2)) == want_tcs[:2])
        check(wait_for(two_persisted, step=0), "before SIGTERM: fragments 0 and 1 acked "
              "PERSISTED on both uploads, fragment 2 in progress (h1 %s, h2 %s)"
              % (persisted(r1.acks()), persisted(ack_lines(acks2))))
        check(gm.poll() is None, "before SIGTERM: the live GetMedia is open")

        # An idle keep-alive connection, and one with half a request head.
        ka = socket.create_connection((host, port))
        socks.append(ka)
        ka.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        rk = H1Response(ka)
        wait_for(lambda: rk.pump() or rk.status is not None or rk.eof, step=0)
        clen = int(rk.headers.get("content-length", "0"))
        wait_for(lambda: rk.pump() or rk.eof or len(rk.raw) >= (rk._pos or 0) + clen, step=0)
        check(rk.status == 200 and clen > 0 and len(rk.raw) == rk._pos + clen and not rk.eof,
              "keep-alive connection: GET /metrics answered, connection kept")
        half = socket.create_connection((host, port))
        socks.append(half)
        half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")

        # --- SIGTERM ---
        srv.proc.send_signal(signal.SIGTERM)
        check(wait_for(lambda: "shutdown: listener closed" in srv.log_text()) is True,
              "the server logs that it closed its listener")

        # New connections are refused while the server still runs (the half request keeps it).
        alive_before = srv.proc.poll() is None
        try:
            x = socket.create_connection((host, port), timeout=5)
            x.close()
            refused = False
        except OSError as ex:
            refused = ex.errno == errno.ECONNREFUSED
        check(alive_before and srv.proc.poll() is None and refused,
              "during the drain, with the server running, a new connection is refused")

        # The half-sent request, completed now: 503 and connection: close.
        half.sendall(b"\r\n")
        rh = H1Response(half)
        wait_for(lambda: rh.pump() or rh.eof, step=0)
        check(rh.eof, "...and the server closes that connection after the 503")
        check(rh.status == 503 and rh.headers.get("connection") == "close",
              "a request completed during the drain gets 503, connection: close (%s %s)"
              % (rh.status, rh.headers.get("connection")))

        # The producers go on: the rest of the video, bodies not ended.
        send_chunk(u1, rest1)
        os.write(wfd, rest2)

        # Upload 1: fragments 0..2 PERSISTED, nothing for 3, then the chunked terminator.
        wait_for(lambda: r1.pump() or r1.terminated or r1.eof, step=0)
        check(r1.status == 200 and r1.terminated,
              "h1 upload: the response ends with the chunked terminator (status %s)" % r1.status)
        nums1 = e.check_acks(r1.body.decode(errors="replace"), want_tcs,
                             "h1 upload drained by SIGTERM")
        # The producer stops (it got the end of the response); the server closes after it.
        u1.shutdown(socket.SHUT_WR)
        wait_for(lambda: r1.pump() or r1.eof, step=0)
        check(r1.eof, "h1 upload: the server closes the connection")

        # Upload 2 (h2c): the same acks; once they are in, the producer stops and curl ends.
        def h2_done():
            a = ack_lines(acks2)
            return persisted(a) == want_tcs or any(x.get("EventType") == "ERROR" for x in a)
        wait_for(h2_done, step=0.01)
        os.close(wfd)
        wfd = None
        try:
            put2.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            put2.kill()
            put2.wait()
        err2 = put2.stderr.read().decode(errors="replace").strip()
        check(put2.returncode == 0, "h2 upload: curl ends without error (exit %s%s)"
              % (put2.returncode, (" " + err2[-200:]) if put2.returncode else ""))
        with open(acks2, errors="replace") as f:
            nums2 = e.check_acks(f.read(), want_tcs, "h2 upload drained by SIGTERM")

        # The live GetMedia ends cleanly, after fragment 2.
        try:
            out, gerr = gm.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            gm.kill()
            out, gerr = gm.communicate()
        out = out.decode().split()
        check(gm.returncode == 0 and out == ["200", "1.1"],
              "live GetMedia: the response ends cleanly (curl exit %s, %s %s)"
              % (gm.returncode, out, gerr.decode(errors="replace").strip()[-200:]))
        e.check_readback(up, dump, gm_path, [0, 1, 2], nums1, "live GetMedia ended by the drain")

        # The idle keep-alive connection was closed by the server.
        wait_for(lambda: rk.pump() or rk.eof, step=0)
        check(rk.eof, "the idle keep-alive connection is closed by the server")

        for s in socks:
            s.close()
        socks = []
        try:
            rc = srv.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            rc = None
        log = srv.log_text()
        check(rc == 0, "the server exits 0 after the drain (status %s)" % rc)
        m = re.search(r"shutdown: (\d+) uploads/GetMedia responses drained in (\d+) ms", log)
        check(m is not None and int(m.group(1)) == 3,
              "the log says what was drained (%s)" % (m.group(0) if m else "no line"))
        check("timed out" not in log, "the drain did not time out")
    finally:
        for s in socks:
            s.close()
        if wfd is not None:
            os.close(wfd)
        for p in (gm, put2):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        srv.stop()

    # --- Restart on the same data directory: every acked fragment is there, as acked. ---
    srv = e.Server(binary, data_dir, extra, log=os.path.join(tmp, "server-2.log"))
    try:
        url = srv.url
        for name, nums in (("drain1", nums1), ("drain2", nums2)):
            st, listed = list_fragments(url, name, tmp)
            check(st == 200 and listed == nums and len(nums) == 3,
                  "restart: listFragments %s lists exactly the 3 acked fragments" % name)
            out = os.path.join(tmp, "gmffl-%s.mkv" % name)
            st, _, _ = e.curl(url, "/getMediaForFragmentList",
                              ["-H", "Content-Type: application/json", "--data-binary",
                               json.dumps({"StreamName": name, "Fragments": nums})], out)
            check(st == 200, "restart: getMediaForFragmentList %s -> %d" % (name, st))
            e.check_readback(up, dump, out, [0, 1, 2], nums,
                             "restart: getMediaForFragmentList %s" % name)
    finally:
        check(srv.stop() == 0, "restarted server exits 0 on SIGTERM")

    # --- HTTPS: the same drain with TLS close_notify and the lingering close. ---
    if e.missing_tools(e.OPENSSL):
        note("no openssl: the TLS uploads are not drained")
    else:
        for version in ("h1", "h2"):
            tls_upload(binary, tmp, up, sent2, rest2, want_tcs, version)
    e.rmtree_if_ok(tmp)
    return e.finish()


if __name__ == "__main__":
    sys.exit(main())
