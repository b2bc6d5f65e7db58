#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Record streams on a full disk: the data directory is a small tmpfs (as fault_diskfull.py does
for video; else a loop-mounted ext4 image; else skip with 77 saying why). A filler file leaves
~400 KiB free, then boto3 PutRecords batches of 1 KiB records until they fail: failures are
service-like (per-record ErrorCode InternalFailure in PutRecords, or a whole-call 500
InternalFailure; PutRecord too), never a crash or a hang; the server keeps answering
DescribeStream, ListShards, GetShardIterator and GetRecords, and every acknowledged record reads
back byte for byte, in order, once. After the filler is removed puts work again, and after a
restart (recovery on the once-full disk) everything acknowledged is still there.

Usage: fault_records_diskfull.py CAMSTREAM_INGEST"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvs  # noqa: E402

STREAM = "full"


def client(srv):
    import boto3
    from botocore.config import Config
    return boto3.client("kinesis", endpoint_url="http://%s:%d" % (srv.host, srv.port),
                        region_name=kvs.REGION, aws_access_key_id=kvs.AK,
                        aws_secret_access_key=kvs.SK,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                      connect_timeout=5, read_timeout=60))


def read_shard(c, sid):
    it = c.get_shard_iterator(StreamName=STREAM, ShardId=sid,
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out = []
    while it:
        g = c.get_records(ShardIterator=it, Limit=10000)
        out += [(r["SequenceNumber"], r["Data"]) for r in g["Records"]]
        if not g["Records"]:
            break
        it = g.get("NextShardIterator")
    return out


def main():
    from botocore.exceptions import ClientError
    try:
        import boto3  # noqa: F401
    except ImportError:
        kvs.skip("python3-boto3 is not installed")
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-fault-rfull-")
    mnt = kvs.small_data_dir(tmp)
    srv = kvs.Server(binary, mnt)
    rc = 1
    try:
        srv.start()
        c = client(srv)
        c.create_stream(StreamName=STREAM, ShardCount=1)
        c.put_records(StreamName=STREAM, Records=[{"Data": b"warm", "PartitionKey": "w"}])
        acked = [b"warm"]
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - 400 * 1024))
            f.flush()
            os.fsync(f.fileno())
        failed_codes, whole_call = set(), []
        n = 0
        for call in range(200):
            batch = [("b%d-%d|" % (call, i)).encode() + b"x" * 1024 for i in range(100)]
            try:
                r = c.put_records(StreamName=STREAM,
                                  Records=[{"Data": d, "PartitionKey": "k"} for d in batch])
            except ClientError as e:
                whole_call.append((e.response["ResponseMetadata"]["HTTPStatusCode"],
                                   e.response["Error"]["Code"]))
                break
            n += 1
            for d, res in zip(batch, r["Records"]):
                if "SequenceNumber" in res:
                    acked.append(d)
                else:
                    failed_codes.add(res.get("ErrorCode"))
            if r["FailedRecordCount"] > 0:
                break
        print("%d calls, %d records acknowledged, per-record errors %s, whole-call errors %s" %
              (n, len(acked), sorted(failed_codes), whole_call), flush=True)
        kvs.check(failed_codes or whole_call, "puts fail once the disk is full")
        kvs.check(failed_codes <= {"InternalFailure"} and
                  all(x == (500, "InternalFailure") for x in whole_call),
                  "the failures are the service's InternalFailure (per record, or HTTP 500)")
        try:
            c.put_record(StreamName=STREAM, Data=b"y" * 200000, PartitionKey="k")
            single = "accepted"
        except ClientError as e:
            single = (e.response["ResponseMetadata"]["HTTPStatusCode"],
                      e.response["Error"]["Code"])
        kvs.check(single == (500, "InternalFailure"),
                  "put_record of 200 KB on the full disk: HTTP 500 InternalFailure (%s)" %
                  (single,))
        kvs.check(srv.alive(), "the server is still running")
        d = c.describe_stream(StreamName=STREAM)
        kvs.check(d["StreamDescription"]["StreamStatus"] == "ACTIVE",
                  "describe_stream still works on the full disk")
        got = read_shard(c, "shardId-000000000000")
        kvs.check([x for _, x in got] == acked,
                  "get_records on the full disk: every acknowledged record (%d), in order, "
                  "once, byte for byte" % len(acked))
        os.unlink(filler)
        r = c.put_records(StreamName=STREAM, Records=[
            {"Data": ("after-%d" % i).encode(), "PartitionKey": "k"} for i in range(50)])
        kvs.check(r["FailedRecordCount"] == 0, "after freeing space puts work again")
        acked += [("after-%d" % i).encode() for i in range(50)]
        kvs.check(srv.stop() == 0, "clean stop")
        srv.start()
        c = client(srv)
        got = [x for _, x in read_shard(c, "shardId-000000000000")]
        kvs.check(all(x in got for x in acked) and
                  [x for x in got if x in set(acked)] == acked and
                  len(got) == len(set(got)),
                  "restart on the once-full disk: every acknowledged record still there, in "
                  "order, once (%d read)" % len(got))
        kvs.check(srv.stop() == 0, "clean stop after restart")
        log = open(os.path.join(tmp, "server.log"), errors="replace").read()
        kvs.check("AddressSanitizer" not in log and "runtime error:" not in log,
                  "no sanitizer report in the server log")
        rc = 0
    except kvs.Fail:
        rc = 1
    finally:
        srv.kill9()
        subprocess.call(["umount", mnt])
        if rc == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("# files kept in " + tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
