# SPDX-License-Identifier: Apache-2.0
"""The consumer SDK's client (include/camstream/consumer.h) against the real camstream-ingest:
a GStreamer MKV is uploaded with curl (signed), then read back through cs_consume (a small
program over cs_consumer_*), SigV4-signed, through a loopback proxy that cuts the GetMedia
connection in the middle of fragments. Every frame must come out exactly once, in order,
byte-identical (SHA-256 per frame) to what camstream's MKV reader sees in the uploaded file, and
the client must report the reconnects and the frames it did not deliver twice. Also: a fragment
list with a cut, CONTINUATION_TOKEN and FRAGMENT_NUMBER starts, and the errors for an unknown
stream and a wrong secret. With the camstreamsrc plugin directory as a 4th argument: the
GStreamer source, its GetMedia connection cut twice mid-fragment by the proxy, writes the stream as
one Matroska file whose frames (camstream's reader and ffprobe) equal the upload's, and decodes it to 150 pictures through matroskademux and avdec_h264.

usage: consumer_client.py CAMSTREAM_INGEST GETMEDIA_MKVDUMP CS_CONSUME [GST_PLUGIN_DIR]"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e2e  # noqa: E402


class CuttingProxy:
    """Forwards 127.0.0.1:port to the server; each connection whose server->client bytes reach
    the next threshold in `cuts` is closed there (both sides), and that threshold is used up."""

    def __init__(self, target_port, cuts):
        self.target = target_port
        self.cuts = list(cuts)
        self.done_cuts = 0
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(c, s, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, True), daemon=True).start()

    def _pump(self, src, dst, to_client):
        sent = 0
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if to_client:
                    with self.lock:
                        limit = self.cuts[0] if self.cuts else None
                    if limit is not None and sent + len(data) >= limit:
                        dst.sendall(data[:limit - sent])
                        with self.lock:
                            if self.cuts and self.cuts[0] == limit:
                                self.cuts.pop(0)
                                self.done_cuts += 1
                        break
                    sent += len(data)
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def consume(tool, endpoint, stream, args, env_extra=None, meta=None):
    """Runs cs_consume; `meta` (a dict), when given, gets per fragment number its
    (producer ms, server ms, tag count) under "start" and (millis behind now, continuation token)
    under "end" (-1 / "-" when the server did not send them)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK)
    env.update(env_extra or {})
    p = subprocess.run([tool, "--endpoint", endpoint, "--stream", stream, "--region", e2e.REGION,
                        "--timeout", "20"] + args, capture_output=True, text=True, env=env,
                       timeout=120)
    frames, starts, ends, stats, other = [], [], [], {}, []
    for line in p.stdout.splitlines():
        f = line.split(" ")
        if f[0] == "frame":
            # (track, timecode ms, key, size, sha) as getmedia_mkvdump prints them
            frames.append((int(f[3]), int(f[4]) // 1000000, int(f[5]), int(f[6]), f[7]))
        elif f[0] == "start":
            starts.append(f[1])
            if meta is not None and len(f) >= 5:
                meta.setdefault("start", {})[f[1]] = (int(f[2]), int(f[3]), int(f[4]))
        elif f[0] == "end":
            ends.append((f[1], f[2]))
            if meta is not None and len(f) >= 5:
                meta.setdefault("end", {})[f[1]] = (int(f[3]), f[4])
        elif f[0] == "stats":
            stats = dict(kv.split("=") for kv in f[1:])
        else:
            other.append(line)
    if p.returncode != 0 or p.stderr.strip():
        print("# cs_consume rc=%d %s %s" % (p.returncode, other, p.stderr.strip()[-400:]))
    return p.returncode, frames, starts, ends, stats, other


def gst_src(plugin_dir, url, up, dump, tmp, proxy):
    env = dict(os.environ, GST_PLUGIN_PATH=plugin_dir,
               GST_REGISTRY=os.path.join(tmp, "gst-registry.bin"))
    # A sanitizer build's plugin inside gst-launch (not built with ASan): the runtime must come
    # first, plugins are scanned in-process, and GStreamer's own allocations are not ours.
    ldd = subprocess.run(["ldd", os.path.join(plugin_dir, "libgstcamstreamsrc.so")],
                         capture_output=True, text=True).stdout
    asan = [ln.split("=>")[1].split()[0] for ln in ldd.splitlines() if "libasan" in ln]
    if asan:
        env["LD_PRELOAD"] = asan[0]
        # last wins: CI runs with ASAN_OPTIONS=detect_leaks=1
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        env["GST_REGISTRY_FORK"] = "no"
    src = ("camstreamsrc endpoint=%s stream-name=cons start-selector=earliest follow=false "
           "region=%s access-key=%s secret-key=%s" % (url, e2e.REGION, e2e.AK, e2e.SK))
    out = os.path.join(tmp, "src.mkv")
    # GetMedia goes through the cutting proxy (the server's getDataEndpoint names it): two cuts
    # in the middle of fragments, which the source must ride out by resuming after the last
    # fragment it finished (continuation token), skipping the frames it already passed on.
    total = sum(len(b) for b in up.cluster_bytes)
    proxy.done_cuts = 0
    proxy.cuts = [total // 3, total // 3]
    p = subprocess.run([e2e.GST, "-q"] + src.split(" ") + ["!", "filesink", "location=" + out],
                       capture_output=True, text=True, env=env, timeout=120)
    if not e2e.check(p.returncode == 0, "camstreamsrc ! filesink: exit 0 %s"
                     % p.stderr.strip()[-300:]):
        return
    e2e.check(proxy.done_cuts == 2, "camstreamsrc: the proxy cut its GetMedia connection twice "
              "mid-fragment (%d)" % proxy.done_cuts)
    ok, segs = e2e.reader_view(dump, out)
    want = up.reader_frames(range(len(up.timecodes)))
    e2e.check(ok and len(segs) == 1 and segs[0]["clusters"] == up.timecodes
              and segs[0]["frames"] == want,
              "camstreamsrc through the cuts: one Segment, the %d clusters, %d frames identical "
              "to the upload, no gap, no duplicate (camstream reader)"
              % (len(up.timecodes), len(want)))
    e2e.check(e2e.ffprobe_view(out) == up.packets,
              "camstreamsrc through the cuts: ffprobe sees the upload's %d packets (pts, key, "
              "size, SHA-256)" % len(up.packets))
    def from_fragment(name, props, first, what):
        """camstreamsrc with `props` instead of start-selector=earliest: one Segment holding
        the clusters and frames from fragment index `first` on."""
        path = os.path.join(tmp, "src-%s.mkv" % name)
        pipe = src.replace("start-selector=earliest", props)
        p = subprocess.run([e2e.GST, "-q"] + pipe.split(" ") + ["!", "filesink",
                                                                "location=" + path],
                           capture_output=True, text=True, env=env, timeout=120)
        ok, segs = e2e.reader_view(dump, path) if p.returncode == 0 else (False, [])
        e2e.check(ok and len(segs) == 1 and segs[0]["clusters"] == up.timecodes[first:] and
                  segs[0]["frames"] == up.reader_frames(range(first, len(up.timecodes))),
                  "camstreamsrc %s, frames identical %s" % (what, p.stderr.strip()[-200:]))

    # From a timestamp: producer-timestamp START + 2 s is the third fragment.
    from_fragment("ts", "start-selector=producer-timestamp start-timestamp=%d"
                  % (e2e.START_MS + 2000), 2,
                  "start-selector=producer-timestamp: from the third fragment on")
    # Resuming with the producer timestamp of what an earlier reader processed (the third
    # fragment's): from EARLIEST, the first three fragments are skipped.
    from_fragment("resume", "start-selector=earliest resume-producer-ms=%d" % up.timecodes[2], 3,
                  "resume-producer-ms=<third fragment's>: from the fourth fragment on")
    y4m = os.path.join(tmp, "src.y4m")
    p = subprocess.run([e2e.GST, "-q"] + src.split(" ") + [
        "!", "matroskademux", "!", "h264parse", "!", "avdec_h264", "!", "y4menc", "!",
        "filesink", "location=" + y4m], capture_output=True, text=True, env=env, timeout=120)
    pictures = 0
    if p.returncode == 0:
        with open(y4m, "rb") as f:
            pictures = f.read().count(b"FRAME\n")
    e2e.check(p.returncode == 0 and pictures == len(want),
              "camstreamsrc ! matroskademux ! h264parse ! avdec_h264: %d pictures decoded (%d) %s"
              % (pictures, len(want), p.stderr.strip()[-300:]))


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    server_bin, dump, tool = sys.argv[1:4]
    plugin_dir = sys.argv[4] if len(sys.argv) == 5 else None
    missing = e2e.missing_tools(e2e.CURL, e2e.GST, e2e.FFPROBE)
    if missing:
        print("SKIP: missing " + " ".join(missing))
        return 77
    tmp = tempfile.mkdtemp(prefix="cs-consumer-")
    data = e2e.make_mkv(os.path.join(tmp, "in.mkv"))
    if data is None:
        print("SKIP: GStreamer could not make the test video")
        return 77
    up = e2e.Upload(os.path.join(tmp, "in.mkv"), data, dump)
    e2e.check(up.reader_ok and len(up.timecodes) >= 4, "the upload has %d clusters"
              % len(up.timecodes))

    # The server answers getDataEndpoint with the proxy's URL, so GetMedia goes through it.
    # Two cuts on GetMedia responses, each a third of the way into what is left to send.
    total = sum(len(b) for b in up.cluster_bytes)
    proxy = CuttingProxy(None, [total // 3, total // 3])
    srv = e2e.Server(server_bin, os.path.join(tmp, "data"),
                     ["--getmedia-idle-seconds", "1", "--public-url",
                      "http://127.0.0.1:%d" % proxy.port])
    if not e2e.check(srv.url != "", "server up: " + srv.banner):
        return e2e.finish()
    proxy.target = int(srv.url.rsplit(":", 1)[1])
    try:
        status, _, doc = e2e.curl_json(srv.url, "/createStream",
                                       {"StreamName": "cons", "DataRetentionInHours": 1}, tmp)
        e2e.check(status == 200, "createStream: HTTP %d" % status)
        t_put = time.time() * 1000
        status, _, acks, _ = e2e.put_media(srv.url, "cons", up, tmp)
        t_done = time.time() * 1000
        nums = e2e.check_acks(acks, up.timecodes, "upload")
        want = up.reader_frames(range(len(up.timecodes)))

        # 1. GetMedia EARLIEST through the cutting proxy.
        meta = {}
        rc, frames, starts, ends, stats, _ = consume(
            tool, "http://127.0.0.1:%d" % proxy.port, "cons", ["--start", "EARLIEST",
                                                               "--no-follow"], meta=meta)
        e2e.check(rc == 0, "getMedia through cuts: cs_consume exit 0")
        e2e.check(proxy.done_cuts == 2, "the proxy cut 2 GetMedia connections (%d)"
                  % proxy.done_cuts)
        e2e.check(frames == want, "getMedia: %d frames exactly once, in order, identical to the "
                  "upload's %d (track, timecode, key, size, SHA-256)" % (len(frames), len(want)))
        e2e.check(starts == nums and [n for n, _ in ends] == nums,
                  "getMedia: one start and one end per fragment, in fragment-number order")
        e2e.check(int(stats.get("reconnects", 0)) >= 2 and int(stats.get("skipped", 0)) > 0,
                  "getMedia: the client reconnected (%s) and did not deliver re-sent frames "
                  "twice (%s skipped)" % (stats.get("reconnects"), stats.get("skipped")))

        # Per-fragment events: the producer's timestamp (the cluster timecode it sent), the
        # server's (when it received it), millis behind now and the continuation token.
        st = [meta.get("start", {}).get(n, (0, 0, 0)) for n in nums]
        en = [meta.get("end", {}).get(n, (-1, "-")) for n in nums]
        e2e.check([s_[0] for s_ in st] == up.timecodes,
                  "getMedia events: each fragment's producer timestamp is its cluster timecode")
        e2e.check(all(t_put - 1000 <= s_[1] <= t_done + 1000 for s_ in st),
                  "getMedia events: server timestamps within the upload's time (%s)"
                  % [s_[1] for s_ in st][:2])
        e2e.check(all(e[0] >= 0 for e in en) and [e[1] for e in en] == nums,
                  "getMedia events: millis behind now (%s) and a continuation token (its "
                  "fragment number) at every fragment's end" % [e[0] for e in en])

        # 1b. PRODUCER_TIMESTAMP start: from the fragment at START_MS + 2 s on.
        rc, frames, starts, _, _, _ = consume(
            tool, srv.url, "cons", ["--start", "PRODUCER_TIMESTAMP:%d" % (e2e.START_MS + 2000),
                                    "--no-follow"])
        e2e.check(rc == 0 and starts == nums[2:] and frames == up.reader_frames(
            range(2, len(nums))), "PRODUCER_TIMESTAMP: starts at the fragment of that time (%s)"
            % starts[:1])

        # 1c. SERVER_TIMESTAMP start: "the chunk containing the fragment that has the specified
        # timestamp" (KVS GetMedia): a fragment whose server time span (received at, 1 s long
        # here) contains it, then the rest in order. The upload is fast, so spans overlap.
        srv_ms = [s_[1] for s_ in st]
        for at in (srv_ms[-1], srv_ms[-1] + 500):
            rc, frames, starts, _, _, _ = consume(
                tool, srv.url, "cons", ["--start", "SERVER_TIMESTAMP:%d" % at, "--no-follow"])
            first = nums.index(starts[0]) if starts and starts[0] in nums else -1
            e2e.check(rc == 0 and first >= 0 and starts == nums[first:] and
                      srv_ms[first] <= at < srv_ms[first] + 1000,
                      "SERVER_TIMESTAMP %d: from fragment %d (received at %s), the rest in order"
                      % (at, first + 1, srv_ms[first] if first >= 0 else None))

        # 2. A fragment list, cut once.
        proxy.cuts = [total // 2]
        rc, frames, starts, _, stats, _ = consume(
            tool, "http://127.0.0.1:%d" % proxy.port, "cons", ["--fragments", ",".join(nums)])
        e2e.check(rc == 0 and frames == want and starts == nums,
                  "getMediaForFragmentList through a cut: %d frames exactly once, identical"
                  % len(frames))

        # 3. Start selectors, straight to the server.
        rc, frames, starts, _, _, _ = consume(
            tool, srv.url, "cons", ["--start", "CONTINUATION_TOKEN:" + nums[1], "--no-follow"])
        e2e.check(rc == 0 and starts == nums[2:] and frames == up.reader_frames(
            range(2, len(nums))), "CONTINUATION_TOKEN: resumes after fragment 2 (%d frames)"
            % len(frames))
        rc, frames, starts, _, _, _ = consume(
            tool, srv.url, "cons", ["--start", "FRAGMENT_NUMBER:" + nums[1], "--no-follow"])
        e2e.check(rc == 0 and starts == nums[1:], "FRAGMENT_NUMBER: starts at fragment 2")

        # 4. Errors.
        rc, _, _, _, _, other = consume(tool, srv.url, "no-such-stream", ["--no-follow"])
        e2e.check(rc == 1 and other[:1] == ["open-failed CS_E_NOTFOUND"],
                  "an unknown stream: CS_E_NOTFOUND (%s)" % other[:1])
        rc, _, _, _, _, other = consume(tool, srv.url, "cons", ["--no-follow"],
                                        {"AWS_SECRET_ACCESS_KEY": "wrong"})
        e2e.check(rc == 1 and other[:1] == ["open-failed CS_E_AUTH"],
                  "a wrong secret: CS_E_AUTH (%s)" % other[:1])
        # 5. camstreamsrc.
        if plugin_dir is not None:
            gst_src(plugin_dir, srv.url, up, dump, tmp, proxy)
    finally:
        srv.stop()
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


if __name__ == "__main__":
    sys.exit(main())
