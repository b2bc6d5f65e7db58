# SPDX-License-Identifier: Apache-2.0
"""Record streams: UpdateShardCount and the per-shard limits, with the real clients (Debian's AWS
CLI v2 and boto3) against the real camstream-ingest.

UpdateShardCount (UNIFORM_SCALING): 2 -> 4 -> 3 shards; the response fields; ListShards shows
the closed parents (EndingSequenceNumber) and the lineage (ParentShardId,
AdjacentParentShardId) back to the first shards; the open shards split the hash space evenly;
records put before are read back through the parents (to their end, then ChildShards), new puts
land in the open shard whose range holds MD5(partition key); the service's bounds (at most
double, at least half, InvalidArgumentException) and 10 calls a day (LimitExceededException).

Limits: the server runs with --kds-shard-limits service and a file clock (CS_KDS_CLOCK_FILE)
that the test moves, so every figure is exact: a stream's `camstream:shard-limits` tag, records/s
and bytes/s per record in PutRecords (ErrorCode ProvisionedThroughputExceededException, the
service's message), whole-call errors for PutRecord and GetRecords, refill after a second of
the clock, DescribeLimits, the server default for untagged streams.

usage: kds_scaling.py CAMSTREAM_INGEST"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cs_e2e as e2e  # noqa: E402

AWS = "/usr/bin/aws"
TOP = 2 ** 128
PTEE = "ProvisionedThroughputExceededException"


def cli(url, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK,
               AWS_DEFAULT_REGION=e2e.REGION, AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
    env.pop("AWS_PROFILE", None)
    p = subprocess.run([AWS, "--endpoint-url", url, "--output", "json", "kinesis"] + list(args),
                       capture_output=True, text=True, env=env, timeout=60)
    try:
        doc = json.loads(p.stdout) if p.stdout.strip() else {}
    except ValueError:
        doc = None
    return p.returncode, doc, p.stderr


class Clock:
    """The server's record-stream clock: epoch milliseconds in a file, replaced atomically."""

    def __init__(self, path, ms):
        self.path, self.ms = path, ms
        self.set(ms)

    def set(self, ms):
        self.ms = ms
        with open(self.path + ".tmp", "w") as f:
            f.write("%d\n" % ms)
        os.replace(self.path + ".tmp", self.path)

    def advance(self, ms):
        self.set(self.ms + ms)


def md5_key(k):
    return int.from_bytes(hashlib.md5(k.encode()).digest(), "big")


def even(n, i):
    """The service's even split: shard i of n starts at i * (2^128 // n); the last ends at the top."""
    step = TOP // n
    return i * step, (TOP - 1 if i == n - 1 else (i + 1) * step - 1)


def rng(s):
    return int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])


def is_open(s):
    return "EndingSequenceNumber" not in s["SequenceNumberRange"]


def open_for(shards, key):
    h = md5_key(key)
    for s in shards:
        lo, hi = rng(s)
        if is_open(s) and lo <= h <= hi:
            return s["ShardId"]
    return None


def list_all(c, name):
    out, r = [], c.list_shards(StreamName=name)
    out += r["Shards"]
    while r.get("NextToken"):
        r = c.list_shards(NextToken=r["NextToken"])
        out += r["Shards"]
    return out


def read_shard(c, name, sid):
    """Every record of one shard from TRIM_HORIZON to its end (closed) or tip (open); the last
    GetRecords answer."""
    it = c.get_shard_iterator(StreamName=name, ShardId=sid,
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    out, last = [], None
    for _ in range(50):
        g = c.get_records(ShardIterator=it, Limit=10000)
        out += g["Records"]
        last = g
        it = g.get("NextShardIterator")
        if it is None or not g["Records"]:
            break
    return out, last


def read_lineage(c, name, shards):
    """The whole stream, parents before children (as a KCL-style reader does): {shard: [data]}."""
    by_id = {s["ShardId"]: s for s in shards}
    done, order, got = set(), [], {}
    while len(done) < len(shards):
        moved = False
        for s in shards:
            sid = s["ShardId"]
            parents = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId"))
                       if p and p in by_id]
            if sid in done or any(p not in done for p in parents):
                continue
            recs, _ = read_shard(c, name, sid)
            got[sid] = [(r["PartitionKey"], r["Data"].decode()) for r in recs]
            done.add(sid)
            order.append(sid)
            moved = True
        if not moved:
            break
    return got, order


