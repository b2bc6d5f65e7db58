#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A full disk and live consumers (the long soak's gap; docs/internals/GETMEDIA.md "The live edge").

The data directory is a small tmpfs (else a loop ext4 image; else skip 77). Fragments F1, F2, F3
of a GStreamer MKV (one Cluster = one fragment):
  1. an upload sends F1: PERSISTED;
  2. the disk is filled, the upload sends F2 whole and ends: F2 is received (it went by live at the
     hub, to the watcher of step 5 only) but its persist fails (ERROR 5001);
  3. two consumers ask for what follows F1 (CONTINUATION_TOKEN = F1, which is exactly what a
     consumer dropped in the middle of F2 asks when it reconnects): a raw GetMedia socket and
     the consumer SDK (cs_consume);
  4. the disk is freed and the producer re-sends F2 (a new upload, as the producer SDK does after
     an ERROR ack), first half of its Cluster, then the rest and F3.
Both consumers must get F2 (the re-sent copy: the only one they can get) as it arrives, then F3:
every frame exactly once, byte-identical to the upload.
A third consumer (raw) is attached from step 1 on and gets F2's first copy whole, live, under the
number the hub reserved for it (T2; never stored). 5. A reader that processed it and restarts
(a new process, CONTINUATION_TOKEN = T2) resumes after T2, so before the re-sent copy's newer
number: with the producer timestamp of the last fragment it processed (`resume_producer_ms`,
cs_consume --resume-producer-ms) the SDK skips the copy and delivers F3 only; without it, it
delivers F2 a second time (shown too: the case the setting exists for; the soak's live consumer
restarted after a full disk hit it). Before the fix the hub decided per stream
that F2's second copy was "a re-send consumers already had" and forwarded it to nobody, and the
consumers' cursors then moved past it with F3: F2 was lost for them (a gap).
Usage: fault_diskfull_live.py CAMSTREAM_INGEST CS_CONSUME"""
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvs  # noqa: E402

WAIT = 30.0  # seconds a condition may take before it counts as failed (never a speed figure)


FAILED = []


def soft(cond, what):
    """A check that does not stop the test: the later ones show what happened instead."""
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def wait(cond):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and not cond():
        time.sleep(0.02)
    return cond()


def frames_of(cluster):
    """SHA-256 of each SimpleBlock's frame in a Cluster, in order."""
    body = kvs.cluster_payload(cluster)
    out, j = [], 0
    while j < len(body):
        cid, cn, _ = kvs.read_vint(body, j, mask=False)
        size, cm, _ = kvs.read_vint(body, j + cn)
        start = j + cn + cm
        if cid == 0xA3:  # SimpleBlock: track vint, int16 timecode, flags, frame
            _, tn, _ = kvs.read_vint(body, start)
            out.append(hashlib.sha256(body[start + tn + 3:start + size]).hexdigest())
        j = start + size
    return out


class GetMedia:
    """A signed GetMedia on a raw socket; a thread collects the (dechunked) body."""

    def __init__(self, srv, stream, selector):
        body = json.dumps({"StreamName": stream, "StartSelector": selector}).encode()
        url = "http://%s:%d/getMedia" % (srv.host, srv.port)
        h = kvs.sign("POST", url, {"Content-Type": "application/json",
                                   "Host": "%s:%d" % (srv.host, srv.port)}, body)
        self.sock = socket.create_connection((srv.host, srv.port), timeout=120)
        req = "POST /getMedia HTTP/1.1\r\n"
        for k, v in h.items():
            req += "%s: %s\r\n" % (k, v)
        req += "Content-Length: %d\r\n\r\n" % len(body)
        self.sock.sendall(req.encode() + body)
        self.status, self.body, self.closed = None, b"", False
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        try:
            f = self.sock.makefile("rb")
            self.status = int(f.readline().split()[1])
            while f.readline().strip():
                pass
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    break
                chunk = f.read(size)
                f.readline()
                self.body += chunk
        except (OSError, ValueError):
            pass
        finally:
            self.closed = True

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()



