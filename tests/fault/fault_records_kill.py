#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Record streams killed mid-write: several boto3 client threads run PutRecords (batches of
records of random sizes, several partition keys each) against a 4-shard stream of the real
camstream-ingest; after a random delay the server gets SIGKILL; it is restarted on the same
data directory and every shard is read back from TRIM_HORIZON. Checked each round, cumulatively:
every acknowledged record is there exactly once, in its shard, with the sequence number it was
acknowledged with; no record is there twice (acknowledged or not); every record read is one that
a client sent, byte for byte (no partial record); sequence numbers increase in each shard; each
thread's records appear in each shard in the order it sent them. Then the stream takes new
records after the recovered ones. The rounds (kill points) come from a seed printed at the start.

Usage: fault_records_kill.py CAMSTREAM_INGEST [--iterations N] [--seed S]"""
import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvs  # noqa: E402

STREAM = "kill"
SHARDS = 4
THREADS = 4


def client(srv):
    import boto3
    from botocore.config import Config
    return boto3.client("kinesis", endpoint_url="http://%s:%d" % (srv.host, srv.port),
                        region_name=kvs.REGION, aws_access_key_id=kvs.AK,
                        aws_secret_access_key=kvs.SK,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                      connect_timeout=5, read_timeout=30))


def payload(rnd, rnd_round, tid, i):
    """Unique, self-describing data of a random size (1 byte .. 8 KiB beyond its label)."""
    label = ("r%d-t%d-i%d|" % (rnd_round, tid, i)).encode()
    return label + rnd.randbytes(rnd.choice((1, 10, 100, 1000, 8000)))


class Producer(threading.Thread):
    def __init__(self, srv, rnd_round, tid, seed, sent, acked, lock):
        super().__init__(daemon=True)
        self.srv, self.rnd_round, self.tid = srv, rnd_round, tid
        self.rnd = random.Random(seed)
        self.sent, self.acked, self.lock = sent, acked, lock
        self.calls = 0

    def run(self):
        c = client(self.srv)
        i = 0
        while True:
            batch = []
            for _ in range(self.rnd.choice((1, 5, 50, 200))):
                d = payload(self.rnd, self.rnd_round, self.tid, i)
                batch.append({"Data": d, "PartitionKey": "pk-%d-%d" % (self.tid, i % 13)})
                with self.lock:
                    self.sent[d] = (self.rnd_round, self.tid, i)
                i += 1
            try:
                r = c.put_records(StreamName=STREAM, Records=batch)
            except Exception:
                return  # the server died: these records are not acknowledged
            self.calls += 1
            with self.lock:
                for rec, res in zip(batch, r["Records"]):
                    if "SequenceNumber" in res:
                        self.acked[rec["Data"]] = (res["ShardId"], res["SequenceNumber"])


def read_all(srv):
    """{shard id: [(sequence number, data)]} from TRIM_HORIZON to the tip."""
    c = client(srv)
    out = {}
    for s in c.list_shards(StreamName=STREAM)["Shards"]:
        sid = s["ShardId"]
        it = c.get_shard_iterator(StreamName=STREAM, ShardId=sid,
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        recs = []
        while it:
            g = c.get_records(ShardIterator=it, Limit=10000)
            recs += [(r["SequenceNumber"], r["Data"]) for r in g["Records"]]
            if not g["Records"]:
                break
            it = g.get("NextShardIterator")
        out[sid] = recs
    return out


def verify(got, sent, acked, what):
    where = {}
    dup = 0
    for sid, recs in got.items():
        for seq, d in recs:
            if d in where:
                dup += 1
            where[d] = (sid, seq)
    kvs.check(dup == 0, "%s: no record is stored twice" % what)
    kvs.check(all(d in sent for d in where),
              "%s: every record read is one a client sent, byte for byte (no partial record; "
              "%d read)" % (what, len(where)))
    missing = [d for d in acked if d not in where]
    moved = [d for d in acked if d in where and where[d] != acked[d]]
    kvs.check(not missing and not moved,
              "%s: every acknowledged record (%d) is there, in its shard, with its sequence "
              "number (missing %d, moved %d)" % (what, len(acked), len(missing), len(moved)))
    ok_seq = all(all(int(a[0]) < int(b[0]) for a, b in zip(recs, recs[1:]))
                 for recs in got.values())
    kvs.check(ok_seq, "%s: sequence numbers increase in every shard" % what)
    ok_order = True
    for recs in got.values():
        last = {}
        for _, d in recs:
            rr, tid, i = sent[d]
            k = (rr, tid)
            if k in last and last[k] >= i:
                ok_order = False
            last[k] = i
    kvs.check(ok_order, "%s: each thread's records are in the order sent, in every shard" % what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    try:
        import boto3  # noqa: F401
    except ImportError:
        kvs.skip("python3-boto3 is not installed")
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    print("seed %d (rerun: --seed %d)" % (seed, seed), flush=True)
    master = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="cs-fault-rkill-")
    data = os.path.join(tmp, "data")
    srv = kvs.Server(a.binary, data)
    rc = 1
    sent, acked, lock = {}, {}, threading.Lock()
    try:
        srv.start()
        client(srv).create_stream(StreamName=STREAM, ShardCount=SHARDS)
        for rnd_round in range(a.iterations):
            delay = master.uniform(0.05, 1.5)
            threads = [Producer(srv, rnd_round, t, master.randrange(1 << 30), sent, acked, lock)
                       for t in range(THREADS)]
            for t in threads:
                t.start()
            time.sleep(delay)
            srv.kill9()
            for t in threads:
                t.join(timeout=60)
            kvs.check(not any(t.is_alive() for t in threads),
                      "round %d: every producer stopped after the kill" % rnd_round)
            print("round %d: killed after %.3f s, %d calls acknowledged, %d records acknowledged "
                  "in all, %d sent" % (rnd_round, delay, sum(t.calls for t in threads),
                                       len(acked), len(sent)), flush=True)
            srv.start()
            verify(read_all(srv), sent, acked, "round %d after restart" % rnd_round)
        # the recovered stream takes new records after the old ones
        before = read_all(srv)
        c = client(srv)
        r = c.put_records(StreamName=STREAM, Records=[
            {"Data": ("new-%d" % i).encode(), "PartitionKey": "n%d" % i} for i in range(40)])
        kvs.check(r["FailedRecordCount"] == 0, "after the rounds: 40 new records acknowledged")
        got = read_all(srv)
        ok = True
        for i, res in enumerate(r["Records"]):
            sid, seq = res["ShardId"], int(res["SequenceNumber"])
            ok = ok and all(int(x) < seq for x, _ in before[sid]) and \
                (str(seq), ("new-%d" % i).encode()) in [(x, d) for x, d in got[sid]]
        kvs.check(ok, "the new records follow the recovered ones in their shards")
        kvs.check(srv.stop() == 0, "clean stop")
        log = open(os.path.join(tmp, "server.log"), errors="replace").read()
        kvs.check("AddressSanitizer" not in log and "runtime error:" not in log,
                  "no sanitizer report in the server log")
        rc = 0
    except kvs.Fail:
        rc = 1
    finally:
        srv.kill9()
        if rc == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("# files kept in %s (seed %d)" % (tmp, seed))
    return rc


if __name__ == "__main__":
    sys.exit(main())