def scaling(url, c):
    from botocore.exceptions import ClientError
    name = "scale"
    c.create_stream(StreamName=name, ShardCount=2)
    c.add_tags_to_stream(StreamName=name, Tags={"camstream:shard-limits": "off"})
    first = ["before-%d" % i for i in range(60)]
    r = c.put_records(StreamName=name, Records=[
        {"Data": k.encode(), "PartitionKey": k} for k in first])
    e2e.check(r["FailedRecordCount"] == 0, "boto3 put_records x60 into 2 shards")
    placed = {k: x["ShardId"] for k, x in zip(first, r["Records"])}

    # 2 -> 4 with the AWS CLI
    rc, doc, err = cli(url, "update-shard-count", "--stream-name", name, "--target-shard-count",
                       "4", "--scaling-type", "UNIFORM_SCALING")
    e2e.check(rc == 0 and doc.get("StreamName") == name and doc.get("CurrentShardCount") == 2 and
              doc.get("TargetShardCount") == 4 and
              doc.get("StreamARN", "").endswith(":stream/" + name),
              "cli update-shard-count 2 -> 4: StreamName, StreamARN, CurrentShardCount 2, "
              "TargetShardCount 4 %s" % err.strip())
    rc, doc, err = cli(url, "list-shards", "--stream-name", name)
    shards = doc.get("Shards", []) if doc else []
    opened = [s for s in shards if is_open(s)]
    closed = [s for s in shards if not is_open(s)]
    e2e.check(rc == 0 and len(shards) == 6 and
              sorted(s["ShardId"] for s in closed) == ["shardId-000000000000",
                                                       "shardId-000000000001"],
              "cli list-shards after 2 -> 4: six shards, the two parents closed "
              "(EndingSequenceNumber)")
    e2e.check([rng(s) for s in sorted(opened, key=lambda s: rng(s)[0])] ==
              [even(4, i) for i in range(4)],
              "the four open shards split the hash space evenly (shard 1 of 4 starts at 2^126)")
    e2e.check(all(s.get("ParentShardId") in ("shardId-000000000000", "shardId-000000000001") and
                  "AdjacentParentShardId" not in s for s in opened) and
              all(rng(c_)[0] >= rng(p)[0] and rng(c_)[1] <= rng(p)[1]
                  for c_ in opened for p in closed if c_["ParentShardId"] == p["ShardId"]),
              "each new shard's ParentShardId is the closed shard whose range holds its own")
    rc, doc, _ = cli(url, "describe-stream-summary", "--stream-name", name)
    e2e.check(rc == 0 and doc["StreamDescriptionSummary"]["OpenShardCount"] == 4,
              "cli describe-stream-summary: OpenShardCount 4")

    # the parents still hold what was put before, up to their end, then ChildShards
    ok = True
    for p in ("shardId-000000000000", "shardId-000000000001"):
        recs, last = read_shard(c, name, p)
        want = [k for k in first if placed[k] == p]
        kids = sorted(x["ShardId"] for x in (last or {}).get("ChildShards", []))
        want_kids = sorted(s["ShardId"] for s in opened if s["ParentShardId"] == p)
        ok = ok and [x["Data"].decode() for x in recs] == want and \
            last.get("NextShardIterator") is None and kids == want_kids and len(kids) == 2
    e2e.check(ok, "boto3 get_records through each closed parent: its records in put order, then "
              "no NextShardIterator and its two ChildShards")

    second = ["after4-%d" % i for i in range(60)]
    r = c.put_records(StreamName=name, Records=[
        {"Data": k.encode(), "PartitionKey": k} for k in second])
    shards = list_all(c, name)
    e2e.check(r["FailedRecordCount"] == 0 and
              all(x["ShardId"] == open_for(shards, k) for x, k in zip(r["Records"], second)),
              "boto3 put_records after 2 -> 4: each record lands in the open shard holding "
              "MD5(key)")

    # 4 -> 3 with boto3
    u = c.update_shard_count(StreamName=name, TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    e2e.check(u["CurrentShardCount"] == 4 and u["TargetShardCount"] == 3 and
              u["StreamName"] == name, "boto3 update_shard_count 4 -> 3: the response")
    shards = list_all(c, name)
    by_id = {s["ShardId"]: s for s in shards}
    opened = sorted([s for s in shards if is_open(s)], key=lambda s: rng(s)[0])
    e2e.check([rng(s) for s in opened] == [even(3, i) for i in range(3)],
              "boto3 list_shards after 4 -> 3: three open shards splitting the space evenly")

    def roots(sid, seen=None):
        s = by_id[sid]
        ps = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p]
        if not ps:
            return {sid}
        out = set()
        for p in ps:
            out |= roots(p)
        return out

    e2e.check(all(s.get("ParentShardId") and s.get("AdjacentParentShardId") for s in opened),
              "each of the three came from a merge: ParentShardId and AdjacentParentShardId")
    e2e.check(set().union(*(roots(s["ShardId"]) for s in opened)) ==
              {"shardId-000000000000", "shardId-000000000001"} and
              all(not is_open(s) for s in shards if s not in opened),
              "the lineage of the open shards leads back to shards 0 and 1; every other shard "
              "is closed")
    ok = True
    for s in shards:
        for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")):
            if p:
                # a child's range lies inside its parents' ranges together
                ps = [by_id[x] for x in (s.get("ParentShardId"), s.get("AdjacentParentShardId"))
                      if x]
                lo = min(rng(x)[0] for x in ps)
                hi = max(rng(x)[1] for x in ps)
                ok = ok and lo <= rng(s)[0] and rng(s)[1] <= hi
    e2e.check(ok, "every child's hash range lies inside its parents' ranges")

    third = ["after3-%d" % i for i in range(60)]
    r = c.put_records(StreamName=name, Records=[
        {"Data": k.encode(), "PartitionKey": k} for k in third])
    e2e.check(r["FailedRecordCount"] == 0 and
              all(x["ShardId"] == open_for(shards, k) for x, k in zip(r["Records"], third)),
              "boto3 put_records after 4 -> 3: routed by MD5 to the three open shards")
    got, order = read_lineage(c, name, shards)
    allrecs = [x for v in got.values() for x in v]
    keys = [k for k, _ in allrecs]
    e2e.check(len(order) == len(shards) and sorted(keys) == sorted(first + second + third) and
              all(k == d for k, d in allrecs),
              "reading the stream parents before children: all %d records exactly once" %
              len(first + second + third))

    # the service's bounds
    try:
        c.update_shard_count(StreamName=name, TargetShardCount=7, ScalingType="UNIFORM_SCALING")
        e2e.check(False, "3 -> 7 refused")
    except ClientError as e:
        e2e.check(e.response["Error"]["Code"] == "InvalidArgumentException" and
                  "double" in e.response["Error"]["Message"],
                  "boto3 update_shard_count 3 -> 7 (over double): InvalidArgumentException")
    rc, _, err = cli(url, "update-shard-count", "--stream-name", name, "--target-shard-count",
                     "1", "--scaling-type", "UNIFORM_SCALING")
    e2e.check(rc != 0 and "InvalidArgumentException" in err and "half" in err,
              "cli update-shard-count 3 -> 1 (below half): InvalidArgumentException")
    rc, _, err = cli(url, "update-shard-count", "--stream-name", "nope", "--target-shard-count",
                     "1", "--scaling-type", "UNIFORM_SCALING")
    e2e.check(rc != 0 and "ResourceNotFoundException" in err,
              "cli update-shard-count of a missing stream: ResourceNotFoundException")
    try:
        c.update_shard_count(StreamName=name, TargetShardCount=4, ScalingType="NOT_A_TYPE")
        e2e.check(False, "a bad ScalingType refused")
    except ClientError as e:
        e2e.check(e.response["Error"]["Code"] == "ValidationException",
                  "boto3 update_shard_count with ScalingType NOT_A_TYPE: ValidationException")
    c.create_stream(StreamName="ondemand", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    try:
        c.update_shard_count(StreamName="ondemand", TargetShardCount=2,
                             ScalingType="UNIFORM_SCALING")
        e2e.check(False, "update_shard_count of an ON_DEMAND stream refused")
    except ClientError as e:
        e2e.check(e.response["Error"]["Code"] == "ValidationException",
                  "boto3 update_shard_count of an ON_DEMAND stream: ValidationException")
    return name


def rate_of_calls(c, clock, name):
    """Ten UpdateShardCount calls in a day, the 11th refused until the clock moves a day."""
    from botocore.exceptions import ClientError
    n = 2  # made by scaling()
    target = 3
    ok = True
    while n < 10:
        target = 4 if target == 3 else 3
        try:
            c.update_shard_count(StreamName=name, TargetShardCount=target,
                                 ScalingType="UNIFORM_SCALING")
        except ClientError as e:
            ok = False
            e2e.note("call %d: %s" % (n + 1, e))
        n += 1
    e2e.check(ok, "update_shard_count calls 3..10 of the day accepted")
    try:
        c.update_shard_count(StreamName=name, TargetShardCount=target + (1 if target == 3 else -1),
                             ScalingType="UNIFORM_SCALING")
        e2e.check(False, "the 11th update_shard_count of the day refused")
    except ClientError as e:
        e2e.check(e.response["Error"]["Code"] == "LimitExceededException",
                  "the 11th update_shard_count within 24 h: LimitExceededException")
    clock.advance(24 * 3600 * 1000 + 1000)
    u = c.update_shard_count(StreamName=name, TargetShardCount=target + (1 if target == 3 else -1),
                             ScalingType="UNIFORM_SCALING")
    opened = [s for s in list_all(c, name) if is_open(s)]
    e2e.check(u["TargetShardCount"] == len(opened) and
              sorted(rng(s) for s in opened) == [even(len(opened), i) for i in range(len(opened))],
              "a day later (file clock) update_shard_count works again; open shards even")


def limits(url, c, clock):
    from botocore.exceptions import ClientError
    raw = {}

    def keep(http_response=None, **kw):
        raw["body"] = http_response.content if http_response is not None else b""
    c.meta.events.register("after-call.kinesis.DescribeLimits", keep)
    d = c.describe_limits()
    doc = json.loads(raw.get("body") or b"{}")
    e2e.check(doc.get("CamstreamShardLimits") == {"RecordsPerSecond": 1000,
                                                  "BytesPerSecond": 1048576,
                                                  "GetRecordsPerSecond": 5} and
              d["ShardLimit"] > 0, "boto3 describe_limits: the server's default "
              "(--kds-shard-limits service) in CamstreamShardLimits %s" % doc)

    name = "lim"
    c.create_stream(StreamName=name, ShardCount=1)
    try:
        c.add_tags_to_stream(StreamName=name, Tags={"camstream:shard-limits": "records=x"})
        e2e.check(False, "a bad limits tag refused")
    except ClientError as e:
        e2e.check(e.response["Error"]["Code"] == "InvalidArgumentException",
                  "add_tags_to_stream camstream:shard-limits=records=x: InvalidArgumentException")
    c.add_tags_to_stream(StreamName=name,
                         Tags={"camstream:shard-limits": "records=10,bytes=1k,getrecords=2"})
    rc, doc, err = cli(url, "describe-limits")
    e2e.check(rc == 0 and doc.get("OpenShardCount", 0) >= 1,
              "cli describe-limits: OpenShardCount %s" % (doc or {}).get("OpenShardCount"))

    # DescribeLimits naming a stream (a camstream extension: a raw signed request)
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import urllib.request
    body = json.dumps({"StreamName": name}).encode()
    req = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "Kinesis_20131202.DescribeLimits"})
    SigV4Auth(Credentials(e2e.AK, e2e.SK), "kinesis", e2e.REGION).add_auth(req)
    with urllib.request.urlopen(urllib.request.Request(url + "/", data=body,
                                                       headers=dict(req.headers.items()))) as f:
        doc = json.loads(f.read())
    e2e.check(doc.get("CamstreamShardLimits") == {"RecordsPerSecond": 10, "BytesPerSecond": 1024,
                                                  "GetRecordsPerSecond": 2},
              "DescribeLimits with StreamName: the stream's own figures from its tag %s" %
              doc.get("CamstreamShardLimits"))

    msg = "Rate exceeded for shard shardId-000000000000 in stream lim under account 123456789012."
    r = c.put_records(StreamName=name, Records=[
        {"Data": ("r%02d" % i).encode(), "PartitionKey": "k"} for i in range(15)])
    recs = r["Records"]
    e2e.check(r["FailedRecordCount"] == 5 and all("SequenceNumber" in x for x in recs[:10]) and
              all(x.get("ErrorCode") == PTEE and x.get("ErrorMessage") == msg
                  for x in recs[10:]),
              "put_records x15 at records=10/s: the first 10 stored, the last 5 "
              "ErrorCode ProvisionedThroughputExceededException with the service's message")
    try:
        c.put_record(StreamName=name, Data=b"single", PartitionKey="k")
        e2e.check(False, "put_record over the limit refused")
    except ClientError as e:
        e2e.check(e.response["Error"]["Code"] == PTEE and
                  e.response["ResponseMetadata"]["HTTPStatusCode"] == 400,
                  "put_record over the limit: HTTP 400 ProvisionedThroughputExceededException")
    clock.advance(1000)
    p = c.put_record(StreamName=name, Data=b"single", PartitionKey="k")
    e2e.check(len(p["SequenceNumber"]) == 56, "one second later (file clock) put_record works")
    clock.advance(1000)
    r = c.put_records(StreamName=name, Records=[
        {"Data": bytes([65 + i]) * 400, "PartitionKey": "k"} for i in range(3)])
    e2e.check([x.get("ErrorCode") for x in r["Records"]] == [None, None, PTEE],
              "bytes=1k: two records of 401 bytes (data and key) pass, the third fails")

    it = c.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    g1 = c.get_records(ShardIterator=it, Limit=5)
    g2 = c.get_records(ShardIterator=g1["NextShardIterator"], Limit=100)
    try:
        c.get_records(ShardIterator=g2["NextShardIterator"])
        e2e.check(False, "a third get_records in the same second refused")
    except ClientError as e:
        e2e.check(e.response["Error"]["Code"] == PTEE and
                  "shardId-000000000000" in e.response["Error"]["Message"],
                  "getrecords=2: the third get_records in a second gets "
                  "ProvisionedThroughputExceededException")
    got = [x["Data"] for x in g1["Records"] + g2["Records"]]
    want = [("r%02d" % i).encode() for i in range(10)] + [b"single", b"A" * 400, b"B" * 400]
    e2e.check(got == want, "only the admitted records were stored, in order (%d)" % len(got))
    clock.advance(1000)
    g3 = c.get_records(ShardIterator=g2["NextShardIterator"])
    e2e.check(g3["Records"] == [] and "NextShardIterator" in g3,
              "one second later get_records works again")

    c.remove_tags_from_stream(StreamName=name, TagKeys=["camstream:shard-limits"])
    clock.advance(1000)
    r = c.put_records(StreamName=name, Records=[
        {"Data": b"x", "PartitionKey": "k%d" % i} for i in range(500)])
    r2 = c.put_records(StreamName=name, Records=[
        {"Data": b"x", "PartitionKey": "k%d" % i} for i in range(500)])
    r3 = c.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}])
    e2e.check(r["FailedRecordCount"] == 0 and r2["FailedRecordCount"] == 0 and
              r3["FailedRecordCount"] == 1 and r3["Records"][0]["ErrorCode"] == PTEE,
              "tag removed: the server's default (service: 1000 records/s) applies, the 1001st "
              "record in a second fails")
    c.create_stream(StreamName="free", ShardCount=1)
    c.add_tags_to_stream(StreamName="free", Tags={"camstream:shard-limits": "off"})
    ok = True
    for _ in range(3):
        r = c.put_records(StreamName="free", Records=[
            {"Data": b"x", "PartitionKey": "k%d" % i} for i in range(500)])
        ok = ok and r["FailedRecordCount"] == 0
    it = c.get_shard_iterator(StreamName="free", ShardId="shardId-000000000000",
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for _ in range(8):
        g = c.get_records(ShardIterator=it, Limit=1)
        it = g["NextShardIterator"]
    e2e.check(ok, "a stream tagged 'off': 1500 records and 8 get_records in one second pass")


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
    import time
    tmp = tempfile.mkdtemp(prefix="cs-kds-scale-")
    clock = Clock(os.path.join(tmp, "clock"), int(time.time() * 1000))
    os.environ["CS_KDS_CLOCK_FILE"] = clock.path
    srv = e2e.Server(sys.argv[1], os.path.join(tmp, "data"),
                     extra=["--kds-shard-limits", "service"])
    if not e2e.check(srv.url != "", "server up: " + srv.banner):
        return e2e.finish()
    try:
        c = boto3.client("kinesis", endpoint_url=srv.url, region_name=e2e.REGION,
                         aws_access_key_id=e2e.AK, aws_secret_access_key=e2e.SK,
                         config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        name = scaling(srv.url, c)
        limits(srv.url, c, clock)
        rate_of_calls(c, clock, name)
    except Exception as e:  # a client error the checks did not expect
        import traceback
        traceback.print_exc()
        e2e.check(False, "unexpected %s: %s" % (type(e).__name__, e))
    e2e.check(srv.stop() == 0, "server stops cleanly")
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


if __name__ == "__main__":
    sys.exit(main())
