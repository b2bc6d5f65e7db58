# SPDX-License-Identifier: Apache-2.0
"""`make run` stopped with Ctrl-C: scripts/run-demo (what `make run` runs) with no DURATION, on a
free port and its own data directory. While it runs it prints how to consume the stream and the
webcam sample's live status line; once a fragment is persisted the script gets SIGINT (as from a
terminal's Ctrl-C: the children run in their own sessions). It must say it stops, exit 130, leave
no process of its own behind (server, webcam sample), and have stored what it persisted: a new
server on the same data directory lists the fragments, and the last one is whole (GetMedia reads
every fragment back complete).

usage: run_demo_interrupt.py SOURCE_DIR BUILD_DIR"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e2e  # noqa: E402


def own_processes(marker):
    """PIDs whose command line names `marker` (this test's data directory)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, build = sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="cs-demo-int-")
    data = os.path.join(tmp, "data")
    env = dict(os.environ, CS_DEMO_DATA=data, PORT="0", STREAM="demo")
    env.pop("DURATION", None)
    p = subprocess.Popen([os.path.join(src, "scripts", "run-demo"), build], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=env, start_new_session=True)
    out = b""
    deadline = time.monotonic() + 120  # a hang guard: a fragment comes within seconds
    os.set_blocking(p.stdout.fileno(), False)
    while time.monotonic() < deadline and b"fragments persisted 1" not in out and \
            b"fragments persisted 2" not in out and p.poll() is None:
        time.sleep(0.2)
        try:
            out += p.stdout.read() or b""
        except (BlockingIOError, TypeError):
            pass
    e2e.check(b"fragments persisted" in out, "run-demo prints the live status line "
              "(fragments persisted, bitrate, buffer fill)")
    e2e.check(b"get-media demo -o - | ffplay -" in out and b"kinesis-video-media get-media" in out,
              "run-demo prints how to consume the stream (camstream get-media | ffplay, AWS CLI)")
    p.send_signal(signal.SIGINT)  # the script only, as a terminal's Ctrl-C would reach it
    try:
        rest, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        rest, _ = p.communicate()
    out += rest or b""
    text = out.decode(errors="replace")
    e2e.check(p.returncode == 130 and "run-demo: stopping" in text,
              "Ctrl-C: run-demo says it stops and exits 130 (rc %s)" % p.returncode)
    left = own_processes(data)
    e2e.check(not left, "Ctrl-C: no server or webcam process left behind (%s)" % left)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    e2e.check("webcam: " in text and " fragments persisted" in text.split("webcam: ")[-1],
              "Ctrl-C: the webcam sample finished and reported what was persisted")

    # What was persisted is there, and whole.
    srv = e2e.Server(os.path.join(build, "ingest-server", "camstream-ingest"), data,
                     ["--getmedia-idle-seconds", "1"], log=os.path.join(tmp, "after.log"))
    if e2e.check(srv.url != "", "a new server on the demo's data directory"):
        try:
            envc = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK)
            q = subprocess.run([os.path.join(build, "cli", "camstream"), "--endpoint", srv.url,
                                "--region", e2e.REGION, "get-media", "demo", "--start",
                                "earliest", "--no-follow", "-o", os.path.join(tmp, "all.mkv")],
                               capture_output=True, text=True, env=envc, timeout=120)
            last = q.stderr.strip().splitlines()[-1:] if q.stderr else []
            n = int(last[0].split()[0]) if last and last[0].split()[0].isdigit() else 0
            tail = text.split("webcam: ")[-1].split()
            persisted = int(tail[0]) if tail and tail[0].isdigit() else -1
            e2e.check(q.returncode == 0 and n >= max(persisted, 1) and
                      "reported" not in q.stderr,
                      "after Ctrl-C: the %d fragments the webcam saw PERSISTED are stored (%s)"
                      % (persisted, last))
            dec = subprocess.run([e2e.FFPROBE, "-v", "error", "-count_frames", "-select_streams",
                                  "v:0", "-show_entries", "stream=nb_read_frames", "-of",
                                  "csv=p=0", os.path.join(tmp, "all.mkv")],
                                 capture_output=True, text=True)
            frames = dec.stdout.strip()
            e2e.check(dec.returncode == 0 and not dec.stderr.strip() and frames.isdigit() and
                      int(frames) >= 30,
                      "after Ctrl-C: ffprobe decodes all %s frames without an error %s"
                      % (frames, dec.stderr.strip()[-200:]))
        finally:
            srv.stop()
    if not e2e.failures:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("# files kept in " + tmp)
    return e2e.finish()


if __name__ == "__main__":
    sys.exit(main())
