# SPDX-License-Identifier: Apache-2.0
"""The record-stream consumer (consumer/records.c, our KCL) against the real camstream-ingest, with
real worker processes (`camstream records tail --app`, SigV4 on):

1. two workers of one application share a 4-shard stream: every record delivered exactly once (a
   shard changes hands only after its holder checkpointed), each shard in sequence order, and
   the shards end up split 2/2 (ListLeases through `records leases`);
2. one worker is SIGKILLed (it releases nothing): after its leases expire the other takes its
   shards and delivers every record put since; a record delivered twice is one the killed worker
   printed and had not checkpointed (at-least-once, nothing lost);
2b. at-least-once exactly: a worker (records_worker) killed inside its process callback after
   printing its 2nd batch of 10 and before that batch's checkpoint; the next worker delivers
   from the 1st batch's checkpoint: the duplicates are exactly the 2nd batch;
2c. a worker restarted under its old id takes its unexpired leases back at once;
3. checkpoint resume: the survivor stops (SIGTERM: checkpointed, leases released), records are
   put, a new worker of the same application delivers exactly those;
4. resharding: a 1-shard stream split into two (records before and after): the parent is read
   to its end and checkpointed SHARD_END before any record of a child is delivered; then the two
   children merged: their child is taken only after both ended.

No timed assertions: the waits poll for the awaited state with a generous deadline that only
turns a hang into a failure.

usage: records_consumer.py CAMSTREAM_INGEST CAMSTREAM RECORDS_WORKER"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e2e  # noqa: E402

LEASE_MS = 1500
DEADLINE_S = 90


def env():
    return dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK)


def run(cli, url, *args, stdin=None):
    p = subprocess.run([cli, "--endpoint", url, "--region", e2e.REGION, "records"] + list(args),
                       capture_output=True, text=True, env=env(), input=stdin, timeout=120)
    return p.returncode, p.stdout, p.stderr


class Worker:
    """`records tail STREAM --app APP --worker-id NAME`; its lines collected by threads."""

    def __init__(self, cli, url, stream, app, name):
        self.name = name
        self.lines = []   # (shard, seq, key, data)
        self.events = []  # ("lease taken", shard) ...
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [cli, "--endpoint", url, "--region", e2e.REGION, "records", "tail", stream, "--app",
             app, "--worker-id", name, "--lease-ms", str(LEASE_MS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out.start()
        self.t_err.start()

    def _read_out(self):
        for line in self.proc.stdout:
            f = line.rstrip("\n").split("\t")
            if len(f) == 4:
                with self.lock:
                    self.lines.append(tuple(f))

    def _read_err(self):
        prefix = "camstream records: "
        for line in self.proc.stderr:
            line = line.strip()
            if line.startswith(prefix):
                body = line[len(prefix):]
                for ev in ("lease taken", "lease lost", "lease released", "shard end"):
                    if body.startswith(ev + " "):
                        with self.lock:
                            self.events.append((ev, body[len(ev) + 1:]))
            elif line:
                print("# %s: %s" % (self.name, line))

    def data(self):
        with self.lock:
            return [f[3] for f in self.lines]

    def records(self):
        with self.lock:
            return list(self.lines)

    def stop(self, sig=signal.SIGTERM):
        """Sends `sig` (to this process, by its pid) and waits; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.t_out.join(timeout=10)
        self.t_err.join(timeout=10)
        return rc


def wait_for(cond):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def leases(cli, url, stream, app):
    """{shard: (owner or None, checkpoint or None, parents)} from `records leases`."""
    rc, out, err = run(cli, url, "leases", stream, "--app", app)
    got = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 6:
            got[f[0]] = (None if f[1] == "-" else f[1], None if f[4] == "-" else f[4], f[5])
    return got


def put(cli, url, stream, items, tips=None):
    """Puts one record per item; `tips` (a dict) gets each shard's last sequence number."""
    rc, out, err = run(cli, url, "put", stream, stdin="".join(x + "\n" for x in items))
    rows = [line.split("\t") for line in out.splitlines()]
    for shard, seq in rows:
        if tips is not None and int(seq) > int(tips.get(shard, "0")):
            tips[shard] = seq
    return rc == 0 and len(rows) == len(items)


