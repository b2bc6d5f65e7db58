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
import re
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


def case_h264_bframes(env, tmp, url, tool):
    """x264enc with B-frames (no tune=zerolatency): the first frames' DTS are before running
    time 0 (GstCollectPads clears them on the buffer); the SDK must still get a DTS that never
    goes back, and every frame must be stored with its PTS."""
    name = "h264-bframes"
    d = os.path.join(tmp, name)
    os.makedirs(d)
    n = 120
    src = ["videotestsrc", "pattern=ball", "num-buffers=%d" % n, "!",
           "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!", "x264enc",
           "bframes=2", "key-int-max=30", "option-string=scenecut=0", "!", "h264parse", "!",
           "video/x-h264,stream-format=byte-stream,alignment=au", "!", "tee", "name=t", "t.", "!",
           "queue", "!", "multifilesink", "sync=false", "async=false",
           "location=" + os.path.join(d, "v%05d"), "t.", "!", "queue", "!"]
    p = launch(env, src + sink_args(url, name, "start-time=%d" % START_MS))
    if not e2e.check(p.returncode == 0 and "refused" not in p.stdout + p.stderr,
                     "%s: pipeline ran to EOS, no frame refused %s"
                     % (name, (p.stdout + p.stderr).strip()[-300:])):
        return
    want = oracle(d, "v", lambda b: annexb_to_avcc(b, 9, False))
    rc, frames, starts = read_back(tool, url, name)
    e2e.check(rc == 0, "%s: cs_consume exit 0" % name)
    e2e.check(len(frames) == n and [f[4] for f in frames] == want,
              "%s: %d of %d frames read back, in decode order, each byte-identical"
              % (name, len(frames), n))
    ts = [f[1] for f in frames]
    e2e.check(ts != sorted(ts) and
              all(abs(t - (START_MS + i * 1000 / 30)) <= 1 for i, t in enumerate(sorted(ts))),
              "%s: PTS go back in decode order, and sorted they are start-time + i/30 s" % name)


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


def drop_messages(text, name="camstream-drop"):
    """The element messages `name` gst-launch -m printed: [{field: value}]."""
    out = []
    for line in text.splitlines():
        m = re.search(name + r", (.*)", line)
        if m:
            out.append(dict((k, v.split(")", 1)[1]) for k, v in re.findall(
                r"([a-z-]+)=(\([a-z0-9]+\)[^,;]*)", m.group(1))))
    return out


