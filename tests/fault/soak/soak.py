#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The soak with faults (issue 8): the whole system under load and faults, then an invariant
checker. See tests/fault/README.md and docs/soak.md.

Load, all at once, against one camstream-ingest on loopback:
- 3 producer-SDK producers (soak_producer: a generated clip in real time, 30 fps, frame hashes
  and on_drop reports written to a file); two go through the loopback fault proxy (one with a
  small content store, so long outages make it drop and report), the third through a network
  namespace with tc netem when the machine allows it (else straight to the server);
- a camstreamsink pipeline (gst-launch videotestsrc is-live=true ! x264enc ! camstreamsink);
- a live GetMedia consumer per video stream (soak_consume: the consumer SDK following live,
  reopening with the continuation token of the last complete fragment);
- a record producer (PutRecords, botocore) and a checkpointing record consumer (records_worker,
  the C record consumer with leases and checkpoints).
Faults on a schedule drawn from the seed: server SIGKILL + restart on the same data dir and port;
the proxy resetting, stalling and cutting connections; packet loss and delay with tc netem; the
data disk (a tmpfs) filled with a ballast file and freed; consumers and the record consumer
SIGKILLed and restarted (resuming from the continuation token / the checkpoint).
Then: every frame a producer did not report dropped is stored exactly once, in order,
byte-identical; every acknowledged record is readable exactly once in its shard, in order; no
torn fragment; consumer outputs without gap or duplicate; memory (VmRSS) of every long-lived
process flat; no sanitizer report.

Usage: soak.py --profile ci|long [--minutes N] [--seed S] --ingest BIN --producer BIN
               --consume BIN --proxy BIN [--gst-plugin-dir DIR] [--records-worker BIN]
               [--workdir DIR] [--keep]
