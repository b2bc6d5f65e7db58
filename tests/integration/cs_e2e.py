# SPDX-License-Identifier: Apache-2.0
"""Shared parts of the end-to-end tests (tests/integration/putmedia_curl.py, putmedia_idle.py,
cli.py, consumer_client.py, tests/compat/kvs_putmedia_roundtrip.py; keep changes compatible):
the real camstream-ingest on a loopback port, a GStreamer MKV made the way KVS producers make
theirs, signed curl requests (curl's own --aws-sigv4), PutMedia ack checks, and frame-by-frame
comparison of what was uploaded with what is read back.

Frames are compared through three independent views:
- raw bytes: every uploaded Cluster element appears verbatim, in the expected order, in the
  read-back bytes (the server stores and returns the Cluster exactly as uploaded);
- camstream's own MKV reader (getmedia_mkvdump): per segment, per frame (track, timecode, key,
  size, SHA-256 of the payload);
- ffprobe (-show_packets -show_data_hash SHA256): per packet (pts, key flag, size, SHA-256).
"""
import json
import os
import shutil
import signal
import subprocess
import sys

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-west-2"
SIGV4 = "aws:amz:%s:kinesisvideo" % REGION
CURL = "/usr/bin/curl"
GST = "/usr/bin/gst-launch-1.0"
FFPROBE = "/usr/bin/ffprobe"
OPENSSL = "/usr/bin/openssl"
# Producer timestamps of the test video: 2023-11-14T22:13:20Z, as a KVS producer's ABSOLUTE
# cluster timecodes (epoch milliseconds, TimecodeScale 1 ms).
START_MS = 1700000000000
FRAMES = 150  # 5 s at 30 fps, a key frame every 30: 5 fragments

failures = []


def check(cond, what):
    """Prints ok/FAIL with `what`; a failure is counted, the test goes on."""
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def note(what):
    print("note " + what, flush=True)


def missing_tools(*tools):
    """The tools (absolute paths) that are not executable."""
    return [t for t in tools if not os.access(t, os.X_OK)]


