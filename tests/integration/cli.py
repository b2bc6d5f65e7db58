# SPDX-License-Identifier: Apache-2.0
"""The camstream command line against the real camstream-ingest (SigV4 on): every command once,
with its output checked: streams create/list/describe/delete, fragments in a time range,
get-media to a Matroska file whose frames equal the upload's (camstream's reader and ffprobe),
tail, and the errors (unknown stream, unknown command, no server). `put`: an MP4, an MKV and a
raw H.264 file made by GStreamer are streamed (real time and --fast) with the producer SDK and
read back with get-media: the frames equal the file's (ffprobe: count, key flag, size, SHA-256;
raw H.264 converted to length-prefixed NAL units here) at the file's timestamps; a missing file,
a file that is not media and a stream that does not exist give a clear error and exit 1.

With the `file` sample as a 4th argument: it streams the MP4 through camstreamsink (re-encoded)
and get-media reads back its 90 frames, which decode.

usage: cli.py CAMSTREAM_INGEST GETMEDIA_MKVDUMP CAMSTREAM [FILE_SAMPLE]"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e2e  # noqa: E402


def run(cli, url, *args, timeout=120):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK)
    p = subprocess.run([cli, "--endpoint", url, "--region", e2e.REGION] + list(args),
                       capture_output=True, text=True, env=env, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def probe(path, stream=None):
    """ffprobe's packets with their bytes: [(pts seconds or None, key, data)], of one stream
    (index) or all."""
    p = subprocess.run([e2e.FFPROBE, "-v", "error", "-show_packets", "-show_data", "-show_entries",
                        "packet=stream_index,pts_time,flags,data", "-of", "json", path],
                       capture_output=True, text=True)
    out = []
    for x in json.loads(p.stdout or "{}").get("packets", []):
        if stream is not None and x.get("stream_index") != stream:
            continue
        hexs = "".join(ln.split(":", 1)[1][:40].replace(" ", "")
                       for ln in x.get("data", "").splitlines() if ":" in ln)
        pts = x.get("pts_time")
        out.append((float(pts) if pts not in (None, "N/A") else None,
                    1 if x["flags"].startswith("K") else 0, bytes.fromhex(hexs)))
    return out


def annexb_to_avcc(au, h265=False):
    """One Annex-B access unit as the producer SDK stores it: 4-byte lengths, AUDs dropped."""
    nals, i, starts = [], 0, []
    while True:
        j = au.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append(j + 3)
        i = j + 3
    for k, st in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(au)
        nal = au[st:end].rstrip(b"\x00")
        if nal and ((nal[0] >> 1) & 0x3F != 35 if h265 else nal[0] & 0x1F != 9):
            nals.append(len(nal).to_bytes(4, "big") + nal)
    return b"".join(nals)


def frames_view(packets):
    return [(k, len(d), hashlib.sha256(d).hexdigest()) for _, k, d in packets]


def put_checks(cli, url, tmp):
    """camstream put: three files, the errors."""
    p = subprocess.run([cli, "put", "--help"], capture_output=True, text=True)
    e2e.check(p.returncode == 0 and p.stdout.startswith("usage: camstream put FILE"),
              "put --help: its usage, exit 0")
    has_gst = "this build has no GStreamer" not in p.stdout
    enc = ("videotestsrc num-buffers=90 pattern=ball ! video/x-raw,width=320,height=240,"
           "framerate=30/1 ! x264enc bframes=0 key-int-max=30 option-string=scenecut=0 ! "
           "video/x-h264,profile=baseline")
    files = {}
    h265 = subprocess.run(["gst-inspect-1.0", "x265enc"], capture_output=True).returncode == 0
    for ext, tail in (("mp4", " ! h264parse ! mp4mux"), ("mkv", " ! h264parse ! matroskamux"),
                      ("h264", ",stream-format=byte-stream"),
                      ("b.mp4", " ! h264parse ! mp4mux"),
                      ("h265", ",stream-format=byte-stream")):
        path = os.path.join(tmp, "put." + ext)
        # put.b.mp4: main profile with B-frames (DTS before PTS, an MP4 edit list)
        line = (enc.replace("bframes=0", "bframes=2").replace(",profile=baseline", "")
                if ext == "b.mp4" else enc)
        if ext == "h265":
            if not h265:
                e2e.note("x265enc missing: put of a raw H.265 file not tested")
                continue
            line = enc.replace("x264enc bframes=0", "x265enc").replace(
                "video/x-h264,profile=baseline", "video/x-h265")
        g = subprocess.run([e2e.GST, "-q"] + ("%s%s ! filesink location=%s" % (
            line, tail, path)).split(" "), capture_output=True, text=True)
        if not e2e.check(g.returncode == 0, "GStreamer made %s" % path):
            return
        files[ext] = path
    start_ms = e2e.START_MS
    for ext, fast in (("mp4", True), ("mkv", False), ("h264", True), ("b.mp4", True),
                      ("h265", True)):
        if ext not in files:
            continue
        path, stream = files[ext], "put-" + ext.replace(".", "-")
        args = ["put", path, "--stream", stream, "--create", "--start-time", str(start_ms),
                "--progress"] + (["--fast"] if fast else [])
        t0 = time.monotonic()
        rc, out, err = run(cli, url, *args)
        took = time.monotonic() - t0
        if ext not in ("h264", "h265") and not has_gst:
            e2e.check(rc == 1 and "built without GStreamer" in err,
                      "put %s in a build without GStreamer: says so, exit 1" % ext)
            continue
        e2e.check(rc == 0 and ("put %s -> %s: 90 frames" % (path, stream)) in err and
                  "fragments persisted" in err,
                  "put %s%s: exit 0, 90 frames, fragments persisted (%s)"
                  % (ext, " --fast" if fast else "", err.strip().splitlines()[-1:]))
        e2e.check(" frames, " in err.splitlines()[0] and " s" in err.splitlines()[0],
                  "put --progress: the progress line (frames, MB, fragments, elapsed): %s"
                  % err.splitlines()[0])
        if not fast:
            # real time is paced by the file's timestamps: 90 frames at 30 fps span 2.97 s
            e2e.check(took >= 2.9, "put without --fast is paced: %.1f s for a 3 s file" % took)
        mkv = os.path.join(tmp, "put-%s-out.mkv" % stream)
        rc, out, err = run(cli, url, "get-media", stream, "--start", "earliest", "--no-follow",
                           "-o", mkv)
        got = probe(mkv) if rc == 0 else []
        src = probe(path)
        if ext in ("h264", "h265"):
            src = [(i / 30.0, k, annexb_to_avcc(d, ext == "h265"))
                   for i, (_, k, d) in enumerate(src)]
        if ext == "b.mp4":
            e2e.check([x[0] for x in src] != sorted(x[0] for x in src),
                      "put.b.mp4 has B-frames (presentation order differs from decode order)")
        e2e.check(len(got) == 90 and frames_view(got) == frames_view(src),
                  "put %s: get-media gives back the file's %d frames (key, size, SHA-256): %d"
                  % (ext, len(src), len(got)))
        e2e.check(len(got) == len(src) and all(
            abs((g[0] - start_ms / 1000.0) - s_[0]) <= 0.0015 for g, s_ in zip(got, src)),
            "put %s: every frame at --start-time + its time in the file (1 ms)" % ext)

    # Video + AAC audio in MP4 and Matroska: both tracks, each frame the file's, in time.
    aac = next((e for e in ("voaacenc", "avenc_aac", "fdkaacenc") if subprocess.run(
        ["gst-inspect-1.0", e], capture_output=True).returncode == 0), None)
    if aac is None or not has_gst:
        e2e.note("no AAC encoder or no GStreamer in camstream: put with audio not tested")
    cases = [("mp4mux", "aac"), ("matroskamux", "aac")] if aac and has_gst else []
    if has_gst and subprocess.run(["gst-inspect-1.0", "alawenc"],
                                  capture_output=True).returncode == 0:
        cases.append(("matroskamux", "alaw"))
    for mux, codec in cases:
        path = os.path.join(tmp, "av-%s.%s" % (codec, "mp4" if mux == "mp4mux" else "mkv"))
        audio = ("num-buffers=130 samplesperbuffer=1024 ! audio/x-raw,rate=44100,channels=1 ! "
                 "%s ! aacparse" % aac if codec == "aac" else
                 "num-buffers=60 samplesperbuffer=400 ! audio/x-raw,rate=8000,channels=1 ! "
                 "alawenc")
        line = ("%s name=m ! filesink location=%s %s ! h264parse ! m. audiotestsrc %s ! m."
                % (mux, path, enc, audio))
        g = subprocess.run([e2e.GST, "-q"] + line.split(" "), capture_output=True, text=True)
        if not e2e.check(g.returncode == 0, "GStreamer made %s %s" % (path, g.stderr[-200:])):
            continue
        stream = "put-av-%s-%s" % (mux, codec)
        rc, out, err = run(cli, url, "put", path, "--stream", stream, "--create", "--fast",
                           "--start-time", str(start_ms))
        src_v, src_a = probe(path, 0), probe(path, 1)
        n = len(src_v) + len(src_a)
        e2e.check(rc == 0 and ("-> %s: %d frames" % (stream, n)) in err,
                  "put %s (H.264 + %s): exit 0, %d frames (%s)"
                  % (os.path.basename(path), codec, n, err.strip().splitlines()[-1:]))
        mkv = os.path.join(tmp, stream + "-out.mkv")
        rc, out, err = run(cli, url, "get-media", stream, "--start", "earliest", "--no-follow",
                           "-o", mkv)
        got_v, got_a = (probe(mkv, 0), probe(mkv, 1)) if rc == 0 else ([], [])
        e2e.check(len(src_a) >= 60 and frames_view(got_v) == frames_view(src_v) and
                  frames_view(got_a) == frames_view(src_a),
                  "put %s: get-media gives back both tracks, %d video and %d %s frames, "
                  "each the file's (SHA-256)"
                  % (os.path.basename(path), len(got_v), len(got_a), codec))
        e2e.check(len(got_a) == len(src_a) and all(
            abs((g[0] - start_ms / 1000.0) - s_[0]) <= 0.0015 for g, s_ in zip(got_a, src_a)),
            "put %s: every audio frame at --start-time + its time in the file (1 ms)"
            % os.path.basename(path))
        if mux == "mp4mux" and codec == "aac":
            rc, out, err = run(cli, url, "put", path, "--stream", stream + "-v", "--create",
                               "--fast", "--no-audio")
            e2e.check(rc == 0 and ("-> %s-v: %d frames" % (stream, len(src_v))) in err and
                      "is not streamed" in err,
                      "put --no-audio: the video only, and says the audio track is not streamed")

    # Errors: each says what is wrong, exit 1.
    rc, out, err = run(cli, url, "put", "/nonexistent/clip.mp4", "--stream", "put-mp4")
    e2e.check(rc == 1 and "cannot read /nonexistent/clip.mp4" in err,
              "put a missing file: exit 1, %s" % err.strip())
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("these are not the frames you are looking for\n" * 50)
    rc, out, err = run(cli, url, "put", text, "--stream", "put-mp4")
    e2e.check(rc == 1 and ("not a media file" in err or "not a raw H.264" in err),
              "put a text file: exit 1, %s" % err.strip())
    rc, out, err = run(cli, url, "put", files["h264"], "--stream", "no-such-stream", "--fast")
    e2e.check(rc == 1 and "does not exist" in err and "--create" in err,
              "put to a stream that does not exist: exit 1, %s" % err.strip())
    rc, out, err = run(cli, url, "put", files["h264"])
    e2e.check(rc == 2 and "--stream" in err, "put without --stream: exit 2")
    # A raw file cut after its first key frame: the 29 frames before the next one cannot start
    # a fragment; the rest is stored, but put says what was not and exits 1.
    cut = os.path.join(tmp, "cut.h264")
    with open(cut, "wb") as f:
        f.write(b"".join(d for _, _, d in probe(files["h264"])[1:]))
    rc, out, err = run(cli, url, "put", cut, "--stream", "put-cut", "--create", "--fast")
    e2e.check(rc == 1 and "29 of 89 frames were not stored (29 before the first key frame" in err,
              "put a file that starts between key frames: exit 1, %s"
              % err.strip().splitlines()[-1:])


def sample_file_checks(sample, cli, url, tmp):
    """samples/file: an MP4 through camstreamsink, read back with get-media."""
    mp4 = os.path.join(tmp, "put.mp4")
    if not os.path.exists(mp4):
        return
    env = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK,
               GST_REGISTRY=os.path.join(tmp, "gst-registry.bin"),
               GST_REGISTRY_FORK="no")  # a sanitizer build's plugin loads in-process only
    p = subprocess.run([sample, "--endpoint", url, "--region", e2e.REGION, "--stream",
                        "sample-file", mp4], capture_output=True, text=True, env=env, timeout=120)
    e2e.check(p.returncode == 0, "samples/file put.mp4: exit 0 (every fragment PERSISTED) %s"
              % p.stderr.strip()[-300:])
    mkv = os.path.join(tmp, "sample-file.mkv")
    rc, out, err = run(cli, url, "get-media", "sample-file", "--start", "earliest",
                       "--no-follow", "-o", mkv)
    got = probe(mkv) if rc == 0 else []
    dec = subprocess.run([e2e.FFPROBE, "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", mkv],
                         capture_output=True, text=True)
    e2e.check(len(got) == 90 and got[0][1] == 1 and dec.stdout.strip() == "90",
              "samples/file: get-media gives back 90 frames, the first a key frame, all "
              "decoded by ffprobe (%d, %s)" % (len(got), dec.stdout.strip()))


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    server_bin, dump, cli = sys.argv[1:4]
    sample = sys.argv[4] if len(sys.argv) == 5 else None
    missing = e2e.missing_tools(e2e.CURL, e2e.GST, e2e.FFPROBE)
    if missing:
        print("SKIP: missing " + " ".join(missing))
        return 77
    tmp = tempfile.mkdtemp(prefix="cs-cli-")
    data = e2e.make_mkv(os.path.join(tmp, "in.mkv"))
    if data is None:
        print("SKIP: GStreamer could not make the test video")
        return 77
    up = e2e.Upload(os.path.join(tmp, "in.mkv"), data, dump)
    srv = e2e.Server(server_bin, os.path.join(tmp, "data"), ["--getmedia-idle-seconds", "1"])
    if not e2e.check(srv.url != "", "server up: " + srv.banner):
        return e2e.finish()
    try:
        url = srv.url
        p = subprocess.run([cli, "--help"], capture_output=True, text=True)
        e2e.check(p.returncode == 0 and "get-media" in p.stdout, "--help lists the commands")
        rc, out, err = run(cli, url, "streams", "create", "cli-cam", "--retention-hours", "2")
        e2e.check(rc == 0 and out.startswith("arn:aws:kinesisvideo:") and "/cli-cam/" in out,
                  "streams create prints the ARN: %s" % out.strip())
        run(cli, url, "streams", "create", "other-cam")
        rc, out, err = run(cli, url, "streams", "list", "--prefix", "cli-")
        rows = [line.split() for line in out.splitlines()[1:]]
        e2e.check(rc == 0 and rows == [["cli-cam", "ACTIVE", "2"]],
                  "streams list --prefix cli-: only cli-cam, ACTIVE, 2 h (%s)" % rows)
        rc, out, err = run(cli, url, "streams", "describe", "cli-cam")
        try:
            info = json.loads(out)
        except ValueError:
            info = {}
        e2e.check(rc == 0 and info.get("StreamName") == "cli-cam" and
                  info.get("DataRetentionInHours") == 2, "streams describe: the StreamInfo JSON")

        status, _, acks, _ = e2e.put_media(url, "cli-cam", up, tmp)
        nums = e2e.check_acks(acks, up.timecodes, "upload")
        start_s = e2e.START_MS // 1000
        rc, out, err = run(cli, url, "fragments", "cli-cam", "--from", str(start_s - 10), "--to",
                           str(start_s + 60))
        got = [line.split()[0] for line in out.splitlines()[1:]]
        e2e.check(rc == 0 and got == nums and "5 fragments" in err,
                  "fragments: the 5 fragment numbers in order, with producer time and size")
        e2e.check(rc == 0 and out.splitlines()[1].split()[1] == "2023-11-14T22:13:20.000Z",
                  "fragments: the first producer time is the upload's")

        mkv = os.path.join(tmp, "out.mkv")
        rc, out, err = run(cli, url, "get-media", "cli-cam", "--start", "earliest",
                           "--no-follow", "-o", mkv)
        ok, segs = e2e.reader_view(dump, mkv) if rc == 0 else (False, [])
        want = up.reader_frames(range(len(up.timecodes)))
        e2e.check(ok and len(segs) == 1 and segs[0]["frames"] == want and
                  "5 fragments" in err,
                  "get-media -o: one Matroska file, the %d frames identical (%s)"
                  % (len(want), err.strip().splitlines()[-1:] if err else ""))
        e2e.check(rc == 0 and e2e.ffprobe_view(mkv) == up.packets,
                  "get-media -o: ffprobe sees the upload's packets")
        env = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK)
        p = subprocess.run([cli, "--endpoint", url, "--region", e2e.REGION, "get-media", "cli-cam",
                            "--start", "earliest", "--no-follow"], capture_output=True, env=env,
                           timeout=120)
        piped = os.path.join(tmp, "stdout.mkv")
        with open(piped, "wb") as f:
            f.write(p.stdout)
        ok, segs = e2e.reader_view(dump, piped) if p.returncode == 0 else (False, [])
        e2e.check(ok and len(segs) == 1 and segs[0]["frames"] == want,
                  "get-media to stdout (no -o): the same Matroska stream, %d frames" % len(want))
        # The live status line is for a terminal: `script` gives get-media one.
        if os.access("/usr/bin/script", os.X_OK):
            cmd = " ".join([cli, "--endpoint", url, "--region", e2e.REGION, "get-media",
                            "cli-cam", "--start", "earliest", "--duration", "3", "-o",
                            os.path.join(tmp, "tty.mkv")])
            p = subprocess.run(["/usr/bin/script", "-qfec", cmd, "/dev/null"],
                               capture_output=True, text=True, env=env, timeout=120)
            lines = [ln for ln in p.stdout.replace("\r", "\n").splitlines() if "kbit/s" in ln]
            e2e.check(p.returncode == 0 and lines and all(
                "fragments, " in ln and " MB, " in ln and " ms behind now" in ln
                for ln in lines) and lines[-1].startswith("5 fragments, ") and
                "-1 ms" not in lines[-1],
                "get-media on a terminal: the live status line (fragments, MB, bitrate, "
                "latency), at the end 5 fragments: %s" % (lines[-1:] if lines else
                                                          p.stdout[-200:]))
        else:
            e2e.note("no /usr/bin/script: the get-media status line is not tested")
        rc, out, err = run(cli, url, "tail", "cli-cam", "--start", "fragment:" + nums[3],
                           "--no-follow")
        lines = out.splitlines()
        e2e.check(rc == 0 and [ln.split()[1] for ln in lines if ln.startswith("fragment ")] ==
                  nums[3:] and sum(ln.startswith("  frame ") for ln in lines) ==
                  len(up.reader_frames([3, 4])),
                  "tail --start fragment:N: fragments 4 and 5 and their frames")
        # A reader resuming with the producer timestamp of what it processed: fragment 4's
        # timestamp skips fragment 4 even though the token (fragment 2) comes before it.
        f4 = [ln for ln in lines if ln.startswith("fragment ")][:1]
        m = re.search(r"producer=(\d+)\.(\d{3})", f4[0]) if f4 else None
        ms4 = str(int(m.group(1)) * 1000 + int(m.group(2))) if m else "0"
        rc, out, err = run(cli, url, "tail", "cli-cam", "--start", "after:" + nums[1],
                           "--resume-producer-ms", ms4, "--no-follow")
        e2e.check(rc == 0 and m is not None and
                  [ln.split()[1] for ln in out.splitlines() if ln.startswith("fragment ")] ==
                  nums[4:], "tail --start after:N --resume-producer-ms (fragment 4's): fragment "
                  "5 only (%s)" % err.strip()[-200:])
        rc, out, err = run(cli, url, "tail", "cli-cam", "--resume-producer-ms", "soon")
        e2e.check(rc == 1 and "not a timestamp" in err,
                  "tail --resume-producer-ms soon: exit 1, says why (%s)" % err.strip())

        put_checks(cli, url, tmp)
        if sample:
            sample_file_checks(sample, cli, url, tmp)

        rc, out, err = run(cli, url, "streams", "describe", "nope")
        e2e.check(rc == 1 and "ResourceNotFoundException" in err,
                  "describe an unknown stream: exit 1, the server's error (%s)" % err.strip())
        rc, out, err = run(cli, url, "frobnicate")
        e2e.check(rc == 2 and "unknown command" in err, "an unknown command: exit 2")
        rc, out, err = run(cli, url, "streams", "delete", "cli-cam")
        e2e.check(rc == 0 and "deleted cli-cam" in out, "streams delete")
        rc, out, err = run(cli, url, "streams", "list")
        e2e.check(rc == 0 and "cli-cam" not in out and "other-cam" in out,
                  "streams list after the delete")
    finally:
        srv.stop()
    rc, out, err = run(cli, srv.url, "streams", "list")
    e2e.check(rc == 1 and "is the server running" in err,
              "no server: a message that says so (%s)" % err.strip())
    rc, out, err = run(cli, srv.url, "put", os.path.join(tmp, "put.h264"), "--stream", "put-h264",
                       "--fast", "--timeout", "2")
    e2e.check(rc == 1 and "not every fragment was PERSISTED" in err and
              "is the server running" in err,
              "put with no server: exit 1 after --timeout, a message that says so (%s)"
              % err.strip().splitlines()[-1:])
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


if __name__ == "__main__":
    sys.exit(main())
