# SPDX-License-Identifier: Apache-2.0
"""camstreamsink end to end against the real camstream-ingest on loopback.

Each pipeline tees the encoded stream: one branch into camstreamsink, the other into
multifilesink, which writes every buffer to its own file: the oracle is exactly the bytes the
sink was given, buffer for buffer. The stream is then read back with the consumer SDK
(cs_consume: SHA-256 per frame) and, for the first case, with camstreamsrc ! matroskademux !
avdec_h264. Checked: frame count, payload bytes (avc buffers as is; byte-stream access units
converted to 4-byte lengths with AUD NAL units dropped, as the SDK stores them), key flags,
timestamps (live: 1/30 s apart and near the wall clock; start-time: exactly start + PTS), both
tracks of audio+video, and that PLAYING -> NULL mid-stream and a server that is down never hang
(each pipeline runs under a timeout that only catches hangs).

usage: gst_sink.py CAMSTREAM_INGEST CS_CONSUME SINK_PLUGIN_DIR [SRC_PLUGIN_DIR]"""
import glob
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e2e  # noqa: E402
from consumer_client import consume  # noqa: E402

INSPECT = "/usr/bin/gst-inspect-1.0"
START_MS = 1700000000000
HANG = 120  # seconds: only a hang gets near this


def env_for(tmp, *dirs):
    env = dict(os.environ, GST_PLUGIN_PATH=":".join(d for d in dirs if d),
               GST_REGISTRY=os.path.join(tmp, "gst-registry.bin"))
    # A sanitizer build's plugin in gst-launch (not built with ASan): the runtime must come
    # first. GStreamer's own process-lifetime allocations are not ours to report: no leak check.
    ldd = subprocess.run(["ldd", os.path.join(dirs[0], "libgstcamstreamsink.so")],
                         capture_output=True, text=True).stdout
    asan = [ln.split("=>")[1].split()[0] for ln in ldd.splitlines() if "libasan" in ln]
    if asan:
        env["LD_PRELOAD"] = asan[0]
        # last wins: CI runs with ASAN_OPTIONS=detect_leaks=1
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        # Scan plugins in this process (the preloaded runtime), not in gst-plugin-scanner.
        env["GST_REGISTRY_FORK"] = "no"
    return env


def no_sanitizer_report(what, text):
    bad = [w for w in ("AddressSanitizer", "runtime error:") if w in text]
    e2e.check(not bad, "%s: no sanitizer report %s" % (what, bad or ""))


def have(env, *elements):
    return all(subprocess.run([INSPECT, e], env=env, capture_output=True).returncode == 0
               for e in elements)


def sink_args(url, name, extra=""):
    return ("camstreamsink name=s stream-name=%s endpoint=%s aws-region=%s access-key=%s "
            "secret-key=%s %s" % (name, url, e2e.REGION, e2e.AK, e2e.SK, extra)).split()


def launch(env, pipeline, timeout=HANG):
    p = subprocess.run([e2e.GST, "-m"] + pipeline, capture_output=True, text=True, env=env,
                       timeout=timeout)
    no_sanitizer_report("gst-launch", p.stderr)
    return p


def annexb_to_avcc(data, aud_type, h265):
    """What the SDK stores for an Annex-B access unit: NAL units with 4-byte lengths, AUDs
    dropped."""
    out, i, n = b"", 0, len(data)
    starts = []
    while i + 3 <= n:
        if data[i:i + 3] == b"\x00\x00\x01":
            starts.append(i + 3)
            i += 3
        else:
            i += 1
    for k, s in enumerate(starts):
        e = starts[k + 1] - 3 if k + 1 < len(starts) else n
        nal = data[s:e]
        while k + 1 < len(starts) and nal.endswith(b"\x00"):
            nal = nal[:-1]  # the leading zero of a 4-byte start code
        t = (nal[0] >> 1) & 0x3F if h265 else nal[0] & 0x1F
        if t == aud_type:
            continue
        out += len(nal).to_bytes(4, "big") + nal
    return out