# ------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------
class Server:
    """camstream-ingest on 127.0.0.1, port chosen by the system (read from the banner)."""

    def __init__(self, binary, data_dir, extra=(), log=None, preexec=None):
        self.log_path = log or data_dir + ".log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--access-key", AK,
             "--secret-key", SK, "--log-level", "debug"] + list(extra),
            stdout=subprocess.PIPE, stderr=self.log, text=True, preexec_fn=preexec)
        banner = self.proc.stdout.readline().strip()
        self.url = banner.rsplit(" ", 1)[-1] if banner.startswith(
            "camstream-ingest listening on ") else ""
        self.banner = banner

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        with open(self.log_path, errors="replace") as f:
            log = f.read()
        bad = [w for w in ("AddressSanitizer", "LeakSanitizer", "runtime error:") if w in log]
        check(not bad, "no sanitizer report in the server log %s" % (bad or ""))
        return rc

    def log_text(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()


def make_cert(tmp):
    """A throwaway self-signed certificate for 127.0.0.1: (cert, key) paths."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


# ------------------------------------------------------------------------------------------------
# The video
# ------------------------------------------------------------------------------------------------
def make_mkv(path, offset_ms=START_MS):
    """H.264 in a streamable MKV as a KVS producer sends it: no B-frames, baseline, avc/au, a
    key frame every 30 frames with scene-cut detection off, timestamps from `offset_ms` (absolute
    epoch milliseconds by default; 0 for a producer using RELATIVE timecodes).
    matroskamux (1.22) starts a Cluster at every video key frame, TimecodeScale 1 ms."""
    pipeline = (
        "videotestsrc num-buffers=%d is-live=false pattern=ball timestamp-offset=%d ! "
        "video/x-raw,width=320,height=240,framerate=30/1 ! "
        "x264enc bframes=0 key-int-max=30 option-string=scenecut=0 ! "
        "video/x-h264,stream-format=avc,alignment=au,profile=baseline ! h264parse ! "
        "matroskamux streamable=true ! filesink location=%s" % (FRAMES, offset_ms * 1000000, path))
    p = subprocess.run([GST, "-q"] + pipeline.split(" "), capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr)
        return None
    with open(path, "rb") as f:
        return f.read()


# Level-1 elements of a Segment (Matroska), and the level-0 ones.
LEVEL1 = {0x114D9B74, 0x1549A966, 0x1654AE6B, 0x1F43B675, 0x1C53BB6B, 0x1254C367, 0x1043A770,
          0x1941A469}
EBML_ID, SEGMENT_ID, CLUSTER_ID = 0x1A45DFA3, 0x18538067, 0x1F43B675


def _vint(d, pos, keep_marker):
    first = d[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(d):
        raise ValueError("bad EBML vint at %d" % pos)
    v = first if keep_marker else first & (0xFF >> length)
    for b in d[pos + 1:pos + length]:
        v = (v << 8) | b
    unknown = not keep_marker and v == (1 << (7 * length)) - 1
    return v, length, unknown


def clusters(d):
    """Byte ranges (start, end) of the Clusters of a producer's MKV (EBML header + one Segment),
    found by walking the elements (an unknown-size Cluster ends at the next level-1 element)."""
    out = []
    pos = 0
    while pos < len(d):
        eid, il, _ = _vint(d, pos, True)
        size, sl, unknown = _vint(d, pos + il, False)
        if eid == EBML_ID:
            pos += il + sl + size
            continue
        if eid == SEGMENT_ID:
            pos += il + sl
            continue
        start = pos
        pos += il + sl
        if not unknown:
            pos += size
        elif eid == CLUSTER_ID:
            while pos < len(d):
                cid, cl, _ = _vint(d, pos, True)
                if cid in LEVEL1 or cid in (EBML_ID, SEGMENT_ID):
                    break
                csize, csl, cunknown = _vint(d, pos + cl, False)
                if cunknown:
                    raise ValueError("unknown-size child in a Cluster at %d" % pos)
                pos += cl + csl + csize
        else:
            raise ValueError("unknown-size element %x at %d" % (eid, start))
        if eid == CLUSTER_ID:
            out.append((start, pos))
    return out


def verbatim_in_order(parts, blob):
    """True when every byte string of `parts` occurs in `blob`, each after the previous one."""
    at = 0
    for p in parts:
        i = blob.find(p, at)
        if i < 0:
            return False
        at = i + len(p)
    return True


def reader_view(dump, path):
    """camstream's MKV reader on a file: (ok, segments), each segment a dict with 'tags' (name ->
    value, in order), 'clusters' (timecodes) and 'frames' [(track, timecode, key, size, sha)]."""
    p = subprocess.run([dump, path], capture_output=True, text=True)
    segs = []
    for line in p.stdout.splitlines():
        f = line.split(" ")
        if f[0] == "SEGMENT":
            segs.append({"tags": {}, "tag_order": [], "clusters": [], "frames": []})
        elif not segs:
            continue
        elif f[0] == "TAG":
            segs[-1]["tags"][f[1]] = f[2] if len(f) > 2 else ""
            segs[-1]["tag_order"].append(f[1])
        elif f[0] == "CLUSTER":
            segs[-1]["clusters"].append(int(f[1]))
        elif f[0] == "FRAME":
            segs[-1]["frames"].append((int(f[1]), int(f[2]), int(f[3]), int(f[4]), f[5]))
    if p.returncode != 0:
        print("# getmedia_mkvdump %s: %s" % (path, p.stderr.strip()))
    return p.returncode == 0, segs


def ffprobe_view(path):
    """ffprobe's packets: [(pts, key, size, sha256)]."""
    p = subprocess.run([FFPROBE, "-v", "error", "-show_packets", "-show_data_hash", "SHA256",
                        "-show_entries", "packet=pts,flags,size,data_hash", "-of", "json", path],
                       capture_output=True, text=True)
    pk = json.loads(p.stdout or "{}").get("packets", [])
    return [(int(x["pts"]), 1 if x["flags"].startswith("K") else 0, int(x["size"]),
             x["data_hash"].split(":", 1)[-1].lower()) for x in pk]


class Upload:
    """What was uploaded: the file, its Clusters (bytes) and, per Cluster, its frames as the
    reader and ffprobe see them."""

    def __init__(self, path, data, dump):
        self.path = path
        self.data = data
        self.ranges = clusters(data)
        self.cluster_bytes = [data[a:b] for a, b in self.ranges]
        ok, segs = reader_view(dump, path)
        self.reader_ok = ok and len(segs) == 1
        seg = segs[0] if segs else {"clusters": [], "frames": []}
        self.timecodes = seg["clusters"]
        # Frames per cluster: a frame belongs to the last cluster whose timecode is <= its own
        # (no B-frames, so timecodes increase).
        self.frames = [[] for _ in self.timecodes]
        for fr in seg["frames"]:
            k = max(i for i, tc in enumerate(self.timecodes) if tc <= fr[1])
            self.frames[k].append(fr)
        self.packets = ffprobe_view(path)

    def reader_frames(self, order):
        return [fr for k in order for fr in self.frames[k]]

    def ffprobe_packets(self, order):
        """ffprobe's packets of the upload that belong to Clusters `order`, in that order."""
        out = []
        for k in order:
            want = {(fr[1], fr[4]) for fr in self.frames[k]}
            out += [p for p in self.packets if (p[0], p[3]) in want]
        return out


