# SPDX-License-Identifier: Apache-2.0
"""The camstream command line against the real camstream-ingest (SigV4 on): every command once,
with its output checked: streams create/list/describe/delete, fragments in a time range,
get-media to a Matroska file whose frames equal the upload's (camstream's reader and ffprobe),
tail, and the errors (unknown stream, unknown command, no server).

usage: cli.py CAMSTREAM_INGEST GETMEDIA_MKVDUMP CAMSTREAM"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e2e  # noqa: E402


def run(cli, url, *args, timeout=120):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK)
    p = subprocess.run([cli, "--endpoint", url, "--region", e2e.REGION] + list(args),
                       capture_output=True, text=True, env=env, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    server_bin, dump, cli = sys.argv[1:]
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
        rc, out, err = run(cli, url, "tail", "cli-cam", "--start", "fragment:" + nums[3],
                           "--no-follow")
        lines = out.splitlines()
        e2e.check(rc == 0 and [ln.split()[1] for ln in lines if ln.startswith("fragment ")] ==
                  nums[3:] and sum(ln.startswith("  frame ") for ln in lines) ==
                  len(up.reader_frames([3, 4])),
                  "tail --start fragment:N: fragments 4 and 5 and their frames")

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
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


if __name__ == "__main__":
    sys.exit(main())