def main():
    binary, consume = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="cs-fault-full-live-")
    header, clusters = kvs.make_mkv(os.path.join(tmp, "in.mkv"), 60)
    if len(clusters) < 3:
        kvs.skip("the test MKV has %d Clusters (3 wanted)" % len(clusters))
    c1, c2, c3 = clusters[:3]
    want = {"F2": frames_of(c2), "F3": frames_of(c3)}
    if not want["F2"] or not want["F3"]:
        kvs.skip("the test MKV's Clusters hold no SimpleBlock")
    mnt = kvs.small_data_dir(tmp)
    srv = kvs.Server(binary, mnt)
    rc = 1
    raw = cons = watch = None
    try:
        srv.start()
        kvs.create_stream(srv, "live")

        # 1. F1 stored.
        # (A fragment ends where the next Cluster or the upload ends.)
        up0 = kvs.Upload(srv, "live")
        up0.send(header + c1)
        up0.finish()
        kvs.check(len(up0.of("PERSISTED")) == 1, "F1 PERSISTED")
        f1 = up0.of("PERSISTED")[0]["FragmentNumber"]
        watch = GetMedia(srv, "live", {"StartSelectorType": "CONTINUATION_TOKEN",
                                       "ContinuationToken": f1})

        # 2. F2 received (at the hub, live to the watcher only), its persist fails.
        filler = kvs.fill(mnt)
        up1 = kvs.Upload(srv, "live")
        half = len(c2) // 2
        up1.send(header + c2[:half])
        # the watcher is attached at the hub once it has the first half (then it gets the rest)
        kvs.check(wait(lambda: c2[:half] in watch.body),
                  "a consumer attached live gets F2's first copy as it arrives (half its Cluster)")
        up1.send(c2[half:])
        up1.finish()
        errors = up1.of("ERROR")
        kvs.check(len(up1.of("RECEIVED")) == 1 and not up1.of("PERSISTED") and
                  [e.get("ErrorId") for e in errors] == [5001],
                  "disk full: F2 RECEIVED, not PERSISTED, ERROR 5001 (%s)" %
                  [(a.get("EventType"), a.get("ErrorId")) for a in up1.acks])

        # The watcher got F2's first copy live, whole: its token and producer timestamp.
        kvs.check(wait(lambda: b"AWS_KINESISVIDEO_CONTINUATION_TOKEN" in watch.body),
                  "a consumer attached live got F2's first copy whole (%d bytes)" %
                  len(watch.body))
        m_tok = re.search(rb"AWS_KINESISVIDEO_CONTINUATION_TOKEN.{1,8}?(91[0-9]{45})",
                          watch.body, re.S)
        m_pts = re.search(rb"AWS_KINESISVIDEO_PRODUCER_TIMESTAMP.{1,8}?([0-9]+)\.([0-9]{3})",
                          watch.body, re.S)
        kvs.check(m_tok is not None and m_pts is not None,
                  "F2's first copy carries CONTINUATION_TOKEN and PRODUCER_TIMESTAMP tags")
        t2 = m_tok.group(1).decode()
        pts2 = int(m_pts.group(1)) * 1000 + int(m_pts.group(2))

        # 3. The consumers, resuming after F1 (the index has nothing above it).
        raw = GetMedia(srv, "live", {"StartSelectorType": "CONTINUATION_TOKEN",
                                     "ContinuationToken": f1})
        env = dict(os.environ, AWS_ACCESS_KEY_ID=kvs.AK, AWS_SECRET_ACCESS_KEY=kvs.SK)
        # F2 and F3: start + frames + end each.
        events = len(want["F2"]) + len(want["F3"]) + 4
        cons = subprocess.Popen([consume, "--endpoint", "http://%s:%d" % (srv.host, srv.port),
                                 "--stream", "live", "--region", kvs.REGION,
                                 "--start", "CONTINUATION_TOKEN:" + f1, "--max-events",
                                 str(events), "--timeout", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

        # 4. The disk is freed; the producer re-sends F2 (half of it first), then F3.
        os.unlink(filler)
        up2 = kvs.Upload(srv, "live")
        up2.send(header + c2[:half])
        # Not fatal at once: what follows shows what the consumers got instead.
        soft(wait(lambda: c2[:half] in raw.body),
             "the raw consumer gets the re-sent F2 as it arrives (half its Cluster)")
        up2.send(c2[half:] + c3)
        up2.finish()
        kvs.check(len(up2.of("PERSISTED")) == 2 and not up2.of("ERROR"),
                  "the re-sent F2 and F3 PERSISTED (%s)" %
                  [(a.get("EventType"), a.get("ErrorId")) for a in up2.acks])
        stored = [f["FragmentNumber"] for f in kvs.list_fragments(srv, "live")]
        kvs.check(len(stored) == 3, "the index holds F1, F2, F3 (%d fragments)" % len(stored))

        # The raw consumer: F2 then F3, whole, once each.
        wait(lambda: raw.body.count(b"AWS_KINESISVIDEO_CONTINUATION_TOKEN") >= 2)
        try:
            got = kvs.split_fragments(raw.body)
        except ValueError as e:
            got = ["torn: %s" % e]
        soft(raw.status == 200 and got == [kvs.cluster_payload(c2), kvs.cluster_payload(c3)],
                  "the raw consumer has F2 then F3, byte-identical, no gap, no duplicate "
                  "(%d fragments)" % len(got))

        # The consumer SDK: every frame of F2 and F3 exactly once, identical.
        try:
            out, err = cons.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            cons.kill()
            out, err = cons.communicate()
        lines = out.splitlines()
        starts = [ln.split()[1] for ln in lines if ln.startswith("start ")]
        ends = [ln.split() for ln in lines if ln.startswith("end ")]
        frames = [ln.split()[7] for ln in lines if ln.startswith("frame ")]
        soft(cons.returncode == 0, "cs_consume exit 0 (%s)" % err.strip()[-300:])
        soft(starts == stored[1:] and [e[1] for e in ends] == stored[1:] and
                  all(e[2] == "1" for e in ends),
                  "the SDK consumer: F2 and F3 started and ended whole, in order (%s)" %
                  [s[-6:] for s in starts])
        soft(frames == want["F2"] + want["F3"],
                  "the SDK consumer: %d frames exactly once, identical to the upload (%d)" %
                  (len(want["F2"]) + len(want["F3"]), len(frames)))

        # 5. A reader restarted after processing F2's first copy (token T2, never stored).
        soft(t2 not in stored and t2 < stored[1],
             "F2's first copy's number T2 is not stored, and is below the re-sent copy's")

        def resume(extra, events):
            p = subprocess.run([consume, "--endpoint", "http://%s:%d" % (srv.host, srv.port),
                                "--stream", "live", "--region", kvs.REGION,
                                "--start", "CONTINUATION_TOKEN:" + t2, "--max-events",
                                str(events), "--timeout", "30"] + extra,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, timeout=90)
            ls = p.stdout.splitlines()
            return (p.returncode, [ln.split()[1] for ln in ls if ln.startswith("start ")],
                    [ln.split()[7] for ln in ls if ln.startswith("frame ")], p.stderr)

        code, st, fr, err = resume(["--resume-producer-ms", str(pts2)], len(want["F3"]) + 2)
        soft(code == 0 and st == stored[2:] and fr == want["F3"],
             "restarted with T2 and resume_producer_ms = F2's producer timestamp (%d): the SDK "
             "skips the re-sent F2 and delivers F3 only, exactly once (rc %d, starts %s, %d "
             "frames) %s" % (pts2, code, [x[-6:] for x in st], len(fr), err.strip()[-200:]))
        code, st, fr, err = resume([], len(want["F2"]) + 2)
        soft(code == 0 and st == stored[1:2] and fr == want["F2"],
             "restarted with T2 alone: the re-sent F2 comes again (the duplicate "
             "resume_producer_ms prevents; rc %d, starts %s, %d frames)" %
             (code, [x[-6:] for x in st], len(fr)))

        kvs.check(srv.alive(), "the server is still running")
        rc = 1 if FAILED else 0
    except kvs.Fail:
        rc = 1
    finally:
        if raw is not None:
            raw.close()
        if watch is not None:
            watch.close()
        if cons is not None and cons.poll() is None:
            cons.kill()
            cons.wait()
        stop = srv.stop()
        if stop not in (0, None):
            print("FAIL server exit %s" % stop, flush=True)
            rc = 1
        subprocess.call(["umount", mnt], stderr=subprocess.DEVNULL)
        if rc == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp, flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