Exit: 0 all checks ok, 1 a check failed, 77 the core cannot run here (reason printed)."""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import kvs  # noqa: E402

SKIP = 77
FAILS = []
MIB = 1 << 20


def log(msg):
    print("[%7.1f] %s" % (time.monotonic() - T0, msg), flush=True)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


T0 = time.monotonic()


class Srv:
    """What kvs.call needs: host and port."""

    def __init__(self, port):
        self.host, self.port = "127.0.0.1", port


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def is_asan(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    m = [ln.split("=>")[1].split()[0] for ln in out.splitlines() if "libasan" in ln and "=>" in ln]
    return m[0] if m else None


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None


# ------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------
class Proc:
    """A long-lived child; each (re)start is an incarnation with its own RSS samples."""

    def __init__(self, soak, name, argv, env=None, stdout=None, netns=None):
        self.soak, self.name, self.argv, self.env, self.netns = soak, name, argv, env, netns
        self.stdout_path = stdout
        self.p = None
        self.incarnation = 0
        self.errlog = os.path.join(soak.tmp, "%s.stderr" % name)

    def start(self, argv=None):
        if argv is not None:
            self.argv = argv
        self.incarnation += 1
        out = open(self.stdout_path, "ab") if self.stdout_path else subprocess.DEVNULL
        err = open(self.errlog, "ab")
        argv = self.argv
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
        self.p = subprocess.Popen(argv, stdout=out, stderr=err, env=self.env,
                                  preexec_fn=os.setpgrp)
        self.soak.track(self)
        return self

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill9(self):
        if self.p is not None:
            if self.p.poll() is None:
                self.p.kill()
            self.p.wait()


class Server:
    def __init__(self, soak, binary, data_dir, port, env):
        self.soak, self.binary, self.data_dir, self.port, self.env = soak, binary, data_dir, port, env
        self.p = None
        self.name = "ingest"
        self.incarnation = 0
        self.errlog = os.path.join(soak.tmp, "server.log")

    def start(self):
        args = [self.binary, "--listen", "127.0.0.1:%d" % self.port, "--data-dir", self.data_dir,
                "--log-level", "warn", "--workers", "2"]
        for attempt in range(40):
            err = open(self.errlog, "ab")
            self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=self.env,
                                      preexec_fn=os.setpgrp)
            line = self.p.stdout.readline().decode()
            if "http://127.0.0.1:%d" % self.port in line:
                self.incarnation += 1
                self.soak.track(self)
                return
            self.p.wait(timeout=30)
            time.sleep(0.5)  # the port may still be held for a moment after a kill
        raise kvs.Fail("the server does not start on port %d (see %s)" % (self.port, self.errlog))

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill9(self):
        if self.p is not None and self.p.poll() is None:
            self.p.kill()
        if self.p is not None:
            self.p.wait()

    def stop(self):
        if self.p is None or self.p.poll() is not None:
            return None
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return "hung"


class FaultProxy:
    def __init__(self, soak, binary, target_port):
        self.p = subprocess.Popen([binary, str(target_port)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=open(os.path.join(
                                      soak.tmp, "faultproxy.stderr"), "ab"),
                                  text=True, preexec_fn=os.setpgrp)
        line = self.p.stdout.readline()
        m = re.search(r"listening on (\d+)", line)
        if not m:
            raise kvs.Fail("faultproxy did not start: %r" % line)
        self.port = int(m.group(1))
        self.name, self.incarnation = "faultproxy", 1
        soak.track(self)
        self.lock = threading.Lock()

    def cmd(self, c):
        with self.lock:
            self.p.stdin.write(c + "\n")
            self.p.stdin.flush()
            return self.p.stdout.readline().strip()

    def stats(self):
        with self.lock:
            self.p.stdin.write("stats\n")
            self.p.stdin.flush()
            s = self.p.stdout.readline().strip()
            self.p.stdout.readline()
            return s

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
        except OSError:
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()


# ------------------------------------------------------------------------------------------------
# Faults that need root: a tmpfs data disk, a network namespace with netem
# ------------------------------------------------------------------------------------------------
def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:  # e.g. no `ip` or `tc` on this machine
        return subprocess.CompletedProcess(cmd, 127, "", str(e))


class Disk:
    """The data dir on a private tmpfs; fill() leaves ~256 KiB free with a ballast file."""

    def __init__(self, tmp, size_mib):
        self.mnt = os.path.join(tmp, "disk")
        os.makedirs(self.mnt)
        self.ok, self.why = False, ""
        if os.geteuid() != 0:
            self.why = "not root: cannot mount a tmpfs"
            return
        r = run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mib, "cs-soak", self.mnt])
        if r.returncode != 0:
            self.why = "mount -t tmpfs failed: " + r.stderr.strip()
            return
        self.ok = True
        self.ballast = os.path.join(self.mnt, "ballast")

    def data_dir(self):
        return os.path.join(self.mnt, "data")

    def fill(self):
        st = os.statvfs(self.mnt)
        free = st.f_bavail * st.f_frsize
        n = max(0, free - 256 * 1024)
        with open(self.ballast, "ab") as f:
            chunk = b"\0" * MIB
            while n > 0:
                try:
                    f.write(chunk[:min(n, MIB)])
                    f.flush()
                except OSError:
                    break
                n -= min(n, MIB)
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def free(self):
        try:
            os.unlink(self.ballast)
        except FileNotFoundError:
            pass

    def usage_mib(self):
        st = os.statvfs(self.mnt)
        return (st.f_blocks - st.f_bavail) * st.f_frsize / MIB

    def close(self):
        if self.ok:
            run(["umount", "-l", self.mnt])


class Netns:
    """A namespace with a veth pair; a forwarder in the root namespace joins the veth address to
    the server's loopback port; tc netem on both ends of the veth."""

    def __init__(self, tag):
        self.ns = "cs-soak-%s" % tag
        self.veth0, self.veth1 = "csk%s0" % tag[:6], "csk%s1" % tag[:6]
        self.host_ip, self.ns_ip = "10.231.%d.1" % (int(tag, 16) % 250), "10.231.%d.2" % (
            int(tag, 16) % 250)
        self.ok, self.why = False, ""
        self.fwd = None
        if os.geteuid() != 0:
            self.why = "not root"
            return
        steps = [["ip", "netns", "add", self.ns],
                 ["ip", "link", "add", self.veth0, "type", "veth", "peer", "name", self.veth1],
                 ["ip", "link", "set", self.veth1, "netns", self.ns],
                 ["ip", "addr", "add", self.host_ip + "/30", "dev", self.veth0],
                 ["ip", "link", "set", self.veth0, "up"],
                 ["ip", "netns", "exec", self.ns, "ip", "addr", "add", self.ns_ip + "/30", "dev",
                  self.veth1],
                 ["ip", "netns", "exec", self.ns, "ip", "link", "set", self.veth1, "up"],
                 ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"],
                 ["tc", "qdisc", "add", "dev", self.veth0, "root", "netem", "delay", "1ms"],
                 ["ip", "netns", "exec", self.ns, "tc", "qdisc", "add", "dev", self.veth1, "root",
                  "netem", "delay", "1ms"]]
        for s in steps:
            r = run(s)
            if r.returncode != 0:
                self.why = "'%s' failed: %s" % (" ".join(s), r.stderr.strip())
                self.close()
                return
        self.ok = True

    def netem(self, args):
        a = run(["tc", "qdisc", "change", "dev", self.veth0, "root", "netem"] + args)
        b = run(["ip", "netns", "exec", self.ns, "tc", "qdisc", "change", "dev", self.veth1,
                 "root", "netem"] + args)
        return a.returncode == 0 and b.returncode == 0

    def forward(self, target_port):
        """A TCP forwarder host_ip:PORT -> 127.0.0.1:target_port (threads)."""
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.host_ip, 0))
        ls.listen(64)
        self.fwd = ls

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def accept():
            while True:
                try:
                    c, _ = ls.accept()
                except OSError:
                    return
                try:
                    u = socket.create_connection(("127.0.0.1", target_port), timeout=5)
                    u.settimeout(None)
                except OSError:
                    c.close()
                    continue
                threading.Thread(target=pump, args=(c, u), daemon=True).start()
                threading.Thread(target=pump, args=(u, c), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return ls.getsockname()[1]

    def close(self):
        if self.fwd is not None:
            self.fwd.close()
        run(["ip", "link", "del", self.veth0])
        run(["ip", "netns", "del", self.ns])


# ------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------
REC_STREAM, REC_SHARDS, REC_APP = "soak-records", 2, "soak-app"


def kinesis(port):
    import boto3
    from botocore.config import Config
    return boto3.client("kinesis", endpoint_url="http://127.0.0.1:%d" % port,
                        region_name=kvs.REGION, aws_access_key_id=kvs.AK,
                        aws_secret_access_key=kvs.SK,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                      connect_timeout=3, read_timeout=15))


class RecordProducer(threading.Thread):
    """PutRecords of 1-30 text records every ~0.3 s; never re-sends (so every payload is
    unique); remembers what was acknowledged (shard, sequence number)."""

    def __init__(self, port, seed):
        super().__init__(daemon=True)
        self.port, self.rnd = port, random.Random(seed)
        self.stop = threading.Event()
        self.sent, self.acked, self.order = 0, {}, {}
        self.calls_ok, self.calls_failed, self.failed_records = 0, 0, 0

    def run(self):
        c = kinesis(self.port)
        i = 0
        while not self.stop.is_set():
            batch = []
            for _ in range(self.rnd.randint(1, 30)):
                tail = "%x" % self.rnd.getrandbits(self.rnd.choice((8, 64, 400)))
                d = "r%d-%s" % (i, tail)
                self.order[d] = i
                batch.append({"Data": d.encode(), "PartitionKey": "pk%d" % (i % 17)})
                i += 1
            self.sent += len(batch)
            try:
                r = c.put_records(StreamName=REC_STREAM, Records=batch)
                self.calls_ok += 1
                for rec, res in zip(batch, r["Records"]):
                    if "SequenceNumber" in res:
                        self.acked[rec["Data"].decode()] = (res["ShardId"], res["SequenceNumber"])
                    else:
                        self.failed_records += 1
            except Exception:
                self.calls_failed += 1
                time.sleep(0.5)
                c = kinesis(self.port)
            self.stop.wait(self.rnd.uniform(0.1, 0.5))