def case_pre_key(env, tmp, url, tool, aac):
    """Audio that starts 0.5 s before the video: the frames before the first video key frame
    cannot start a fragment (KVS drops them too), so they are dropped and reported as one
    camstream-drop message (reason before-key-frame, frames, bytes, first/last timestamps); the
    rest is stored byte for byte. Also uses kvssink's names region= and file-start-time=."""
    name = "prekey"
    d = os.path.join(tmp, name)
    os.makedirs(d)
    pipe = ["videotestsrc", "pattern=ball", "num-buffers=90", "timestamp-offset=500000000", "!",
            "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!", "x264enc",
            "tune=zerolatency", "key-int-max=30", "!", "h264parse", "!",
            "video/x-h264,stream-format=avc,alignment=au", "!", "tee", "name=t", "t.", "!",
            "queue", "!", "multifilesink", "sync=false", "async=false",
            "location=" + os.path.join(d, "v%05d"), "t.", "!", "queue", "!", "s.",
            "audiotestsrc", "samplesperbuffer=1024", "num-buffers=150", "!",
            "audio/x-raw,rate=44100,channels=1", "!", aac, "!", "aacparse", "!",
            "audio/mpeg,stream-format=raw", "!", "tee", "name=a", "a.", "!", "queue", "!",
            "multifilesink", "sync=false", "async=false", "location=" + os.path.join(d, "a%05d"),
            "a.", "!", "queue", "!", "s.",
            "camstreamsink", "name=s", "stream-name=" + name, "endpoint=" + url,
            "region=" + e2e.REGION, "access-key=" + e2e.AK, "secret-key=" + e2e.SK,
            "file-start-time=%d" % (START_MS // 1000)]
    p = launch(env, pipe)
    if not e2e.check(p.returncode == 0, "prekey: pipeline ran to EOS (region=, file-start-time=) %s"
                     % p.stderr.strip()[-300:]):
        return
    drops = drop_messages(p.stdout)
    vwant, awant = oracle(d, "v"), oracle(d, "a")
    rc, frames, starts = read_back(tool, url, name)
    video = [f for f in frames if f[0] == 1]
    audio = [f for f in frames if f[0] == 2]
    check_video("prekey video", video, vwant, start_ms=START_MS + 500)
    lead = len(awant) - len(audio)
    e2e.check(rc == 0 and 15 <= lead <= 25 and [f[4] for f in audio] == awant[lead:],
              "prekey audio: the first %d of %d AAC frames (0.5 s) are not stored, the rest are, "
              "byte for byte" % (lead, len(awant)))
    e2e.check(audio and video and 0 <= audio[0][1] - video[0][1] <= 24,
              "prekey: the stream starts at the first video key frame (first audio %s ms after)"
              % (audio[0][1] - video[0][1] if audio and video else "?"))
    e2e.check(len(drops) == 1 and drops[0].get("reason") == "before-key-frame" and
              drops[0].get("frames") == str(lead),
              "prekey: one camstream-drop message, reason before-key-frame, frames=%d: %s"
              % (lead, drops))
    if len(drops) == 1:
        first, last = int(drops[0].get("first-ts-ns", 0)), int(drops[0].get("last-ts-ns", 0))
        e2e.check(START_MS * 10**6 <= first <= last < (START_MS + 500) * 10**6,
                  "prekey: the drop's timestamps span the audio before the video (%d..%d ms)"
                  % (first // 10**6 - START_MS, last // 10**6 - START_MS))


def case_g711(env, tmp, url, tool, enc):
    """G.711 (alawenc / mulawenc) beside H.264: both tracks stored, the audio byte for byte
    (audio at the video's first key frame's time or later: at most the frames before it are
    dropped, and reported)."""
    name = "g711-" + enc
    d = os.path.join(tmp, name)
    os.makedirs(d)
    pipe = ["videotestsrc", "pattern=ball", "num-buffers=60", "!",
            "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!", "x264enc",
            "tune=zerolatency", "key-int-max=30", "!", "h264parse", "!",
            "video/x-h264,stream-format=avc,alignment=au", "!", "tee", "name=t", "t.", "!",
            "queue", "!", "multifilesink", "sync=false", "async=false",
            "location=" + os.path.join(d, "v%05d"), "t.", "!", "queue", "!", "s.",
            "audiotestsrc", "samplesperbuffer=400", "num-buffers=40", "!",
            "audio/x-raw,rate=8000,channels=1", "!", enc, "!", "tee", "name=a", "a.", "!",
            "queue", "!", "multifilesink", "sync=false", "async=false",
            "location=" + os.path.join(d, "a%05d"), "a.", "!", "queue", "!", "s."]
    p = launch(env, pipe + sink_args(url, name, "start-time=%d" % START_MS))
    if not e2e.check(p.returncode == 0, "%s: pipeline ran to EOS %s"
                     % (name, p.stderr.strip()[-300:])):
        return
    vwant, awant = oracle(d, "v"), oracle(d, "a")
    rc, frames, starts = read_back(tool, url, name)
    video = [f for f in frames if f[0] == 1]
    audio = [f for f in frames if f[0] == 2]
    check_video(name + " video", video, vwant, start_ms=START_MS)
    lead = len(awant) - len(audio)
    dropped = sum(int(m.get("frames", 0)) for m in drop_messages(p.stdout))
    e2e.check(rc == 0 and 0 <= lead <= 1 and lead == dropped and
              [f[4] for f in audio] == awant[lead:] and
              all(abs(f[1] - (START_MS + (i + lead) * 50)) <= 1 for i, f in enumerate(audio)),
              "%s audio: %d of %d frames (50 ms each) stored byte for byte at start-time + PTS; "
              "%d before the first key frame, reported" % (name, len(audio), len(awant), dropped))


def case_pressure(env, closed_url):
    """A server that is down and a 1 MiB store: 60 near-lossless frames of noise (~115 KB each,
    a fragment every 2) fill it. The sink posts camstream-pressure at 50, 75 and 90 %, rising,
    then drops the oldest whole fragments, each a camstream-drop (reason evicted) with its
    frames and timestamps: from the first frame on, none skipped, none twice."""
    p = launch(env, ["videotestsrc", "pattern=snow", "num-buffers=60", "!",
                     "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!", "x264enc",
                     "tune=zerolatency", "speed-preset=ultrafast", "pass=quant", "quantizer=0",
                     "key-int-max=2", "!", "h264parse", "!"]
               + sink_args(closed_url, "full", "storage-size=1 flush-timeout=1000 start-time=%d"
                           % START_MS))
    pressure = drop_messages(p.stdout, "camstream-pressure")
    rising = [m.get("threshold-pct") for m in pressure if m.get("rising") == "true"]
    e2e.check(p.returncode == 0 and rising[:3] == ["50", "75", "90"],
              "pressure: camstream-pressure at 50, 75, 90 %% rising as the 1 MiB store fills (%s)"
              % rising[:5])
    e2e.check(all(int(m.get("capacity", 0)) == 1 << 20 for m in pressure),
              "pressure: the messages carry the store's capacity (1 MiB)")
    ev = [m for m in drop_messages(p.stdout) if m.get("reason") == "evicted"]
    frames = [int(m["frames"]) for m in ev]
    firsts = [round((int(m["first-ts-ns"]) / 1e6 - START_MS) * 30 / 1000) for m in ev]
    lasts = [round((int(m["last-ts-ns"]) / 1e6 - START_MS) * 30 / 1000) for m in ev]
    contiguous = (firsts[:1] == [0] and all(b == a + 1 for a, b in zip(lasts, firsts[1:])) and
                  all(l_ - f + 1 == n for f, l_, n in zip(firsts, lasts, frames)))
    e2e.check(len(ev) >= 5 and contiguous and sum(frames) <= 60,
              "pressure: %d camstream-drop (evicted) messages, whole fragments from frame 0 on, "
              "contiguous (frames %s)" % (len(ev), frames[:8]))


def case_live_src(env, tmp, url):
    """camstreamsrc live (start-selector=now, follow=true) started before the camera: it gets
    the stream from a fragment start on, every frame to the last, each byte-identical to what
    the encoder gave camstreamsink (ffprobe SHA-256 of the Matroska it writes)."""
    name = "live-src"
    d = os.path.join(tmp, name)
    os.makedirs(d)
    status, _, _ = e2e.curl_json(url, "/createStream", {"StreamName": name,
                                                        "DataRetentionInHours": 1}, tmp)
    if not e2e.check(status == 200, "live src: createStream HTTP %d" % status):
        return
    out = os.path.join(tmp, "live-src.mkv")
    src = subprocess.Popen([e2e.GST, "camstreamsrc", "endpoint=" + url, "stream-name=" + name,
                            "start-selector=now", "region=" + e2e.REGION, "access-key=" + e2e.AK,
                            "secret-key=" + e2e.SK, "!", "filesink", "buffer-mode=2",
                            "location=" + out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env)
    time.sleep(2)  # not a check: a late start only means it begins at a later fragment
    n = 240
    p = launch(env, ["videotestsrc", "is-live=true", "pattern=ball", "num-buffers=%d" % n, "!",
                     "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!",
                     "x264enc", "tune=zerolatency", "key-int-max=30", "!", "h264parse", "!",
                     "video/x-h264,stream-format=avc,alignment=au", "!", "tee", "name=t", "t.",
                     "!", "queue", "!", "multifilesink", "sync=false", "async=false",
                     "location=" + os.path.join(d, "v%05d"), "t.", "!", "queue", "!"]
               + sink_args(url, name))
    want = oracle(d, "v")
    got = []
    for _ in range(60):  # until the last frame is in the file (a hang guard, not a timing check)
        got = [x[3] for x in e2e.ffprobe_view(out)] if os.path.exists(out) else []
        if want and got[-1:] == want[-1:]:
            break
        time.sleep(1)
    src.send_signal(signal.SIGINT)
    try:
        _, err = src.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        src.kill()
        _, err = src.communicate()
    no_sanitizer_report("camstreamsrc live", err)
    k = len(want) - len(got)
    e2e.check(p.returncode == 0 and len(want) == n and got and 0 <= k < n and k % 30 == 0 and
              got == want[k:],
              "camstreamsrc start-selector=now: live from fragment %d on, all %d frames to the "
              "last, byte-identical %s" % (k // 30 + 1, len(got), err.strip()[-200:]))


def case_create_settings(env, tmp, url):
    """A stream the sink creates gets retention-period and stream-tags (describeStream,
    listTagsForStream); key-frame-fragmentation=false with fragment-duration=2000 cuts a fragment
    at the first key frame 2 s after the last cut (key frames every 0.5 s here)."""
    name = "made-by-sink"
    p = launch(env, ["videotestsrc", "pattern=ball", "num-buffers=180", "!",
                     "video/x-raw,format=I420,width=320,height=240,framerate=30/1", "!", "x264enc",
                     "tune=zerolatency", "key-int-max=15", "!", "h264parse", "!"]
               + sink_args(url, name, "retention-period=5 key-frame-fragmentation=false "
                           "fragment-duration=2000 start-time=%d" % START_MS)
               + ["stream-tags=tags,site=home,room=hall"])
    if not e2e.check(p.returncode == 0, "create settings: pipeline ran to EOS %s"
                     % p.stderr.strip()[-200:]):
        return
    status, _, doc = e2e.curl_json(url, "/describeStream", {"StreamName": name}, tmp)
    info = (doc or {}).get("StreamInfo", {})
    e2e.check(status == 200 and info.get("DataRetentionInHours") == 5,
              "create settings: retention-period=5 -> DataRetentionInHours %s"
              % info.get("DataRetentionInHours"))
    status, _, doc = e2e.curl_json(url, "/listTagsForStream", {"StreamName": name}, tmp)
    e2e.check(status == 200 and (doc or {}).get("Tags") == {"site": "home", "room": "hall"},
              "create settings: stream-tags -> the stream's tags %s" % (doc or {}).get("Tags"))
    status, _, doc = e2e.curl_json(url, "/listFragments", {"StreamName": name}, tmp)
    frags = sorted((doc or {}).get("Fragments", []), key=lambda f: f["ProducerTimestamp"])
    starts = [round(f["ProducerTimestamp"] * 1000) - START_MS for f in frags]
    e2e.check(status == 200 and starts == [0, 2000, 4000],
              "key-frame-fragmentation=false, fragment-duration=2000: fragments at 0, 2, 4 s "
              "(%s)" % starts)


def case_properties(env):
    """gst-inspect-1.0 camstreamsink lists the properties kvssink users expect, with defaults."""
    p = subprocess.run([INSPECT, "camstreamsink"], capture_output=True, text=True, env=env)
    names = ["stream-name", "endpoint", "aws-region", "region", "access-key", "secret-key",
             "session-token", "credential-path", "storage-size", "fragment-duration",
             "key-frame-fragmentation", "absolute-fragment-times", "retention-period",
             "create-stream", "allow-create-stream", "max-latency", "connection-staleness",
             "stream-tags", "start-time", "file-start-time", "flush-timeout"]
    missing = [n for n in names if not re.search(r"^  %s\s*:" % re.escape(n), p.stdout, re.M)]
    e2e.check(p.returncode == 0 and not missing,
              "gst-inspect camstreamsink: the %d kvssink-style properties (missing %s)"
              % (len(names), missing))
    for n, default in (("storage-size", "16"), ("fragment-duration", "2000"),
                       ("retention-period", "2"), ("max-latency", "60"),
                       ("connection-staleness", "60"), ("key-frame-fragmentation", "true"),
                       ("absolute-fragment-times", "true"), ("create-stream", "true")):
        m = re.search(r"^  %s\s*:.*?Default: (\S+)" % re.escape(n), p.stdout, re.M | re.S)
        e2e.check(m is not None and m.group(1) == default,
                  "gst-inspect camstreamsink: %s defaults to %s (%s)"
                  % (n, default, m.group(1) if m else None))


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
    # A stream that does not exist with create-stream=false (kvssink: allow-create-stream), and
    # a wrong secret key: element errors (the pipeline stops) that say what to fix.
    for what, extra, want in (
            ("missing stream, allow-create-stream=false", "allow-create-stream=false",
             "create the stream first, or set create-stream=true"),
            ("wrong secret-key", "secret-key=wrong", "check access-key/secret-key")):
        args = sink_args(url, "never-made" if "missing" in what else "badkey", extra)
        if "wrong" in what:
            args = [a for a in args if not a.startswith("secret-key=" + e2e.SK)]
        p = launch(env, ["videotestsrc", "is-live=true", "num-buffers=300", "!", "x264enc",
                         "tune=zerolatency", "key-int-max=30", "!", "h264parse", "!"] + args)
        e2e.check(p.returncode != 0 and "ERROR" in p.stdout + p.stderr and want in
                  p.stdout + p.stderr, "%s: an element error saying '%s' (rc %d)"
                  % (what, want, p.returncode))
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
        case_h264_bframes(env, tmp, srv.url, tool)
        if have(env, "x265enc", "h265parse"):
            case_h265(env, tmp, srv.url, tool)
        else:
            e2e.note("x265enc/h265parse missing: H.265 not tested")
        aac = next((e for e in ("voaacenc", "avenc_aac", "fdkaacenc") if have(env, e)), None)
        if aac:
            case_av(env, tmp, srv.url, tool, aac)
            case_pre_key(env, tmp, srv.url, tool, aac)
        else:
            e2e.note("no AAC encoder: audio+video not tested")
        for enc in ("alawenc", "mulawenc"):
            if have(env, enc):
                case_g711(env, tmp, srv.url, tool, enc)
            else:
                e2e.note("%s missing: G.711 not tested" % enc)
        case_properties(env)
        case_create_settings(env, tmp, srv.url)
        case_pressure(env, closed_url)
        if src_dir:
            case_live_src(env, tmp, srv.url)
        case_state_changes(env, tmp, srv.url, closed_url)
    finally:
        srv.stop()
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


if __name__ == "__main__":
    sys.exit(main())
