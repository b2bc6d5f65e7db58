# SPDX-License-Identifier: Apache-2.0
"""Record streams (Kinesis Data Streams API, PROTOCOL.md §6) with the real clients against the
real camstream-ingest, SigV4 service `kinesis`: Debian's AWS CLI v2 (`aws kinesis ...`) and
boto3, JSON 1.1, plus one raw CBOR 1.1 request as the Java SDKs send it. Checks outputs: routing
of known partition keys (MD5) to the shard whose range holds them, sequence order per shard,
every iterator type, GetRecords across a split (parent to its end, ChildShards, then children)
and a merge, retention changes, tags, errors (`__type`), and persistence across a restart.

usage: kds_records.py CAMSTREAM_INGEST"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cs_e2e as e2e  # noqa: E402

AWS = "/usr/bin/aws"


def cli(url, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK,
               AWS_DEFAULT_REGION=e2e.REGION, AWS_PAGER="")
    env.pop("AWS_PROFILE", None)
    p = subprocess.run([AWS, "--endpoint-url", url, "--output", "json", "kinesis"] + list(args),
                       capture_output=True, text=True, env=env, timeout=60)
    try:
        doc = json.loads(p.stdout) if p.stdout.strip() else {}
    except ValueError:
        doc = None
    return p.returncode, doc, p.stderr


def shard_of(shards, key):
    h = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
    for s in shards:
        r = s["HashKeyRange"]
        if "EndingSequenceNumber" in s.get("SequenceNumberRange", {}):
            continue
        if int(r["StartingHashKey"]) <= h <= int(r["EndingHashKey"]):
            return s["ShardId"]
    return None


def drain(client, stream, shard_id, itype="TRIM_HORIZON"):
    it = client.get_shard_iterator(StreamName=stream, ShardId=shard_id,
                                   ShardIteratorType=itype)["ShardIterator"]
    out, last = [], None
    for _ in range(100):
        g = client.get_records(ShardIterator=it, Limit=1000)
        out += g["Records"]
        last = g
        it = g.get("NextShardIterator")
        if it is None or not g["Records"]:
            break
    return out, last


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if e2e.missing_tools(AWS):
        print("SKIP: missing " + AWS)
        return 77
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        print("SKIP: python3-boto3 is not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="cs-kds-")
    data = os.path.join(tmp, "data")
    srv = e2e.Server(sys.argv[1], data)
    if not e2e.check(srv.url != "", "server up: " + srv.banner):
        return e2e.finish()
    url = srv.url
    try:
        # --- AWS CLI v2 ---
        rc, _, err = cli(url, "create-stream", "--stream-name", "orders", "--shard-count", "4")
        e2e.check(rc == 0, "cli create-stream %s" % err.strip())
        rc, _, err = cli(url, "create-stream", "--stream-name", "orders", "--shard-count", "1")
        e2e.check(rc != 0 and "ResourceInUseException" in err, "cli create-stream twice: "
                  "ResourceInUseException")
        rc, doc, _ = cli(url, "list-shards", "--stream-name", "orders")
        shards = doc["Shards"] if doc else []
        e2e.check(rc == 0 and len(shards) == 4 and
                  shards[1]["HashKeyRange"]["StartingHashKey"] ==
                  "85070591730234615865843651857942052864",
                  "cli list-shards: 4 shards splitting the hash space evenly")
        keys = ["user-%d" % i for i in range(40)]
        placed = {}
        ok = True
        for k in keys[:10]:
            rc, doc, err = cli(url, "put-record", "--stream-name", "orders", "--partition-key", k,
                               "--data", base64.b64encode(k.encode()).decode(),
                               "--cli-binary-format", "base64")
            ok = ok and rc == 0 and doc["ShardId"] == shard_of(shards, k) and \
                len(doc["SequenceNumber"]) == 56
            placed[k] = doc.get("ShardId") if doc else None
        e2e.check(ok, "cli put-record x10: each lands in the shard whose range holds MD5(key), "
                  "56-digit sequence numbers")
        recs = ["Data=%s,PartitionKey=%s" % (base64.b64encode(k.encode()).decode(), k)
                for k in keys[10:]]
        rc, doc, err = cli(url, "put-records", "--stream-name", "orders", "--records", *recs,
                           "--cli-binary-format", "base64")
        e2e.check(rc == 0 and doc["FailedRecordCount"] == 0 and len(doc["Records"]) == 30 and
                  all(r["ShardId"] == shard_of(shards, k) for r, k in
                      zip(doc["Records"], keys[10:])), "cli put-records x30: all routed by MD5")
        rc, doc, err = cli(url, "get-shard-iterator", "--stream-name", "orders", "--shard-id",
                           placed["user-0"], "--shard-iterator-type", "TRIM_HORIZON")
        it = doc["ShardIterator"] if doc else ""
        rc, doc, err = cli(url, "get-records", "--shard-iterator", it)
        got = [base64.b64decode(r["Data"]).decode() for r in doc["Records"]] if doc else []
        want = [k for k in keys if shard_of(shards, k) == placed["user-0"]]
        e2e.check(rc == 0 and got == want and doc["MillisBehindLatest"] == 0,
                  "cli get-records: the shard's %d records in put order" % len(want))
        rc, doc, err = cli(url, "describe-stream", "--stream-name", "missing")
        e2e.check(rc != 0 and "ResourceNotFoundException" in err,
                  "cli describe-stream of a missing stream: ResourceNotFoundException")
        rc, _, err = cli(url, "increase-stream-retention-period", "--stream-name", "orders",
                         "--retention-period-hours", "48")
        rc2, doc, _ = cli(url, "describe-stream-summary", "--stream-name", "orders")
        e2e.check(rc == 0 and doc["StreamDescriptionSummary"]["RetentionPeriodHours"] == 48 and
                  doc["StreamDescriptionSummary"]["OpenShardCount"] == 4,
                  "cli increase-stream-retention-period 48, describe-stream-summary")
        rc, _, err = cli(url, "decrease-stream-retention-period", "--stream-name", "orders",
                         "--retention-period-hours", "72")
        e2e.check(rc != 0 and "InvalidArgumentException" in err,
                  "cli decrease-stream-retention-period upwards: InvalidArgumentException")
        rc, _, _ = cli(url, "add-tags-to-stream", "--stream-name", "orders", "--tags",
                       "team=video,env=test")
        rc2, _, _ = cli(url, "remove-tags-from-stream", "--stream-name", "orders",
                        "--tag-keys", "env")
        rc3, doc, _ = cli(url, "list-tags-for-stream", "--stream-name", "orders")
        e2e.check(rc == 0 and rc2 == 0 and doc["Tags"] == [{"Key": "team", "Value": "video"}],
                  "cli add/remove/list tags")

        # --- boto3 ---
        c = boto3.client("kinesis", endpoint_url=url, region_name=e2e.REGION,
                         aws_access_key_id=e2e.AK, aws_secret_access_key=e2e.SK,
                         config=Config(retries={"max_attempts": 1}))
        c.create_stream(StreamName="events", ShardCount=1)
        r = c.put_records(StreamName="events", Records=[
            {"Data": ("e%d" % i).encode(), "PartitionKey": "p%d" % (i % 7)} for i in range(100)])
        seqs = [x["SequenceNumber"] for x in r["Records"]]
        e2e.check(r["FailedRecordCount"] == 0 and seqs == sorted(seqs) and len(set(seqs)) == 100,
                  "boto3 put_records x100 on one shard: sequence numbers strictly increasing")
        recs, _ = drain(c, "events", "shardId-000000000000")
        e2e.check([x["Data"] for x in recs] == [("e%d" % i).encode() for i in range(100)],
                  "boto3 get_records TRIM_HORIZON: the 100 records in order")
        at = c.get_shard_iterator(StreamName="events", ShardId="shardId-000000000000",
                                  ShardIteratorType="AT_SEQUENCE_NUMBER",
                                  StartingSequenceNumber=seqs[50])["ShardIterator"]
        after = c.get_shard_iterator(StreamName="events", ShardId="shardId-000000000000",
                                     ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                     StartingSequenceNumber=seqs[50])["ShardIterator"]
        e2e.check(c.get_records(ShardIterator=at, Limit=1)["Records"][0]["Data"] == b"e50" and
                  c.get_records(ShardIterator=after, Limit=1)["Records"][0]["Data"] == b"e51",
                  "boto3 AT_SEQUENCE_NUMBER / AFTER_SEQUENCE_NUMBER")
        latest = c.get_shard_iterator(StreamName="events", ShardId="shardId-000000000000",
                                      ShardIteratorType="LATEST")["ShardIterator"]
        # boto3 sends whole-second timestamps (PROTOCOL.md §5): start on a fresh second.
        t_mid = int(time.time()) + 1
        time.sleep(max(0.0, t_mid - time.time()) + 0.05)
        c.put_record(StreamName="events", Data=b"late", PartitionKey="x")
        g = c.get_records(ShardIterator=latest)
        ts = c.get_shard_iterator(StreamName="events", ShardId="shardId-000000000000",
                                  ShardIteratorType="AT_TIMESTAMP",
                                  Timestamp=t_mid)["ShardIterator"]
        g2 = c.get_records(ShardIterator=ts)
        e2e.check([x["Data"] for x in g["Records"]] == [b"late"] and
                  [x["Data"] for x in g2["Records"]] == [b"late"],
                  "boto3 LATEST and AT_TIMESTAMP see only the later record (%s, %s)"
                  % ([x["Data"] for x in g["Records"]][:3], [x["Data"] for x in g2["Records"]][:3]))
        # Resharding: split, read the parent to its end, then the children; merge them back.
        c.split_shard(StreamName="events", ShardToSplit="shardId-000000000000",
                      NewStartingHashKey=str(2 ** 127))
        c.put_records(StreamName="events", Records=[
            {"Data": b"after-split", "PartitionKey": "p%d" % i} for i in range(20)])
        recs, last = drain(c, "events", "shardId-000000000000")
        kids = [k["ShardId"] for k in (last or {}).get("ChildShards", [])]
        e2e.check(len(recs) == 101 and last.get("NextShardIterator") is None and
                  kids == ["shardId-000000000001", "shardId-000000000002"],
                  "boto3 get_records at a split parent's end: no next iterator, ChildShards %s"
                  % kids)
        n_kids = sum(len(drain(c, "events", k)[0]) for k in kids)
        e2e.check(n_kids == 20, "boto3: the 20 later records are in the children")
        c.merge_shards(StreamName="events", ShardToMerge=kids[0], AdjacentShardToMerge=kids[1])
        sh = c.list_shards(StreamName="events")["Shards"]
        e2e.check(len(sh) == 4 and sh[3].get("ParentShardId") == kids[0] and
                  sh[3].get("AdjacentParentShardId") == kids[1] and
                  "EndingSequenceNumber" in sh[1]["SequenceNumberRange"],
                  "boto3 merge_shards: a child with both parents; parents closed")
        try:
            c.get_records(ShardIterator="AAAA" + latest[4:])
            bad = None
        except c.exceptions.InvalidArgumentException:
            bad = "InvalidArgumentException"
        except Exception as ex:  # noqa: BLE001
            bad = type(ex).__name__
        e2e.check(bad == "InvalidArgumentException", "boto3 get_records with a forged "
                  "iterator: InvalidArgumentException (%s)" % bad)

        # --- CBOR, as the Java SDKs send it (tag 1 epoch ms, byte strings) ---
        body = bytes([0xa3, 0x6a]) + b"StreamName" + bytes([0x66]) + b"events" + \
            bytes([0x64]) + b"Data" + bytes([0x43, 1, 2, 3]) + bytes([0x6c]) + b"PartitionKey" + \
            bytes([0x62]) + b"pk"
        status, ctype, payload = signed_raw(url, "PutRecord", body)
        e2e.check(status == 200 and ctype == "application/x-amz-cbor-1.1" and
                  b"SequenceNumber" in payload and b"shardId-00000000000" in payload,
                  "CBOR PutRecord: 200 with a CBOR answer")
        status, ctype, payload = signed_raw(url, "DescribeStream", b"\xa1\x6aStreamName\x62no")
        e2e.check(status == 400 and b"__type" in payload and
                  b"ResourceNotFoundException" in payload, "CBOR error body with __type")

        c.delete_stream(StreamName="orders")
        e2e.check(c.list_streams()["StreamNames"] == ["events"], "boto3 delete/list streams")
    finally:
        srv.stop()
    # Restart on the same data: records and iterators' streams are still there.
    srv = e2e.Server(sys.argv[1], data)
    try:
        c = boto3.client("kinesis", endpoint_url=srv.url, region_name=e2e.REGION,
                         aws_access_key_id=e2e.AK, aws_secret_access_key=e2e.SK)
        recs, _ = drain(c, "events", "shardId-000000000000")
        e2e.check(len(recs) == 101, "after a restart: the parent shard's 101 records")
    finally:
        srv.stop()
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


def signed_raw(url, op, body):
    """A SigV4-signed CBOR request built with botocore's signer."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-cbor-1.1",
        "X-Amz-Target": "Kinesis_20131202." + op})
    SigV4Auth(Credentials(e2e.AK, e2e.SK), "kinesis", e2e.REGION).add_auth(req)
    r = urllib.request.Request(url + "/", data=body, headers=dict(req.headers), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as ex:
        return ex.code, ex.headers.get("Content-Type"), ex.read()


if __name__ == "__main__":
    sys.exit(main())