def read_records(port):
    c = kinesis(port)
    out = {}
    for s in c.list_shards(StreamName=REC_STREAM)["Shards"]:
        sid = s["ShardId"]
        it = c.get_shard_iterator(StreamName=REC_STREAM, ShardId=sid,
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        recs = []
        while it:
            g = c.get_records(ShardIterator=it, Limit=10000)
            recs += [(r["SequenceNumber"], r["Data"].decode(errors="replace"))
                     for r in g["Records"]]
            if not g["Records"]:
                break
            it = g.get("NextShardIterator")
        out[sid] = recs
    return out


# ------------------------------------------------------------------------------------------------
# Output parsing
# ------------------------------------------------------------------------------------------------
def parse_producer(path):
    puts, drops, fails, errors, end = {}, [], set(), [], None
    order = []
    with open(path) as f:
        for ln in f:
            w = ln.split()
            if not w:
                continue
            if w[0] == "put" and len(w) == 5:
                ms = int(w[1]) // 1000000
                puts[ms] = (int(w[2]), int(w[3]), w[4])
                order.append(ms)
            elif w[0] == "putfail":
                fails.add(int(w[1]) // 1000000)
            elif w[0] == "drop" and len(w) == 6:
                drops.append((int(w[1]), int(w[2]) // 1000000, int(w[3]) // 1000000, int(w[4]),
                              w[5] == "1"))
            elif w[0] == "error":
                errors.append(ln.strip())
            elif w[0] == "end":
                end = ln.strip()
    return puts, order, drops, fails, errors, end


def parse_consume(path):
    """Frames committed by a consume log: a fragment's frames count once its 'end' line came;
    frames of a fragment cut by 'lost' (or by a kill) before its end are dropped (they come again
    after the reopen). Returns (frames [(ms, key, size, sha)], fragments, incomplete ends,
    lost count, opens)."""
    frames, pending, cur = [], [], None
    fragments, incomplete, lost, opens, errors = 0, 0, 0, 0, []
    with open(path) as f:
        for ln in f:
            w = ln.split()
            if not w:
                continue
            if w[0] == "open":
                opens += 1
                pending, cur = [], None
            elif w[0] == "start":
                pending, cur = [], w[1]
            elif w[0] == "frame" and len(w) == 6:
                pending.append((int(w[2]) // 1000000, int(w[3]), int(w[4]), w[5]))
            elif w[0] == "end":
                fragments += 1
                if w[2] != "1":
                    incomplete += 1
                frames += pending
                pending, cur = [], None
            elif w[0] in ("lost", "tokenlost"):
                lost += 1
                if w[0] == "tokenlost":
                    errors.append(ln.strip())
                pending, cur = [], None
            elif w[0] == "error":
                errors.append(ln.strip())
    return frames, fragments, incomplete, lost, opens, errors


def last_token(path):
    """(continuation token, producer ms) of the last complete fragment a consume log shows."""
    tok, ms, cur = None, None, None
    try:
        with open(path) as f:
            for ln in f:
                w = ln.split()
                if len(w) == 3 and w[0] == "start":
                    cur = w[2]
                if len(w) == 4 and w[0] == "end" and w[3]:
                    tok, ms = w[3], cur
    except OSError:
        pass
    return tok, ms


# ------------------------------------------------------------------------------------------------
# The soak
# ------------------------------------------------------------------------------------------------
PROFILES = {
    # minutes of load, seconds between faults (uniform), outage lengths (s)
    "ci": {"minutes": 4.0, "gap": (7, 14), "down": (0.3, 2.5), "hold": (2, 6), "warm": 45},
    "long": {"minutes": 60.0, "gap": (15, 60), "down": (0.3, 8.0), "hold": (2, 15), "warm": 120},
}
KINDS = ["kill9", "proxy_drop", "proxy_stall", "proxy_cut", "netem", "diskfull",
         "consumer_restart", "records_consumer_restart"]


class Soak:
    def __init__(self, a):
        self.a = a
        self.prof = dict(PROFILES[a.profile])
        if a.minutes:
            self.prof["minutes"] = a.minutes
        self.seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
        self.rnd = random.Random(self.seed)
        self.tmp = a.workdir or tempfile.mkdtemp(prefix="cs-soak-")
        os.makedirs(self.tmp, exist_ok=True)
        self.procs, self.samples = [], {}
        self.lock = threading.Lock()
        self.faults = {k: 0 for k in KINDS}
        self.skipped = {}
        self.disk = self.netns = None
        self.stop_sampling = threading.Event()
        self.asan = is_asan(a.ingest)

    def track(self, proc):
        with self.lock:
            self.procs.append((proc, proc.incarnation, proc.p.pid, time.monotonic()))

    def sampler(self):
        while not self.stop_sampling.wait(2.0):
            now = time.monotonic()
            with self.lock:
                procs = list(self.procs)
            for proc, inc, pid, t_start in procs:
                if proc.p.pid != pid or proc.p.poll() is not None:
                    continue
                kib = rss_kib(pid)
                if kib is not None:
                    self.samples.setdefault((proc.name, inc), []).append((now - t_start, kib))

    # --------------------------------------------------------------------------------------------
    def env(self):
        e = dict(os.environ, AWS_ACCESS_KEY_ID=kvs.AK, AWS_SECRET_ACCESS_KEY=kvs.SK)
        if self.asan:
            # a bounded quarantine: ASan's default (256 MiB) would look like growth
            e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
        return e

    def gst_env(self):
        e = self.env()
        e["GST_PLUGIN_PATH"] = self.a.gst_plugin_dir
        e["GST_REGISTRY"] = os.path.join(self.tmp, "gst-registry.bin")
        lib = is_asan(os.path.join(self.a.gst_plugin_dir, "libgstcamstreamsink.so"))
        if lib:
            e["LD_PRELOAD"] = lib
            e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
            e["GST_REGISTRY_FORK"] = "no"
        return e

    def make_clip(self):
        path = os.path.join(self.tmp, "clip.h264")
        pattern = self.rnd.choice(["smpte", "ball", "snow", "circular", "pinwheel"])
        cmd = ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=300", "pattern=" + pattern,
               "!", "video/x-raw,width=320,height=240,framerate=30/1", "!", "x264enc",
               "tune=zerolatency", "bitrate=300", "key-int-max=30", "option-string=scenecut=0",
               "threads=1", "speed-preset=ultrafast", "!", "h264parse", "!",
               "video/x-h264,stream-format=byte-stream,alignment=au", "!", "filesink",
               "location=" + path]
        if shutil.which("gst-launch-1.0") is None:
            return None, "gst-launch-1.0 missing"
        r = run(cmd)
        if r.returncode != 0 or not os.path.exists(path) or os.path.getsize(path) == 0:
            return None, "GStreamer could not make the clip (x264enc?): " + r.stderr[-300:]
        return path, pattern

    def schedule(self, seconds):
        """(time, kind, params) from the seed; every available kind at least once when the run
        is long enough, then drawn at random."""
        kinds = [k for k in KINDS if k not in self.skipped]
        t, out = 20.0, []
        bag = []
        while True:
            t += self.rnd.uniform(*self.prof["gap"])
            if t > seconds - 15:
                break
            if not bag:
                bag = list(kinds)
                self.rnd.shuffle(bag)
            k = bag.pop()
            p = {"down": round(self.rnd.uniform(*self.prof["down"]), 2),
                 "hold": round(self.rnd.uniform(*self.prof["hold"]), 2),
                 "stall_ms": self.rnd.randint(1000, 9000),
                 "cut": self.rnd.choice((20000, 100000, 400000)),
                 "loss": self.rnd.choice((1, 3, 10)), "delay": self.rnd.choice((20, 80, 200)),
                 "which": self.rnd.randrange(1 << 16)}
            out.append((round(t, 2), k, p))
        return out

    # --------------------------------------------------------------------------------------------
    def run(self):
        a = self.a
        print("soak: profile %s, %.1f minutes of load, seed %d (replay: --seed %d), work dir %s%s"
              % (a.profile, self.prof["minutes"], self.seed, self.seed, self.tmp,
                 ", ASan build" if self.asan else ""), flush=True)
        try:
            import boto3  # noqa: F401
        except ImportError:
            print("skip: python3-boto3 is not installed (apt-get install python3-boto3)")
            return SKIP
        clip, pattern = self.make_clip()
        if clip is None:
            print("skip: " + pattern)
            return SKIP
        log("clip %s (videotestsrc pattern=%s, 320x240, 300 frames, key frame every 30)"
            % (clip, pattern))
        # the data disk
        disk_mib = 768 if a.profile == "ci" else max(1024, int(self.prof["minutes"] * 20))
        self.disk = Disk(self.tmp, disk_mib)
        if self.disk.ok:
            data = self.disk.data_dir()
            log("data dir on a %d MiB tmpfs: %s" % (disk_mib, data))
        else:
            data = os.path.join(self.tmp, "data")
            self.skipped["diskfull"] = self.disk.why
            print("note: fault diskfull skipped: %s" % self.disk.why, flush=True)
        port = free_port()
        self.server = Server(self, a.ingest, data, port, self.env())
        self.server.start()
        url = "http://127.0.0.1:%d" % port
        log("server %s" % url)
        self.proxy = FaultProxy(self, a.proxy, port)
        purl = "http://127.0.0.1:%d" % self.proxy.port
        log("fault proxy %s -> %s" % (purl, url))
        self.netns = Netns("%04x" % (self.seed & 0xFFFF))
        nurl = url
        if self.netns.ok:
            nurl = "http://%s:%d" % (self.netns.host_ip, self.netns.forward(port))
            log("network namespace %s: producer p2 reaches the server at %s (tc netem on the "
                "veth pair)" % (self.netns.ns, nurl))
        else:
            self.skipped["netem"] = self.netns.why
            print("note: fault netem skipped (network namespaces with tc netem not available: "
                  "%s); producer p2 goes straight to the server" % self.netns.why, flush=True)
        threading.Thread(target=self.sampler, daemon=True).start()

        # producers: (name, endpoint, store bytes, netns)
        self.producers = []
        specs = [("p0", purl, 2 * MIB, None), ("p1", purl, 256 * 1024, None),
                 ("p2", nurl, 2 * MIB, self.netns.ns if self.netns.ok else None)]
        for name, ep, store, ns in specs:
            out = os.path.join(self.tmp, "%s.out" % name)
            argv = [a.producer, "--endpoint", ep, "--stream", "soak-" + name, "--clip", clip,
                    "--out", out, "--start-frame", str(self.rnd.randrange(300)),
                    "--store-bytes", str(store), "--stale-ms", "4000", "--flush-ms", "40000"]
            pr = Proc(self, name, argv, env=self.env(), netns=ns).start()
            pr.out = out
            self.producers.append(pr)
            log("producer %s -> %s stream soak-%s store %d KiB%s" % (
                name, ep, name, store // 1024, " (in %s)" % ns if ns else ""))
        # camstreamsink
        self.gst = None
        if a.gst_plugin_dir and os.path.exists(os.path.join(a.gst_plugin_dir,
                                                            "libgstcamstreamsink.so")):
            gpat = self.rnd.choice(["ball", "smpte", "circular"])
            argv = ["gst-launch-1.0", "-m", "-e", "videotestsrc", "is-live=true",
                    "pattern=" + gpat, "!", "video/x-raw,width=320,height=240,framerate=30/1",
                    "!", "x264enc", "tune=zerolatency", "bitrate=300", "key-int-max=30",
                    "speed-preset=ultrafast", "threads=1", "!", "h264parse", "!",
                    "camstreamsink", "stream-name=soak-gst", "endpoint=" + purl,
                    "aws-region=" + kvs.REGION, "access-key=" + kvs.AK, "secret-key=" + kvs.SK]
            self.gst = Proc(self, "gst", argv, env=self.gst_env(),
                            stdout=os.path.join(self.tmp, "gst.out")).start()
            log("camstreamsink pipeline -> %s stream soak-gst (pattern %s)" % (purl, gpat))
        else:
            self.skipped["gst"] = "no camstreamsink plugin"
            print("note: no camstreamsink pipeline (plugin not built)", flush=True)
        self.video_streams = ["soak-" + p.name for p in self.producers] + (
            ["soak-gst"] if self.gst else [])
        # live consumers
        self.consumers = []
        for s in self.video_streams:
            out = os.path.join(self.tmp, "c-%s.out" % s)
            argv = [a.consume, "--endpoint", url, "--stream", s, "--out", out, "--start", "NOW"]
            c = Proc(self, "c-" + s, argv, env=self.env()).start()
            c.out = out
            self.consumers.append(c)
        log("live GetMedia consumers for %s" % ", ".join(self.video_streams))
        # records
        kinesis(port).create_stream(StreamName=REC_STREAM, ShardCount=REC_SHARDS)
        self.recp = RecordProducer(port, self.rnd.randrange(1 << 30))
        self.recp.start()
        self.recw = None
        if a.records_worker:
            self.recw = Proc(self, "records-worker", [a.records_worker, url, REC_STREAM, REC_APP,
                                                      "w1", "6000", "200"], env=self.env())
            self.recw.outs = []
            self.start_worker()
            log("record producer (PutRecords) and record consumer (records_worker, app %s) on "
                "%s, %d shards" % (REC_APP, REC_STREAM, REC_SHARDS))
        else:
            self.skipped["records_consumer_restart"] = "records_worker not built"

        seconds = self.prof["minutes"] * 60
        plan = self.schedule(seconds)
        print("fault schedule (%d faults): %s" % (len(plan), ", ".join(
            "%.0fs %s" % (t, k) for t, k, _ in plan)), flush=True)
        t_start = time.monotonic()
        last_status = t_start
        for t, kind, p in plan:
            while time.monotonic() - t_start < t:
                time.sleep(0.2)
                self.keep_alive()
                if time.monotonic() - last_status > 60:
                    last_status = time.monotonic()
                    self.status()
            self.inject(kind, p)
        while time.monotonic() - t_start < seconds:
            time.sleep(0.2)
            self.keep_alive()
        log("load phase over; faults injected: %s" % json.dumps(self.faults))
        return self.finish(port, url)

    def start_worker(self):
        out = os.path.join(self.tmp, "records-worker.%d.out" % (self.recw.incarnation + 1))
        self.recw.stdout_path = out
        self.recw.outs.append(out)
        self.recw.start()

    def keep_alive(self):
        """Restarts a records worker that exited by itself (e.g. the server was down too long);
        counted, not a failure: the checkpoint makes it resume."""
        if self.recw and not self.recw.alive():
            self.worker_exits = getattr(self, "worker_exits", 0) + 1
            self.start_worker()
        for c in self.consumers:
            if not c.alive():
                self.consumer_exits = getattr(self, "consumer_exits", 0) + 1
                self.restart_consumer(c)

    def restart_consumer(self, c):
        tok, ms = last_token(c.out)
        argv = list(c.argv)
        if "--last-ms" in argv:
            del argv[argv.index("--last-ms"):argv.index("--last-ms") + 2]
        argv[argv.index("--start") + 1] = "CONTINUATION_TOKEN:" + tok if tok else "NOW"
        if ms:
            argv += ["--last-ms", ms]
        c.start(argv)

    def status(self):
        st = self.proxy.stats()
        disk = " disk %.0f MiB used" % self.disk.usage_mib() if self.disk.ok else ""
        log("status: records acked %d; proxy %s;%s" % (len(self.recp.acked), st, disk))

    def inject(self, kind, p):
        self.faults[kind] += 1
        if kind == "kill9":
            self.server.kill9()
            log("fault kill9: server SIGKILLed; restart in %.2f s" % p["down"])
            time.sleep(p["down"])
            self.server.start()
        elif kind == "proxy_drop":
            self.proxy.cmd("drop")
            log("fault proxy_drop: every producer connection reset")
        elif kind == "proxy_stall":
            self.proxy.cmd("stall %d" % p["stall_ms"])
            log("fault proxy_stall: no byte moves for %d ms" % p["stall_ms"])
        elif kind == "proxy_cut":
            self.proxy.cmd("cut %d" % p["cut"])
            log("fault proxy_cut: connections cut after %d bytes for %.1f s"
                % (p["cut"], p["hold"] * 2))
            time.sleep(p["hold"] * 2)
            self.proxy.cmd("cut 0")
        elif kind == "netem":
            args = ["delay", "%dms" % p["delay"], "%dms" % (p["delay"] // 4), "loss",
                    "%d%%" % p["loss"]]
            ok = self.netns.netem(args)
            log("fault netem: %s on the veth pair of p2 for %.1f s%s"
                % (" ".join(args), p["hold"] * 3, "" if ok else " (tc change FAILED)"))
            time.sleep(p["hold"] * 3)
            self.netns.netem(["delay", "1ms"])
        elif kind == "diskfull":
            left = self.disk.fill()
            log("fault diskfull: ballast leaves %d KiB free on the data disk for %.1f s"
                % (left // 1024, p["hold"]))
            time.sleep(p["hold"])
            self.disk.free()
        elif kind == "consumer_restart":
            c = self.consumers[p["which"] % len(self.consumers)]
            c.kill9()
            tok = last_token(c.out)[0]
            log("fault consumer_restart: %s SIGKILLed, resumes from %s" % (
                c.name, "token " + tok if tok else "NOW (no fragment ended yet)"))
            self.restart_consumer(c)
        elif kind == "records_consumer_restart":
            self.recw.kill9()
            log("fault records_consumer_restart: records_worker SIGKILLed, restarts from its "
                "checkpoints")
            self.start_worker()

    # --------------------------------------------------------------------------------------------
    def finish(self, port, url):
        a = self.a
        srv = Srv(port)
        self.proxy.cmd("stall 0")
        self.proxy.cmd("cut 0")
        if self.netns.ok:
            self.netns.netem(["delay", "1ms"])
        if not self.server.alive():
            self.server.start()
        # the producers end: SIGTERM, each flushes (up to 40 s) and writes its end line
        for pr in self.producers:
            pr.signal(signal.SIGTERM)
        if self.gst:
            self.gst.signal(signal.SIGINT)  # -e: EOS, the sink flushes
        self.recp.stop.set()
        self.recp.join(timeout=30)
        for pr in self.producers + ([self.gst] if self.gst else []):
            rc = pr.wait(120)
            check(rc == 0, "%s exited cleanly after SIGTERM/EOS (rc %s)" % (pr.name, rc))
            if rc is None:
                pr.kill9()
        # the live consumers catch up; the record consumer processes every acked record
        time.sleep(8)
        deadline = time.monotonic() + 90
        while self.recw and time.monotonic() < deadline:
            seen = self.worker_records()[0]
            if all(d in seen for d in self.recp.acked):
                break
            self.keep_alive()
            time.sleep(1)
        for c in self.consumers:
            c.signal(signal.SIGTERM)
        if self.recw:
            self.recw.signal(signal.SIGTERM)
        for c in self.consumers + ([self.recw] if self.recw else []):
            rc = c.wait(60)
            check(rc == 0, "%s exited cleanly after SIGTERM (rc %s)" % (c.name, rc))
            if rc is None:
                c.kill9()
        self.stop_sampling.set()
        log("load stopped; reading back")
        self.check_video(srv, url)
        self.check_records(port)
        rc = self.server.stop()
        check(rc == 0, "the server stopped cleanly on SIGTERM (rc %s)" % rc)
        self.proxy.stop()
        self.check_memory()
        self.check_sanitizer()
        self.summary()
        return 1 if FAILS else 0

    def worker_records(self):
        seen, per_inc = {}, []
        for path in self.recw.outs:
            recs = []
            try:
                with open(path, errors="replace") as f:
                    for ln in f:
                        w = ln.rstrip("\n").split("\t")
                        if len(w) == 3:
                            recs.append((w[0], w[1], w[2]))
                            seen[w[2]] = seen.get(w[2], 0) + 1
            except OSError:
                pass
            per_inc.append(recs)
        return seen, per_inc

    def read_stream(self, url, stream):
        out = os.path.join(self.tmp, "final-%s.out" % stream)
        if os.path.exists(out):
            os.unlink(out)
        r = subprocess.run([self.a.consume, "--endpoint", url, "--stream", stream, "--out", out,
                            "--start", "EARLIEST", "--no-follow", "1"], env=self.env(),
                           stderr=open(os.path.join(self.tmp, "final.stderr"), "ab"), timeout=600)
        frames, fragments, incomplete, lost, opens, errors = parse_consume(out)
        return r.returncode, frames, fragments, incomplete, errors

    def check_video(self, srv, url):
        self.totals = {"frames_put": 0, "frames_stored": 0, "frames_dropped": 0, "fragments": 0}
        for stream in self.video_streams:
            rc, frames, fragments, incomplete, errors = self.read_stream(url, stream)
            check(rc == 0 and not errors, "%s: GetMedia EARLIEST read the whole stream (rc %d, "
                  "%d fragments, %d frames, errors %s)" % (stream, rc, fragments, len(frames),
                                                           errors[:3]))
            # torn fragments: every listed fragment, read with getMediaForFragmentList, parses
            listed = kvs.list_fragments(srv, stream)
            nums = sorted((f["FragmentNumber"] for f in listed), key=int)
            torn, parsed = 0, 0
            for i in range(0, len(nums), 200):
                body = kvs.get_media_for_fragments(srv, stream, nums[i:i + 200])
                try:
                    parsed += len(kvs.split_fragments(body))
                except ValueError as e:
                    torn += 1
                    print("     %s: %s" % (stream, e))
            check(torn == 0 and incomplete == 0 and parsed == len(nums) == fragments,
                  "%s: no torn fragment: %d listed, %d parse as whole fragments from "
                  "getMediaForFragmentList, %d from GetMedia EARLIEST (%d incomplete)"
                  % (stream, len(nums), parsed, fragments, incomplete))
            self.totals["fragments"] += len(nums)
            stored = {}
            for ms, key, size, sha in frames:
                stored.setdefault(ms, []).append((key, size, sha))
            order_ok = all(x[0] < y[0] for x, y in zip(frames, frames[1:]))
            check(order_ok, "%s: the stored frames are in timestamp order, each once (%d frames)"
                  % (stream, len(frames)))
            self.totals["frames_stored"] += len(frames)
            if stream == "soak-gst":
                self.check_gst(frames)
            else:
                self.check_producer(stream, stored)
            self.check_consumer(stream, frames)

    def check_producer(self, stream, stored):
        pr = [p for p in self.producers if "soak-" + p.name == stream][0]
        puts, order, drops, fails, errors, end = parse_producer(pr.out)
        self.totals["frames_put"] += len(puts)

        def dropped(ms):
            for reason, a, b, n, maybe in drops:
                if a <= ms <= b:
                    return reason, maybe
            return None

        missing, dup, differ, unknown, dropped_stored, ndropped = 0, 0, 0, 0, 0, 0
        for ms, (key, size, sha) in puts.items():
            got = stored.get(ms, [])
            d = dropped(ms)
            if d is not None:
                ndropped += 1
                if len(got) > 1 or (len(got) == 1 and not d[1]):
                    dropped_stored += 1
                continue
            if not got:
                missing += 1
            elif len(got) > 1:
                dup += 1
            elif got[0] != (key, size, sha):
                differ += 1
        for ms in stored:
            if ms not in puts:
                unknown += 1
        self.totals["frames_dropped"] += ndropped
        reasons = {}
        for r, a, b, n, maybe in drops:
            reasons[r] = reasons.get(r, 0) + n
        print("     %s: %d frames put, %d refused by put_frame, %d reported dropped (by reason "
              "%s), %d on_error, %s" % (stream, len(puts), len(fails), ndropped,
                                         reasons, len(errors), end), flush=True)
        check(end is not None and "flushed=1" in end,
              "%s: the producer flushed everything before exit (%s)" % (stream, end))
        check(missing == 0 and dup == 0 and differ == 0,
              "%s: every frame not reported dropped is stored exactly once, byte-identical "
              "(%d frames; %d missing, %d twice, %d differ)"
              % (stream, len(puts) - ndropped, missing, dup, differ))
        check(unknown == 0 and dropped_stored == 0,
              "%s: nothing stored that was not put (%d), no dropped frame stored that could not "
              "be or stored twice (%d)" % (stream, unknown, dropped_stored))

    def check_gst(self, frames):
        gaps = sum(1 for x, y in zip(frames, frames[1:]) if y[0] - x[0] > 100)
        drops = 0
        try:
            drops = open(os.path.join(self.tmp, "gst.out"), errors="replace").read().count(
                "camstream-drop")
        except OSError:
            pass
        keys = sum(1 for f in frames if f[1])
        check(len(frames) > 0 and frames[0][1] == 1,
              "soak-gst: camstreamsink stored %d frames (%d key frames), starting with a key "
              "frame; %d timestamp gaps > 100 ms, %d camstream-drop messages"
              % (len(frames), keys, gaps, drops))

    def check_consumer(self, stream, stored_frames):
        c = [c for c in self.consumers if c.name == "c-" + stream][0]
        frames, fragments, incomplete, lost, opens, errors = parse_consume(c.out)
        ms = [f[0] for f in frames]
        dup = len(ms) - len(set(ms))
        order_ok = all(x < y for x, y in zip(ms, ms[1:]))
        stored = {f[0]: f for f in stored_frames}
        # Live consumers see fragments as the server receives them: a fragment whose persist
        # failed (disk full) and that the producer then dropped (reported, "maybe stored") was
        # seen live and is not in the store. Such frames are exempt; any other live frame must
        # be stored, identical.
        drops = []
        if stream != "soak-gst":
            pr = [p for p in self.producers if "soak-" + p.name == stream][0]
            drops = parse_producer(pr.out)[2]

        def reported_dropped(m):
            return any(a <= m <= b for _, a, b, _, _ in drops)

        gap, differ, live_only = 0, 0, 0
        if ms:
            # from its first frame to the end of the stream: it followed live and caught up
            lo = ms[0]
            want = [m for m in stored if lo <= m]
            have = set(ms)
            gap = sum(1 for m in want if m not in have)
            for f in frames:
                if f[0] not in stored and reported_dropped(f[0]):
                    live_only += 1
                elif stored.get(f[0]) != f:
                    differ += 1
        if live_only:
            print("note %s: the live consumer saw %d frames that are not stored, all in ranges "
                  "the producer reported dropped (their persist failed, then the producer's "
                  "store evicted them)" % (stream, live_only), flush=True)
        tl = [e for e in errors if e.startswith("tokenlost")]
        if tl:
            print("note %s: %d GetMedia resumes were refused with 404 for a fragment number the "
                  "server does not have (served live, then lost by a server crash before it was "
                  "persisted, or torn mid-upload and never stored; the producer re-sent its "
                  "frames under a new number); the consumer resumed at its last complete "
                  "fragment's producer timestamp, skipping what it had read: %s"
                  % (stream, len(tl), tl[0][:240]), flush=True)
            self.tokenlost = getattr(self, "tokenlost", 0) + len(tl)
        if dup or not order_ok:
            self.show_reread(c.out)
        check(len(ms) > 0 and dup == 0 and order_ok and gap == 0 and differ == 0,
              "%s: live consumer: %d frames in %d fragments over %d opens (%d lost connections, "
              "%d restarts), no duplicate (%d), in order (%s), no gap against the stored stream "
              "from its first frame to the end (%d missing), identical to it (%d differ)"
              % (stream, len(ms), fragments, opens, lost, c.incarnation - 1, dup, order_ok, gap,
                 differ))

    @staticmethod
    def show_reread(path):
        """For the record of a failed run: the consume log's non-frame lines around the first
        fragment that starts at or before a producer timestamp already read."""
        try:
            lines = [ln.rstrip() for ln in open(path, errors="replace")
                     if not ln.startswith("frame ")]
        except OSError:
            return
        top, cur = -1, -1  # producer ms of the newest fragment read whole; of the open one
        for i, ln in enumerate(lines):
            w = ln.split()
            if len(w) == 3 and w[0] == "start" and w[2].isdigit():
                cur = int(w[2])
                if cur <= top:
                    print("  the consumer read producer ms %s again (log %s, lines without "
                          "frames):" % (w[2], path), flush=True)
                    for x in lines[max(0, i - 10):i + 4]:
                        print("    " + x[:160], flush=True)
                    return
            elif len(w) >= 3 and w[0] == "end" and w[2] == "1":
                top = max(top, cur)

    def check_records(self, port):
        got = read_records(port)
        acked, order = self.recp.acked, self.recp.order
        where, dup = {}, 0
        for sid, recs in got.items():
            for seq, d in recs:
                if d in where:
                    dup += 1
                where[d] = (sid, seq)
        missing = [d for d in acked if d not in where]
        moved = [d for d in acked if d in where and where[d] != acked[d]]
        seq_ok = all(all(int(x[0]) < int(y[0]) for x, y in zip(r, r[1:])) for r in got.values())
        ord_ok = all(all(order.get(x[1], -1) < order.get(y[1], 1 << 60) for x, y in zip(r, r[1:]))
                     for r in got.values())
        foreign = sum(1 for d in where if d not in order)
        self.rec_totals = (self.recp.sent, len(acked), sum(len(r) for r in got.values()))
        print("     records: %d sent, %d acknowledged, %d read back; %d PutRecords ok, %d failed "
              "calls, %d failed records" % (self.recp.sent, len(acked), self.rec_totals[2],
                                            self.recp.calls_ok, self.recp.calls_failed,
                                            self.recp.failed_records), flush=True)
        check(len(acked) > 0 and not missing and not moved and dup == 0 and foreign == 0,
              "records: every acknowledged record (%d) is readable exactly once in its shard with "
              "its sequence number (missing %d, moved %d, twice %d, not sent %d)"
              % (len(acked), len(missing), len(moved), dup, foreign))
        check(seq_ok and ord_ok, "records: sequence numbers increase and records are in the "
              "order sent, in every shard")
        if self.recw:
            seen, per_inc = self.worker_records()
            not_seen = [d for d in acked if d not in seen]
            # Within one run, per shard, a record not delivered before in that run must come
            # after the last one delivered; a step back to records already delivered is a replay
            # from the checkpoint (at-least-once: the run lost its lease while the server was
            # down, took it again and resumed after its checkpoint), not disorder.
            bad_order = 0
            for recs in per_inc:
                last = {}
                had = {}
                for sid, seq, d in recs:
                    v = int(seq)
                    done = had.setdefault(sid, set())
                    if sid in last and v <= last[sid] and v not in done:
                        bad_order += 1
                    done.add(v)
                    last[sid] = v
            again = sum(n - 1 for n in seen.values() if n > 1)
            check(not not_seen and bad_order == 0,
                  "record consumer: every acknowledged record processed (%d not), sequence "
                  "numbers increase within each of its %d runs, replays aside (%d out of "
                  "order); %d records processed again after a restart (at-least-once from the "
                  "checkpoint)"
                  % (len(not_seen), len(per_inc), bad_order, again))

    def check_memory(self):
        warm = self.prof["warm"]
        fixed = 64 if self.asan else 16
        print("memory bound: VmRSS sampled every 2 s; for each process that ran >= %d s past a "
              "%d s warm-up, the late RSS (median of the last 5 samples) <= the warm RSS "
              "(median of the first 5 samples after warm-up) * 1.2 + %d MiB" % (
                  warm, warm, fixed), flush=True)
        worst = []
        for (name, inc), s in sorted(self.samples.items()):
            after = [k for t, k in s if t >= warm]
            if len(after) < 10 or s[-1][0] < 2 * warm:
                continue
            w = sorted(after[:5])[2]
            late = sorted(after[-5:])[2]
            limit = w * 1.2 + fixed * 1024
            ok = late <= limit
            worst.append((name, inc, w, late, max(k for _, k in s), ok))
        for name, inc, w, late, peak, ok in worst:
            check(ok, "memory flat: %s#%d warm %.1f MiB, late %.1f MiB, peak %.1f MiB"
                  % (name, inc, w / 1024, late / 1024, peak / 1024))
        check(len(worst) > 0, "memory: %d long-lived processes measured" % len(worst))

    def check_sanitizer(self):
        bad = []
        for fn in sorted(os.listdir(self.tmp)):
            if fn.endswith((".stderr", ".log")) or fn == "gst.out":
                text = open(os.path.join(self.tmp, fn), errors="replace").read()
                for w in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                    if w in text:
                        bad.append("%s: %s" % (fn, w))
        check(not bad, "no sanitizer report in any log%s %s" % (
            " (ASan build)" if self.asan else "", bad))

    def summary(self):
        t = self.totals
        print("summary: seed %d, profile %s, %.1f min of load; faults %s; skipped %s; frames put "
              "%d, stored %d (all streams), reported dropped %d, fragments %d; records sent %d, "
              "acknowledged %d, stored %d; live-consumer resumes refused with 404 (fragment gone) and "
              "resumed by producer timestamp: %d; checks %s"
              % (self.seed, self.a.profile, self.prof["minutes"], json.dumps(self.faults),
                 json.dumps(self.skipped), t["frames_put"], t["frames_stored"],
                 t["frames_dropped"], t["fragments"], self.rec_totals[0], self.rec_totals[1],
                 self.rec_totals[2], getattr(self, "tokenlost", 0),
                 "FAILED: %d" % len(FAILS) if FAILS else "all ok"),
              flush=True)

    def cleanup(self, keep):
        with self.lock:
            procs = list(self.procs)
        for proc, _, pid, _ in procs:
            if proc.p.pid == pid and proc.p.poll() is None:
                proc.p.kill()
                proc.p.wait()
        if self.netns:
            self.netns.close()
        if self.disk:
            self.disk.close()
        if keep:
            print("# files kept in %s (seed %d)" % (self.tmp, self.seed))
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="camstream soak with faults")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="ci")
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--ingest", required=True)
    ap.add_argument("--producer", required=True)
    ap.add_argument("--consume", required=True)
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--gst-plugin-dir", default=None)
    ap.add_argument("--records-worker", default=None)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work dir even when green")
    a = ap.parse_args()

    def on_term(sig, frame):
        raise KeyboardInterrupt()  # ctest's timeout or a kill: the cleanup below still runs

    signal.signal(signal.SIGTERM, on_term)
    s = Soak(a)
    rc = 1
    try:
        rc = s.run()
    except kvs.Fail as e:
        check(False, str(e))
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        s.cleanup(a.keep or rc != 0)
    return rc


if __name__ == "__main__":
    sys.exit(main())