def in_order(recs):
    """Each shard's sequence numbers strictly increase (duplicates after a takeover aside)."""
    last = {}
    for shard, seq, _, _ in recs:
        if shard in last and int(seq) <= int(last[shard]):
            return False
        last[shard] = seq
    return True


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    server_bin, cli, worker_bin = sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="cs-kcl-")
    srv = e2e.Server(server_bin, os.path.join(tmp, "data"))
    if not e2e.check(srv.url != "", "server up: " + srv.banner):
        return e2e.finish()
    workers = []
    try:
        url = srv.url
        # ---- 1. two workers share 4 shards ----
        rc, out, err = run(cli, url, "streams", "create", "kcl4", "--shards", "4")
        e2e.check(rc == 0, "streams create kcl4 --shards 4 (%s)" % err.strip())
        tips = {}
        batch1 = ["a%04d" % i for i in range(400)]
        e2e.check(put(cli, url, "kcl4", batch1, tips), "put 400 records")
        wa = Worker(cli, url, "kcl4", "app1", "A")
        workers.append(wa)
        # A alone takes all four; B then asks for its share
        e2e.check(wait_for(lambda: sum(1 for e in wa.events if e[0] == "lease taken") == 4),
                  "worker A alone takes the 4 leases")
        wb = Worker(cli, url, "kcl4", "app1", "B")
        workers.append(wb)

        def balanced():
            ls = leases(cli, url, "kcl4", "app1")
            owners = [v[0] for v in ls.values()]
            return len(ls) == 4 and owners.count("A") == 2 and owners.count("B") == 2

        e2e.check(wait_for(balanced), "the shards are split 2/2 between A and B (ListLeases)")
        e2e.check(wait_for(lambda: len(set(wa.data()) | set(wb.data())) >= 400),
                  "all 400 records delivered")
        batch2 = ["b%04d" % i for i in range(200)]
        e2e.check(put(cli, url, "kcl4", batch2, tips), "put 200 more while both run")
        want = set(batch1 + batch2)
        e2e.check(wait_for(lambda: set(wa.data()) | set(wb.data()) >= want),
                  "all 600 records delivered")
        both = wa.data() + wb.data()
        e2e.check(len(both) == 600 and set(both) == want,
                  "each record exactly once across A and B (%d deliveries)" % len(both))
        e2e.check(in_order(wa.records()) and in_order(wb.records()),
                  "each worker delivers every shard in sequence order")
        shards_a = {r[0] for r in wa.records()}
        shards_b = {r[0] for r in wb.records()}
        last_b = {r[0] for r in wb.records()[-50:]}
        e2e.check(len(shards_a | shards_b) == 4, "records from all 4 shards")
        e2e.check(not (last_b & {s for s, v in leases(cli, url, "kcl4", "app1").items()
                                 if v[0] == "A"}),
                  "B's latest records come from shards B holds, not A's")

        # ---- 2. A is SIGKILLed: B takes its shards after the lease expires ----
        a_held = {s for s, v in leases(cli, url, "kcl4", "app1").items() if v[0] == "A"}
        a_seen = set(wa.data())
        wa.stop(signal.SIGKILL)
        batch3 = ["c%04d" % i for i in range(200)]
        e2e.check(put(cli, url, "kcl4", batch3, tips), "put 200 records after A died")
        e2e.check(wait_for(lambda: set(wb.data()) >= set(batch3)),
                  "B delivers every record put after A died (its shards taken over)")
        ls = leases(cli, url, "kcl4", "app1")
        e2e.check(len(ls) == 4 and all(v[0] == "B" for v in ls.values()),
                  "B holds all 4 leases now (%s)" % sorted((k, v[0]) for k, v in ls.items()))
        e2e.check(a_held and all(("lease taken", s) in wb.events for s in a_held),
                  "B took A's shards %s" % sorted(a_held))
        seen = wa.data() + wb.data()
        dups = {d for d in set(seen) if seen.count(d) > 1}
        e2e.check(set(seen) == set(batch1 + batch2 + batch3),
                  "nothing lost across the kill (%d distinct)" % len(set(seen)))
        e2e.check(dups <= a_seen,
                  "records delivered twice (%d) are only ones A printed before it died" %
                  len(dups))

        # ---- 2b. killed between processing and checkpoint: that batch again, nothing else ----
        once = ["x%03d" % i for i in range(50)]
        rc, out, err = run(cli, url, "streams", "create", "kclonce", "--shards", "1")
        e2e.check(rc == 0 and put(cli, url, "kclonce", once), "kclonce: 50 records in 1 shard")
        px = subprocess.run([worker_bin, url, "kclonce", "app3", "X", str(LEASE_MS), "10",
                             "--die-in-batch", "2"], capture_output=True, text=True, env=env(),
                            timeout=120)
        got_x = [line.split("\t")[2] for line in px.stdout.splitlines()]
        e2e.check(px.returncode == -signal.SIGKILL and got_x == once[:20],
                  "worker X printed 2 batches of 10 and died in the 2nd callback (%d, %d)" %
                  (px.returncode, len(got_x)))
        py = subprocess.Popen([worker_bin, url, "kclonce", "app3", "Y", str(LEASE_MS), "10"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env())
        got_y = []

        def read_y():
            for line in py.stdout:
                got_y.append(line.rstrip("\n").split("\t")[2])

        ty = threading.Thread(target=read_y, daemon=True)
        ty.start()
        e2e.check(wait_for(lambda: len(got_y) >= 40), "worker Y takes the lease after it expires")
        py.send_signal(signal.SIGTERM)
        e2e.check(py.wait(timeout=30) == 0, "Y exits 0 on SIGTERM (no sanitizer report)")
        ty.join(timeout=10)
        e2e.check(got_y == once[10:],
                  "Y starts after X's last checkpoint: the un-checkpointed batch again, then the "
                  "rest, in order (%s..)" % got_y[:3])

        # ---- 2c. a worker restarted under the same id takes its leases back at once ----
        # (the lease lasts longer than the test's deadline: only the same-id rule can pass)
        long_ms = str(DEADLINE_S * 1000 * 10)
        rc, out, err = run(cli, url, "streams", "create", "kclsame", "--shards", "2")
        e2e.check(rc == 0 and put(cli, url, "kclsame", ["s0"]), "kclsame: 2 shards, 1 record")
        px = subprocess.run([worker_bin, url, "kclsame", "app5", "Z", long_ms, "10",
                             "--die-in-batch", "1"], capture_output=True, text=True, env=env(),
                            timeout=120)
        e2e.check(px.returncode == -signal.SIGKILL,
                  "worker Z died in its first callback, holding its leases (lease %s ms)" %
                  long_ms)
        e2e.check(put(cli, url, "kclsame", ["s1", "s2", "s3"]), "3 more records")
        pz = subprocess.Popen([worker_bin, url, "kclsame", "app5", "Z", long_ms, "10"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env())
        got_z = []

        def read_z():
            for line in pz.stdout:
                got_z.append(line.rstrip("\n").split("\t")[2])

        tz = threading.Thread(target=read_z, daemon=True)
        tz.start()
        e2e.check(wait_for(lambda: {"s1", "s2", "s3"} <= set(got_z)),
                  "Z restarted takes its unexpired leases back and delivers the new records")
        e2e.check(sorted(got_z) == ["s0", "s1", "s2", "s3"],
                  "...from its checkpoints (s0 again: it died before checkpointing it): %s" %
                  sorted(got_z))
        pz.send_signal(signal.SIGTERM)
        e2e.check(pz.wait(timeout=30) == 0, "Z exits 0 on SIGTERM")
        tz.join(timeout=10)

        # ---- 3. checkpoint resume ----
        rc = wb.stop(signal.SIGTERM)
        e2e.check(rc == 0, "B stops on SIGTERM with status 0")
        e2e.check(("lease released", "shardId-000000000000") in wb.events,
                  "B released its leases on the way out")
        ls = leases(cli, url, "kcl4", "app1")
        e2e.check(all(v[0] is None and v[1] for v in ls.values()),
                  "no lease held, every shard checkpointed")
        batch4 = ["d%04d" % i for i in range(50)]
        e2e.check(put(cli, url, "kcl4", batch4, tips), "put 50 records while no worker runs")
        wc = Worker(cli, url, "kcl4", "app1", "C")
        workers.append(wc)
        e2e.check(wait_for(lambda: set(wc.data()) >= set(batch4)),
                  "a new worker C delivers the 50 new records")
        # done when every shard is checkpointed at its last record: C has processed all
        e2e.check(wait_for(lambda: {k: v[1] for k, v in
                                    leases(cli, url, "kcl4", "app1").items()} == tips),
                  "C checkpoints every shard at its last record")
        e2e.check(sorted(wc.data()) == sorted(batch4),
                  "...and only those: it resumed after the checkpoints (%d delivered)" %
                  len(wc.data()))
        e2e.check(wc.stop() == 0, "C exits 0 on SIGTERM (no sanitizer report)")

        # ---- 4. resharding: parents before children ----
        rc, out, err = run(cli, url, "streams", "create", "kclsplit", "--shards", "1")
        before = ["p%03d" % i for i in range(30)]
        e2e.check(rc == 0 and put(cli, url, "kclsplit", before), "kclsplit: 30 records in shard 0")
        rc, out, err = run(cli, url, "streams", "split", "kclsplit", "shardId-000000000000")
        e2e.check(rc == 0 and "split at" in out, "streams split: %s%s" % (out.strip(), err.strip()))
        after = ["q%03d" % i for i in range(60)]
        e2e.check(put(cli, url, "kclsplit", after), "60 records after the split (the children)")
        wd = Worker(cli, url, "kclsplit", "app2", "D")
        workers.append(wd)
        e2e.check(wait_for(lambda: set(wd.data()) >= set(before + after)),
                  "worker D delivers all 90 records")
        recs = wd.records()
        first_child = next((i for i, r in enumerate(recs) if r[0] != "shardId-000000000000"),
                           len(recs))
        e2e.check([r[3] for r in recs[:first_child]] == before and
                  {r[0] for r in recs[first_child:]} == {"shardId-000000000001",
                                                          "shardId-000000000002"},
                  "the parent's 30 records, in order, before any child's")
        ev = list(wd.events)
        end_i = ev.index(("shard end", "shardId-000000000000")) if (
            "shard end", "shardId-000000000000") in ev else None
        kids = [ev.index(("lease taken", c)) for c in
                ("shardId-000000000001", "shardId-000000000002") if ("lease taken", c) in ev]
        e2e.check(end_i is not None and len(kids) == 2 and min(kids) > end_i,
                  "the children's leases are taken only after the parent's SHARD_END (%s)" % ev)
        ls = leases(cli, url, "kclsplit", "app2")
        e2e.check(ls.get("shardId-000000000000", (None, None))[1] == "SHARD_END",
                  "the parent is checkpointed SHARD_END")
        e2e.check(sorted(wd.data()) == sorted(before + after) and in_order(recs),
                  "each record once, in order per shard")
        # merge the two children: their child is read only after both reached SHARD_END
        rc, out, err = run(cli, url, "streams", "merge", "kclsplit", "shardId-000000000001",
                           "shardId-000000000002")
        e2e.check(rc == 0 and "merged" in out, "streams merge: %s%s" % (out.strip(), err.strip()))
        merged = ["m%03d" % i for i in range(20)]
        e2e.check(put(cli, url, "kclsplit", merged), "20 records after the merge")
        e2e.check(wait_for(lambda: set(wd.data()) >= set(merged)),
                  "worker D delivers the merged shard's records")
        ev = list(wd.events)
        ends = [ev.index(("shard end", c)) for c in ("shardId-000000000001",
                                                     "shardId-000000000002")
                if ("shard end", c) in ev]
        take3 = ev.index(("lease taken", "shardId-000000000003")) if (
            "lease taken", "shardId-000000000003") in ev else -1
        e2e.check(len(ends) == 2 and take3 > max(ends),
                  "the merged child is taken only after both parents' SHARD_END")
        recs = wd.records()
        e2e.check([r[3] for r in recs if r[0] == "shardId-000000000003"] == merged and
                  sorted(wd.data()) == sorted(before + after + merged),
                  "the merged child's records once, in order, nothing else twice")
        e2e.check(wd.stop() == 0, "D exits 0 on SIGTERM (no sanitizer report)")
    finally:
        for w in workers:
            w.stop(signal.SIGKILL)
        rc = srv.stop()
        e2e.check(rc == 0, "server exits 0 on SIGTERM")
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


if __name__ == "__main__":
    sys.exit(main())