def oracle(dirname, prefix, convert=None):
    files = sorted(glob.glob(os.path.join(dirname, prefix + "*")))
    shas = []
    for f in files:
        with open(f, "rb") as fh:
            d = fh.read()
        shas.append(hashlib.sha256(convert(d) if convert else d).hexdigest())
    return shas


def read_back(tool, url, name):
    rc, frames, starts, ends, stats, other = consume(tool, url, name,
                                                     ["--start", "EARLIEST", "--no-follow"])
    return rc, frames, starts


def check_video(what, frames, want, fps=30, start_ms=None, key_every=30):
    """frames: (track, ts ms, key, size, sha) of one track."""
    e2e.check(len(frames) == len(want), "%s: %d frames read back (%d encoded)"
              % (what, len(frames), len(want)))
    e2e.check([f[4] for f in frames] == want[:len(frames)],
              "%s: every frame's bytes equal the encoded buffer (SHA-256)" % what)
    keys = [i for i, f in enumerate(frames) if f[2]]
    e2e.check(keys == list(range(0, len(frames), key_every)),
              "%s: key frames at every %dth frame %s" % (what, key_every, keys[:6]))
    ts = [f[1] for f in frames]
    if not ts:
        return
    steps = {b - a for a, b in zip(ts, ts[1:])}
    e2e.check(steps <= {1000 // fps, 1000 // fps + 1},
              "%s: timestamps 1/%d s apart (steps %s)" % (what, fps, sorted(steps)))
    if start_ms is not None:
        e2e.check(all(abs(t - (start_ms + i * 1000 / fps)) <= 1 for i, t in enumerate(ts)),
                  "%s: timestamps are start-time + PTS (first %d)" % (what, ts[0]))
    else:
        now = time.time() * 1000
        e2e.check(abs(ts[0] - now) < 120000,
                  "%s: live timestamps on the wall clock (first %d, now %d)" % (what, ts[0], now))


def case_h264(env, tmp, url, tool, fmt, src_dir):
    name = "h264-" + fmt
    d = os.path.join(tmp, name)
    os.makedirs(d)
    n = 300 if fmt == "avc" else 120
    live = fmt == "avc"
    src = ["videotestsrc", "is-live=%s" % ("true" if live else "false"), "pattern=ball",
           "num-buffers=%d" % n, "!", "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!",
           "x264enc", "tune=zerolatency", "key-int-max=30", "!", "h264parse", "!",
           "video/x-h264,stream-format=%s,alignment=au" % fmt, "!", "tee", "name=t",
           "t.", "!", "queue", "!", "multifilesink", "sync=false", "async=false",
           "location=" + os.path.join(d, "v%05d"), "t.", "!", "queue", "!"]
    extra = "" if live else "start-time=%d" % START_MS
    p = launch(env, src + sink_args(url, name, extra))
    if not e2e.check(p.returncode == 0 and "camstream-status" in p.stdout,
                     "%s: pipeline ran to EOS with PERSISTED status messages %s"
                     % (name, p.stderr.strip()[-300:])):
        return
    want = oracle(d, "v", None if fmt == "avc" else lambda b: annexb_to_avcc(b, 9, False))
    rc, frames, starts = read_back(tool, url, name)
    e2e.check(rc == 0, "%s: cs_consume exit 0" % name)
    check_video(name, frames, want, start_ms=None if live else START_MS)
    persisted = p.stdout.count("camstream-status")
    e2e.check(persisted == len(starts) == n // 30,
              "%s: %d fragments PERSISTED (status messages) = %d read back"
              % (name, persisted, len(starts)))
    if src_dir and fmt == "avc":
        y4m = os.path.join(tmp, "src.y4m")
        q = subprocess.run([e2e.GST, "-q", "camstreamsrc", "endpoint=" + url, "stream-name=" + name,
                            "start-selector=earliest", "follow=false", "region=" + e2e.REGION,
                            "access-key=" + e2e.AK, "secret-key=" + e2e.SK, "!", "matroskademux",
                            "!", "h264parse", "!", "avdec_h264", "!", "y4menc", "!", "filesink",
                            "location=" + y4m], capture_output=True, text=True, env=env,
                           timeout=HANG)
        pics = 0
        if q.returncode == 0:
            with open(y4m, "rb") as f:
                pics = f.read().count(b"FRAME\n")
        e2e.check(pics == n, "%s: camstreamsrc ! matroskademux ! avdec_h264 decodes %d pictures "
                  "(%d) %s" % (name, pics, n, q.stderr.strip()[-300:]))


def case_h265(env, tmp, url, tool):
    name = "h265"
    d = os.path.join(tmp, name)
    os.makedirs(d)
    n = 90
    src = ["videotestsrc", "pattern=ball", "num-buffers=%d" % n, "!",
           "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!", "x265enc", "tune=zerolatency",
           "key-int-max=30", "option-string=scenecut=0", "!", "h265parse", "!",
           "video/x-h265,stream-format=byte-stream,alignment=au", "!", "tee", "name=t", "t.", "!",
           "queue", "!", "multifilesink", "sync=false", "async=false",
           "location=" + os.path.join(d, "v%05d"), "t.", "!", "queue", "!"]
    p = launch(env, src + sink_args(url, name, "start-time=%d" % START_MS))
    if not e2e.check(p.returncode == 0, "h265: pipeline ran to EOS %s" % p.stderr.strip()[-300:]):
        return
    want = oracle(d, "v", lambda b: annexb_to_avcc(b, 35, True))
    rc, frames, starts = read_back(tool, url, name)
    e2e.check(rc == 0, "h265: cs_consume exit 0")
    check_video(name, frames, want, start_ms=START_MS)


def case_av(env, tmp, url, tool, aac):
    name = "av"
    d = os.path.join(tmp, name)
    os.makedirs(d)
    n = 150
    pipe = ["videotestsrc", "is-live=true", "pattern=ball", "num-buffers=%d" % n, "!",
            "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!", "x264enc", "tune=zerolatency",
            "key-int-max=30", "!", "h264parse", "!", "video/x-h264,stream-format=avc,alignment=au",
            "!", "tee", "name=t", "t.", "!", "queue", "!", "multifilesink", "sync=false",
            "async=false", "location=" + os.path.join(d, "v%05d"), "t.", "!", "queue", "!", "s.",
            "audiotestsrc", "is-live=true", "samplesperbuffer=1024", "num-buffers=215", "!",
            "audio/x-raw,rate=44100,channels=1", "!", aac, "!", "aacparse", "!",
            "audio/mpeg,stream-format=raw", "!", "tee", "name=a", "a.", "!", "queue", "!",
            "multifilesink", "sync=false", "async=false", "location=" + os.path.join(d, "a%05d"),
            "a.", "!", "queue", "!", "s."]
    p = launch(env, pipe + sink_args(url, name))
    if not e2e.check(p.returncode == 0, "av: pipeline ran to EOS %s" % p.stderr.strip()[-300:]):
        return
    vwant, awant = oracle(d, "v"), oracle(d, "a")
    rc, frames, starts = read_back(tool, url, name)
    e2e.check(rc == 0, "av: cs_consume exit 0")
    video = [f for f in frames if f[0] == 1]
    audio = [f for f in frames if f[0] == 2]
    check_video("av video", video, vwant)
    # The stream starts at the first video key frame: audio captured before it has no fragment
    # to go in. Everything from there on must be there, byte for byte.
    got = [f[4] for f in audio]
    lead = len(awant) - len(got)
    e2e.check(audio and 0 <= lead and got == awant[lead:],
              "av audio: %d AAC frames read back, bytes equal the last %d encoded (of %d)"
              % (len(audio), len(got), len(awant)))
    if audio and video:
        e2e.check(0 <= audio[0][1] - video[0][1] <= 24,
                  "av audio: only frames before the first video key frame are missing "
                  "(first audio %d ms after it)" % (audio[0][1] - video[0][1]))
    ts = [f[1] for f in frames]
    # Interleaved by timestamp: within a fragment the stored order never goes back by more than
    # the clipping of ms timecodes (AAC frames are 23.2 ms, video 33.3 ms).
    back = [(a, b) for a, b in zip(ts, ts[1:]) if b < a - 1]
    e2e.check(not back and audio and video,
              "av: audio and video interleaved in timestamp order (%d inversions)" % len(back))


def case_state_changes(env, tmp, url, closed_url):
    # PLAYING -> NULL mid-stream: gst-launch without -e answers SIGINT by going to NULL.
    for what, endpoint in (("server up", url), ("server down", closed_url)):
        p = subprocess.Popen([e2e.GST] + ["videotestsrc", "is-live=true", "!", "x264enc",
                                          "tune=zerolatency", "key-int-max=30", "!", "h264parse",
                                          "!"] + sink_args(endpoint, "interrupted"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(4)
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=HANG)
            ok = p.returncode is not None
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            ok = False
        no_sanitizer_report("interrupted gst-launch", err)
        e2e.check(ok and "Freeing pipeline" in out,
                  "PLAYING -> NULL mid-stream (%s) does not hang (rc %s) %s"
                  % (what, p.returncode, err.strip()[-200:]))
    # Server down at start, then EOS: the flush times out with a warning, the pipeline ends.
    try:
        p = launch(env, ["videotestsrc", "is-live=true", "num-buffers=60", "!", "x264enc",
                         "tune=zerolatency", "key-int-max=30", "!", "h264parse", "!"]
                   + sink_args(closed_url, "down", "flush-timeout=2000"))
        e2e.check(p.returncode == 0 and "not every fragment was PERSISTED" in p.stdout + p.stderr,
                  "server down: EOS ends the pipeline with the flush-timeout warning (rc %d)"
                  % p.returncode)
        e2e.check("is the server running" in p.stdout + p.stderr,
                  "server down: the retry warning says what to check")
    except subprocess.TimeoutExpired:
        e2e.check(False, "server down: the pipeline hung")
    # No stream-name: an element error that says what to set.
    p = launch(env, ["videotestsrc", "num-buffers=1", "!", "x264enc", "!", "h264parse", "!",
                     "camstreamsink", "endpoint=" + url])
    e2e.check(p.returncode != 0 and "set camstreamsink stream-name=NAME" in p.stdout + p.stderr,
              "no stream-name: an element error saying what to set")


def main():
    if len(sys.argv) < 4:
        print(__doc__)
        return 2
    ingest, tool, sink_dir = sys.argv[1:4]
    src_dir = sys.argv[4] if len(sys.argv) > 4 else ""
    miss = e2e.missing_tools(ingest, tool, e2e.GST, INSPECT)
    if miss:
        print("skip: missing " + " ".join(miss))
        return 77
    tmp = tempfile.mkdtemp(prefix="cs-gstsink-")
    env = env_for(tmp, sink_dir, src_dir)
    if not have(env, "camstreamsink", "x264enc", "h264parse", "videotestsrc", "multifilesink"):
        print("skip: GStreamer elements missing (camstreamsink, x264enc, h264parse)")
        return 77
    # GetMedia ends a second after the last fragment, so --no-follow reads end.
    srv = e2e.Server(ingest, os.path.join(tmp, "data"), ["--getmedia-idle-seconds", "1"])
    if not e2e.check(srv.url != "", "server started: " + srv.banner):
        return 1
    s = __import__("socket").socket()
    s.bind(("127.0.0.1", 0))
    closed_url = "http://127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    try:
        case_h264(env, tmp, srv.url, tool, "avc", src_dir)
        case_h264(env, tmp, srv.url, tool, "byte-stream", "")
        if have(env, "x265enc", "h265parse"):
            case_h265(env, tmp, srv.url, tool)
        else:
            e2e.note("x265enc/h265parse missing: H.265 not tested")
        aac = next((e for e in ("voaacenc", "avenc_aac", "fdkaacenc") if have(env, e)), None)
        if aac:
            case_av(env, tmp, srv.url, tool, aac)
        else:
            e2e.note("no AAC encoder: audio+video not tested")
        case_state_changes(env, tmp, srv.url, closed_url)
    finally:
        srv.stop()
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


if __name__ == "__main__":
    sys.exit(main())