def check_readback(up, dump, path, order, numbers, what, base_ms=0):
    """Checks a GetMedia / getMediaForFragmentList body in `path` holds exactly the uploaded
    Clusters `order` (indexes), as fragments `numbers`, byte-identical, frame for frame; the
    producer timestamp of a fragment is `base_ms` + its Cluster timecode (0 for ABSOLUTE)."""
    with open(path, "rb") as f:
        blob = f.read()
    check(verbatim_in_order([up.cluster_bytes[k] for k in order], blob),
          "%s: the %d uploaded Clusters appear verbatim, in order (%d bytes)"
          % (what, len(order), len(blob)))
    ok, segs = reader_view(dump, path)
    check(ok and len(segs) == len(order),
          "%s: camstream reader: %d segments (%d expected)" % (what, len(segs), len(order)))
    got_numbers = [s["tags"].get("AWS_KINESISVIDEO_FRAGMENT_NUMBER") for s in segs]
    check(numbers is None or got_numbers == list(numbers),
          "%s: AWS_KINESISVIDEO_FRAGMENT_NUMBER tags are the expected fragments" % what)
    pts_ok = all(s["tags"].get("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP") == "%d.%03d" % (
        (base_ms + up.timecodes[k]) // 1000, (base_ms + up.timecodes[k]) % 1000)
        and s["clusters"] == [up.timecodes[k]] for s, k in zip(segs, order))
    check(pts_ok, "%s: one Cluster per segment, PRODUCER_TIMESTAMP = %sits timecode"
          % (what, "%d + " % base_ms if base_ms else ""))
    got = [fr for s in segs for fr in s["frames"]]
    want = up.reader_frames(order)
    check(got == want and len(want) > 0,
          "%s: camstream reader: %d frames (track, timecode, key, size, SHA-256) identical to "
          "the upload's %d" % (what, len(got), len(want)))
    pk = ffprobe_view(path)
    wantp = up.ffprobe_packets(order)
    check(pk == wantp and len(wantp) == len(want),
          "%s: ffprobe: %d packets (pts, key, size, SHA-256) identical to the upload's %d"
          % (what, len(pk), len(wantp)))


# ------------------------------------------------------------------------------------------------
# curl
# ------------------------------------------------------------------------------------------------
def curl(url, path, args, out, verbose_path=None, stdin=None, timeout=120):
    """A SigV4-signed curl request (curl's --aws-sigv4, service kinesisvideo); the body goes to
    `out`. Returns (http status, http version, stderr text)."""
    cmd = [CURL, "-sS", "-N", "--max-time", str(timeout), "--aws-sigv4", SIGV4, "--user",
           "%s:%s" % (AK, SK), "-o", out, "-w", "%{http_code} %{http_version}\n"]
    if verbose_path is not None:
        cmd.append("-v")
    p = subprocess.run(cmd + list(args) + [url + path], capture_output=True,
                       stdin=stdin, timeout=timeout + 30)
    err = p.stderr.decode(errors="replace")
    if verbose_path is not None:
        with open(verbose_path, "w") as f:
            f.write(err)
    w = p.stdout.decode().split()
    if p.returncode != 0:
        print("# curl exit %d: %s" % (p.returncode, err.strip()[-500:]))
    return (int(w[0]) if w else 0), (w[1] if len(w) > 1 else ""), err


def curl_json(url, path, body, tmp, args=()):
    """A control-plane style call: (status, version, parsed JSON body or None)."""
    out = os.path.join(tmp, "json.out")
    status, ver, _ = curl(url, path, ["-H", "Content-Type: application/json", "--data-binary",
                                      json.dumps(body)] + list(args), out)
    try:
        with open(out) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        doc = None
    return status, ver, doc


PUT_HEADERS = ["-H", "x-amzn-fragment-timecode-type: ABSOLUTE", "-H",
               "x-amzn-producer-start-timestamp: %d.000" % (START_MS // 1000), "-H",
               "x-amzn-fragment-acknowledgment-required: 1"]


def put_media(url, stream, up, tmp, args=(), chunked=True, stdin_body=False, tag="",
              headers=None):
    """POST /putMedia with curl -T: HTTP/1.1 chunked (`chunked`), or the body from stdin (length
    unknown, as an endless producer upload over HTTP/2); `headers` replaces PUT_HEADERS. Returns
    (status, version, acks text, curl -v text)."""
    out = os.path.join(tmp, "acks-%s%s.txt" % (stream, tag))
    verbose = os.path.join(tmp, "curl-put-%s%s.txt" % (stream, tag))
    a = ["-X", "POST", "-H", "x-amzn-stream-name: " + stream] + list(
        PUT_HEADERS if headers is None else headers) + list(args)
    if chunked:
        a += ["-H", "Transfer-Encoding: chunked"]
    if stdin_body:
        with open(up.path, "rb") as f:
            status, ver, err = curl(url, "/putMedia", a + ["-T", "-"], out, verbose, stdin=f)
    else:
        status, ver, err = curl(url, "/putMedia", a + ["-T", up.path], out, verbose)
    with open(out, errors="replace") as f:
        return status, ver, f.read(), err


def check_acks(text, timecodes, what):
    """Checks PutMedia acks: every line JSON; no ERROR; per fragment (by FragmentTimecode)
    BUFFERING < RECEIVED < PERSISTED; each kind in fragment order; PERSISTED numbers 47 digits and
    increasing; a FragmentNumber on BUFFERING/RECEIVED, when present, equals the PERSISTED one.
    IDLE keep-alives are allowed anywhere. Returns the PERSISTED fragment numbers in order."""
    acks = []
    bad = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            acks.append(json.loads(line))
        except ValueError:
            bad.append(line)
    check(not bad and acks, "%s: %d ack lines, all JSON %s" % (what, len(acks), bad[:2]))
    errors = [a for a in acks if a.get("EventType") == "ERROR"]
    check(not errors, "%s: no ERROR ack %s" % (what, errors[:2]))
    kinds = ("BUFFERING", "RECEIVED", "PERSISTED")
    idx = {}
    for i, a in enumerate(acks):
        t = a.get("EventType")
        if t in kinds:
            idx.setdefault(t, []).append((a.get("FragmentTimecode"), i, a))
    others = {a.get("EventType") for a in acks} - set(kinds) - {"IDLE", "ERROR"}
    check(not others, "%s: only BUFFERING/RECEIVED/PERSISTED/IDLE events %s" % (what, others))
    for t in kinds:
        got = [x[0] for x in idx.get(t, [])]
        check(got == timecodes, "%s: %s acks for the %d fragments, in order (timecodes %s)"
              % (what, t, len(timecodes), got))
    order = True
    for tc in timecodes:
        pos = [next((x[1] for x in idx.get(t, []) if x[0] == tc), None) for t in kinds]
        order = order and None not in pos and pos[0] < pos[1] < pos[2]
    check(order, "%s: BUFFERING < RECEIVED < PERSISTED for every fragment" % what)
    nums = [x[2].get("FragmentNumber", "") for x in idx.get("PERSISTED", [])]
    check(len(nums) == len(timecodes) and all(len(n) == 47 and n.isdigit() for n in nums)
          and nums == sorted(set(nums)), "%s: PERSISTED numbers: 47 digits, increasing" % what)
    by_tc = {x[0]: x[2].get("FragmentNumber") for x in idx.get("PERSISTED", [])}
    present = mismatch = 0
    for t in kinds[:2]:
        for tc, _, a in idx.get(t, []):
            if "FragmentNumber" in a:
                present += 1
                mismatch += a["FragmentNumber"] != by_tc.get(tc)
    check(mismatch == 0, "%s: FragmentNumber on BUFFERING/RECEIVED (present on %d of %d) equals "
          "the PERSISTED one" % (what, present, 2 * len(timecodes)))
    if present == 0:
        note("%s: BUFFERING/RECEIVED carry no FragmentNumber (allowed; expected once the server "
             "reserves numbers ahead)" % what)
    return nums


def pipe_with(first):
    """A pipe (read fd, write fd) already holding `first` (less than the pipe's 64 KiB): stdin for
    `curl -T .` (non-blocking stdin, so curl reads acks while the producer is silent)."""
    r, w = os.pipe()
    os.write(w, first)
    return r, w


def rmtree_if_ok(tmp):
    if failures:
        print("# files kept in " + tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def finish():
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit("a module for the end-to-end tests, not a test")
