# SPDX-License-Identifier: Apache-2.0
"""Enhanced fan-out of record streams (PROTOCOL.md §6) with the real clients against the real
camstream-ingest: the stream consumers with Debian's AWS CLI v2 and boto3 (register, describe by
ARN and by stream + name, list with pagination, deregister both ways, the 20-consumer limit, the
service's errors, ConsumerCount), and SubscribeToShard with boto3 (`subscribe_to_shard`, iterating
its EventStream) over HTTP/1.1 chunked, plain and TLS: records put while subscribed arrive in
order, exactly once, with ContinuationSequenceNumber = the event's last sequence number; every
StartingPosition type; a resubscription AFTER the continuation of an empty shard misses nothing;
a second subscription of the same consumer and shard is refused (ResourceInUseException), a later
one takes over; a split ends the subscription with ChildShards and no continuation; a
deregistration or a stream deletion ends it with ResourceNotFoundException; the subscription ends
after its lifetime (CS_KDS_SUBSCRIPTION_MS, short here). The AWS CLI v2 has no subscribe-to-shard
command (PROTOCOL.md §7): checked, so the day it gains one this test says so.

usage: kds_subscribe.py CAMSTREAM_INGEST"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cs_e2e as e2e  # noqa: E402

AWS = "/usr/bin/aws"
ACCOUNT = "123456789012"


def cli(url, *args, ca=None):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK,
               AWS_DEFAULT_REGION=e2e.REGION, AWS_PAGER="")
    env.pop("AWS_PROFILE", None)
    extra = ["--ca-bundle", ca] if ca else []
    p = subprocess.run([AWS, "--endpoint-url", url, "--output", "json"] + extra + ["kinesis"] +
                       list(args), capture_output=True, text=True, env=env, timeout=60)
    try:
        doc = json.loads(p.stdout) if p.stdout.strip() else {}
    except ValueError:
        doc = None
    return p.returncode, doc, p.stderr


def error_code(fn, **kw):
    """The service error code of a call expected to fail ("" if it succeeded)."""
    from botocore.exceptions import ClientError
    try:
        fn(**kw)
    except ClientError as ex:
        return ex.response["Error"]["Code"]
    return ""


def collect(stream, want, on_first=None):
    """Iterates an EventStream until `want` records arrived or it ends: (records, events, error).
    `on_first` runs once after the first event."""
    from botocore.exceptions import EventStreamError
    recs, events, err = [], [], None
    try:
        for ev in stream:
            e = ev.get("SubscribeToShardEvent")
            if e is None:
                continue
            events.append(e)
            recs += e["Records"]
            if on_first is not None:
                on_first()
                on_first = None
            if len(recs) >= want or ("ChildShards" in e and
                                     e.get("ContinuationSequenceNumber") is None):
                break
    except EventStreamError as ex:
        err = ex.response.get("Error", {}).get("Code") or str(ex)
    return recs, events, err


def continuation_ok(events):
    """Each event with records carries the last one's sequence number as continuation."""
    return all(e.get("ContinuationSequenceNumber") == e["Records"][-1]["SequenceNumber"]
               for e in events if e["Records"])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if e2e.missing_tools(AWS):
        print("SKIP: missing " + AWS)
        return 77
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import EventStreamError  # noqa: F401
    except ImportError:
        print("SKIP: python3-boto3 is not installed")
        return 77
    tmp = tempfile.mkdtemp(prefix="cs-kds-sub-")
    # Server A: long subscriptions, a second subscription always refused, no heartbeat within the
    # test: every record after the first event arrives because its put woke the subscription.
    os.environ.update(CS_KDS_SUBSCRIPTION_MS="120000", CS_KDS_SUBSCRIBE_TAKEOVER_MS="600000",
                      CS_KDS_SUBSCRIBE_HEARTBEAT_MS="600000")
    srv = e2e.Server(sys.argv[1], os.path.join(tmp, "data"))
    if not e2e.check(srv.url != "", "server up: " + srv.banner):
        return e2e.finish()
    url = srv.url

    def client(u=url, verify=None):
        return boto3.client("kinesis", endpoint_url=u, region_name=e2e.REGION,
                            aws_access_key_id=e2e.AK, aws_secret_access_key=e2e.SK,
                            verify=verify, config=Config(retries={"max_attempts": 1},
                                                         read_timeout=120))
    try:
        c = client()
        # --- consumers with the AWS CLI v2 ---
        rc, _, err = cli(url, "create-stream", "--stream-name", "fan", "--shard-count", "2")
        e2e.check(rc == 0, "cli create-stream fan %s" % err.strip())
        sarn = "arn:aws:kinesis:%s:%s:stream/fan" % (e2e.REGION, ACCOUNT)
        rc, doc, err = cli(url, "register-stream-consumer", "--stream-arn", sarn,
                           "--consumer-name", "app1")
        cons = (doc or {}).get("Consumer", {})
        arn1 = cons.get("ConsumerARN", "")
        e2e.check(rc == 0 and cons.get("ConsumerName") == "app1" and
                  cons.get("ConsumerStatus") == "CREATING" and
                  re.fullmatch(re.escape(sarn) + r"/consumer/app1:\d{10}", arn1) is not None,
                  "cli register-stream-consumer: CREATING, ARN stream/fan/consumer/app1:<epoch s>"
                  " (%s %s)" % (arn1, err.strip()))
        rc, _, err = cli(url, "register-stream-consumer", "--stream-arn", sarn,
                         "--consumer-name", "app1")
        e2e.check(rc != 0 and "ResourceInUseException" in err,
                  "cli register-stream-consumer twice: ResourceInUseException")
        rc, doc, err = cli(url, "describe-stream-consumer", "--consumer-arn", arn1)
        d = (doc or {}).get("ConsumerDescription", {})
        e2e.check(rc == 0 and d.get("ConsumerStatus") == "ACTIVE" and d.get("StreamARN") == sarn
                  and d.get("ConsumerARN") == arn1 and "ConsumerCreationTimestamp" in d,
                  "cli describe-stream-consumer --consumer-arn: ACTIVE, StreamARN %s" %
                  err.strip())
        rc, doc, err = cli(url, "describe-stream-consumer", "--stream-arn", sarn,
                           "--consumer-name", "app1")
        e2e.check(rc == 0 and doc["ConsumerDescription"]["ConsumerARN"] == arn1,
                  "cli describe-stream-consumer --stream-arn --consumer-name")
        rc, doc, err = cli(url, "list-stream-consumers", "--stream-arn", sarn)
        e2e.check(rc == 0 and [x["ConsumerName"] for x in doc["Consumers"]] == ["app1"],
                  "cli list-stream-consumers: [app1] %s" % err.strip())
        rc, doc, _ = cli(url, "describe-stream-summary", "--stream-name", "fan")
        e2e.check(rc == 0 and doc["StreamDescriptionSummary"]["ConsumerCount"] == 1,
                  "cli describe-stream-summary: ConsumerCount 1")
        rc, _, err = cli(url, "describe-stream-consumer", "--stream-arn", sarn,
                         "--consumer-name", "nobody")
        e2e.check(rc != 0 and "ResourceNotFoundException" in err,
                  "cli describe-stream-consumer of an unknown name: ResourceNotFoundException")
        rc, _, err = cli(url, "register-stream-consumer", "--stream-arn", sarn + "-none",
                         "--consumer-name", "x")
        e2e.check(rc != 0 and "ResourceNotFoundException" in err,
                  "cli register-stream-consumer on an unknown stream: ResourceNotFoundException")
        rc, _, err = cli(url, "subscribe-to-shard", "--consumer-arn", arn1, "--shard-id",
                         "shardId-000000000000", "--starting-position", "Type=LATEST")
        e2e.check(rc != 0 and "Invalid choice" in err,
                  "cli: AWS CLI v2 has no subscribe-to-shard (PROTOCOL.md §7); boto3 instead")

        # --- consumers with boto3: the limit, pagination, deregistration ---
        for i in range(2, 21):
            c.register_stream_consumer(StreamARN=sarn, ConsumerName="app%d" % i)
        e2e.check(error_code(c.register_stream_consumer, StreamARN=sarn, ConsumerName="app21")
                  == "LimitExceededException", "boto3 the 21st consumer: LimitExceededException")
        names, kw, pages = [], {"StreamARN": sarn, "MaxResults": 7}, 0
        while True:
            page = c.list_stream_consumers(**kw)
            pages += 1
            names += [x["ConsumerName"] for x in page["Consumers"]]
            if "NextToken" not in page or pages > 10:
                break
            kw = {"StreamARN": sarn, "NextToken": page["NextToken"], "MaxResults": 7}
        e2e.check(pages == 3 and sorted(names) == sorted("app%d" % i for i in range(1, 21)),
                  "boto3 list_stream_consumers MaxResults 7: 3 pages, each consumer once (%d, %d)"
                  % (pages, len(names)))
        arn5 = c.describe_stream_consumer(StreamARN=sarn, ConsumerName="app5")[
            "ConsumerDescription"]["ConsumerARN"]
        c.deregister_stream_consumer(ConsumerARN=arn5)
        c.deregister_stream_consumer(StreamARN=sarn, ConsumerName="app6")
        rc, _, err = cli(url, "deregister-stream-consumer", "--stream-arn", sarn,
                         "--consumer-name", "app7")
        e2e.check(rc == 0, "cli deregister-stream-consumer %s" % err.strip())
        e2e.check(error_code(c.describe_stream_consumer, ConsumerARN=arn5) ==
                  "ResourceNotFoundException" and
                  error_code(c.deregister_stream_consumer, StreamARN=sarn, ConsumerName="app6") ==
                  "ResourceNotFoundException",
                  "boto3 deregistered (by ARN, by stream + name): ResourceNotFoundException")
        e2e.check(error_code(c.deregister_stream_consumer, StreamARN=sarn) ==
                  "InvalidArgumentException",
                  "boto3 deregister without ConsumerName/ARN: InvalidArgumentException")
        e2e.check(c.describe_stream_summary(StreamName="fan")["StreamDescriptionSummary"]
                  ["ConsumerCount"] == 17, "boto3 ConsumerCount 17 after 3 deregistrations")
        for i in range(8, 21):
            c.deregister_stream_consumer(StreamARN=sarn, ConsumerName="app%d" % i)

        # --- SubscribeToShard: records put while subscribed ---
        c.create_stream(StreamName="live", ShardCount=1)
        larn = "arn:aws:kinesis:%s:%s:stream/live" % (e2e.REGION, ACCOUNT)

        def reg(stream_arn, name):
            return c.register_stream_consumer(StreamARN=stream_arn,
                                              ConsumerName=name)["Consumer"]["ConsumerARN"]
        pre = [b"pre-%d" % i for i in range(5)]
        c.put_records(StreamName="live", Records=[{"Data": d, "PartitionKey": "k"} for d in pre])
        carn = reg(larn, "reader")
        sub = c.subscribe_to_shard(ConsumerARN=carn, ShardId="shardId-000000000000",
                                   StartingPosition={"Type": "TRIM_HORIZON"})
        e2e.check(sub["ResponseMetadata"]["HTTPHeaders"].get("content-type") ==
                  "application/vnd.amazon.eventstream",
                  "boto3 subscribe_to_shard: application/vnd.amazon.eventstream")
        live = [b"live-%03d" % i for i in range(200)]
        putter = client()

        def put_all():
            for b in range(10):
                putter.put_records(StreamName="live", Records=[
                    {"Data": d, "PartitionKey": "p%d" % i}
                    for i, d in enumerate(live[b * 20:(b + 1) * 20])])
        th = threading.Thread(target=put_all)
        recs, events, err = collect(sub["EventStream"], len(pre) + len(live), th.start)
        th.join()
        seqs = [r["SequenceNumber"] for r in recs]
        e2e.check(err is None and [r["Data"] for r in recs] == pre + live,
                  "boto3 events: the 5 records before and the 200 put while subscribed, in order,"
                  " exactly once (%d records, %d events, %s)" % (len(recs), len(events), err))
        e2e.check(all(int(a) < int(b) for a, b in zip(seqs, seqs[1:])) and
                  all(len(s) == 56 for s in seqs), "sequence numbers strictly increasing")
        e2e.check(continuation_ok(events) and
                  all(isinstance(e.get("MillisBehindLatest"), int) for e in events),
                  "each event: ContinuationSequenceNumber = its last record, MillisBehindLatest")
        e2e.check(error_code(c.subscribe_to_shard, ConsumerARN=carn,
                             ShardId="shardId-000000000000",
                             StartingPosition={"Type": "LATEST"}) == "ResourceInUseException",
                  "a second subscription of the consumer and shard: ResourceInUseException")
        e2e.check(error_code(c.subscribe_to_shard, ConsumerARN=carn,
                             ShardId="shardId-000000000009",
                             StartingPosition={"Type": "LATEST"}) == "ResourceNotFoundException",
                  "an unknown shard: ResourceNotFoundException")
        e2e.check(error_code(c.subscribe_to_shard, ConsumerARN=arn1[:-1] + "0x",
                             ShardId="shardId-000000000000",
                             StartingPosition={"Type": "LATEST"}) in
                  ("ResourceNotFoundException", "InvalidArgumentException"),
                  "an unknown consumer ARN: refused")
        # the subscription still works after the refusals: one more record arrives
        c.put_record(StreamName="live", Data=b"after-refusal", PartitionKey="k")
        more, _, err = collect(sub["EventStream"], 1)
        e2e.check([r["Data"] for r in more] == [b"after-refusal"],
                  "the first subscription goes on: the next record arrives once")
        sub["EventStream"].close()

        # --- every StartingPosition type ---
        allrecs = pre + live + [b"after-refusal"]
        s3 = seqs[3]

        def first_of(name, pos, want=1):
            s = c.subscribe_to_shard(ConsumerARN=reg(larn, name), ShardId="shardId-000000000000",
                                     StartingPosition=pos)
            r, ev, er = collect(s["EventStream"], want)
            s["EventStream"].close()
            return r, ev, er
        r, _, _ = first_of("at", {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": s3})
        e2e.check(r and r[0]["SequenceNumber"] == s3, "AT_SEQUENCE_NUMBER starts at it")
        r, _, _ = first_of("after", {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": s3})
        e2e.check(r and r[0]["SequenceNumber"] == seqs[4], "AFTER_SEQUENCE_NUMBER: the next one")
        r, _, _ = first_of("ts", {"Type": "AT_TIMESTAMP", "Timestamp": 0}, len(allrecs))
        e2e.check([x["Data"] for x in r] == allrecs, "AT_TIMESTAMP 0: everything, in order")
        s = c.subscribe_to_shard(ConsumerARN=reg(larn, "latest"), ShardId="shardId-000000000000",
                                 StartingPosition={"Type": "LATEST"})
        r, ev, _ = collect(s["EventStream"], 1,
                           lambda: c.put_record(StreamName="live", Data=b"newest",
                                                PartitionKey="k"))
        s["EventStream"].close()
        e2e.check(ev and ev[0]["Records"] == [] and [x["Data"] for x in r] == [b"newest"],
                  "LATEST: an empty first event, then only the record put afterwards")
        e2e.check(error_code(c.subscribe_to_shard, ConsumerARN=carn,
                             ShardId="shardId-000000000000",
                             StartingPosition={"Type": "AT_SEQUENCE_NUMBER"}) in
                  ("InvalidArgumentException", "ValidationException"),
                  "AT_SEQUENCE_NUMBER without a number: refused")

        # --- resubscribing after the continuation of an empty shard misses nothing ---
        c.create_stream(StreamName="empty", ShardCount=1)
        earn = "arn:aws:kinesis:%s:%s:stream/empty" % (e2e.REGION, ACCOUNT)
        ecarn = reg(earn, "kcl")
        s = c.subscribe_to_shard(ConsumerARN=ecarn, ShardId="shardId-000000000000",
                                 StartingPosition={"Type": "TRIM_HORIZON"})
        ev = []
        for e in s["EventStream"]:
            ev.append(e["SubscribeToShardEvent"])
            break
        s["EventStream"].close()
        cont = ev[0].get("ContinuationSequenceNumber", "") if ev else ""
        c.put_record(StreamName="empty", Data=b"first-ever", PartitionKey="k")
        s = c.subscribe_to_shard(ConsumerARN=reg(earn, "kcl2"), ShardId="shardId-000000000000",
                                 StartingPosition={"Type": "AFTER_SEQUENCE_NUMBER",
                                                   "SequenceNumber": cont})
        r, _, er = collect(s["EventStream"], 1)
        s["EventStream"].close()
        e2e.check(len(cont) == 56 and [x["Data"] for x in r] == [b"first-ever"],
                  "empty shard: AFTER_SEQUENCE_NUMBER its continuation gets the first record (%s)"
                  % er)
        it = c.get_shard_iterator(StreamName="empty", ShardId="shardId-000000000000",
                                  ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                  StartingSequenceNumber=cont)["ShardIterator"]
        e2e.check([x["Data"] for x in c.get_records(ShardIterator=it)["Records"]] ==
                  [b"first-ever"], "... and so does GetShardIterator AFTER_SEQUENCE_NUMBER it")

        # --- CBOR, as the Java SDKs send it: CBOR events (byte strings, tag 1 timestamps) ---
        cbarn = reg(earn, "java")

        def tstr(t):
            b = t.encode()
            return (bytes([0x60 + len(b)]) if len(b) < 24 else bytes([0x78, len(b)])) + b
        body = bytes([0xa3]) + tstr("ConsumerARN") + tstr(cbarn) + tstr("ShardId") + \
            tstr("shardId-000000000000") + tstr("StartingPosition") + bytes([0xa1]) + \
            tstr("Type") + tstr("TRIM_HORIZON")
        kinds, payload = cbor_subscribe(url, body)
        e2e.check(kinds[:2] == [("event", "initial-response", "application/x-amz-cbor-1.1"),
                                ("event", "SubscribeToShardEvent",
                                 "application/x-amz-cbor-1.1")] and
                  b"\x4afirst-ever" in payload and b"\xc1\x1b" in payload and
                  b"ContinuationSequenceNumber" in payload,
                  "CBOR SubscribeToShard: initial-response, then a CBOR event with the data as a "
                  "byte string and a tag-1 timestamp (%s)" % kinds)

        # --- a split ends the subscription with ChildShards ---
        c.create_stream(StreamName="split", ShardCount=1)
        sparn = "arn:aws:kinesis:%s:%s:stream/split" % (e2e.REGION, ACCOUNT)
        s = c.subscribe_to_shard(ConsumerARN=reg(sparn, "r"), ShardId="shardId-000000000000",
                                 StartingPosition={"Type": "TRIM_HORIZON"})
        c.put_records(StreamName="split", Records=[{"Data": b"s%d" % i, "PartitionKey": "k"}
                                                   for i in range(3)])
        c.split_shard(StreamName="split", ShardToSplit="shardId-000000000000",
                      NewStartingHashKey=str(2 ** 127))
        r, ev, er = collect(s["EventStream"], 10 ** 9)
        last = ev[-1] if ev else {}
        kids = sorted(k["ShardId"] for k in last.get("ChildShards", []))
        e2e.check(er is None and [x["Data"] for x in r] == [b"s0", b"s1", b"s2"] and
                  kids == ["shardId-000000000001", "shardId-000000000002"] and
                  last.get("ContinuationSequenceNumber") is None,
                  "split: the 3 records, then ChildShards [1, 2] without a continuation (%s)" %
                  er)
        rest = list(s["EventStream"])
        e2e.check(rest == [], "... and the event stream ends there")

        # --- deregistration and deletion end a subscription with ResourceNotFoundException ---
        darn = reg(larn, "doomed")
        s = c.subscribe_to_shard(ConsumerARN=darn, ShardId="shardId-000000000000",
                                 StartingPosition={"Type": "LATEST"})
        r, ev, er = collect(s["EventStream"], 10 ** 9,
                            lambda: c.deregister_stream_consumer(ConsumerARN=darn))
        e2e.check(er is not None and "ResourceNotFoundException" in str(er),
                  "deregistered while subscribed: ResourceNotFoundException (%s)" % er)
        s = c.subscribe_to_shard(ConsumerARN=reg(larn, "gone"), ShardId="shardId-000000000000",
                                 StartingPosition={"Type": "LATEST"})
        r, ev, er = collect(s["EventStream"], 10 ** 9,
                            lambda: c.delete_stream(StreamName="live"))
        e2e.check(er is not None and "ResourceNotFoundException" in str(er),
                  "stream deleted while subscribed: ResourceNotFoundException (%s)" % er)

        # --- a graceful shutdown ends a live subscription cleanly ---
        s = c.subscribe_to_shard(ConsumerARN=reg(sarn, "shutdown"), ShardId="shardId-000000000000",
                                 StartingPosition={"Type": "LATEST"})
        next(iter(s["EventStream"]))
        rc = srv.stop()
        r, ev, er = collect(s["EventStream"], 10 ** 9)
        e2e.check(rc == 0 and er is None,
                  "SIGTERM during a subscription: its event stream ends cleanly (%s), exit %s" %
                  (er, rc))
    finally:
        e2e.check(srv.stop() == 0, "server A exits 0 on SIGTERM")

    # Server B over TLS: short subscriptions, immediate takeover.
    os.environ.update(CS_KDS_SUBSCRIPTION_MS="4000", CS_KDS_SUBSCRIBE_TAKEOVER_MS="0",
                      CS_KDS_SUBSCRIBE_HEARTBEAT_MS="300")
    cert, key = e2e.make_cert(tmp)
    srv = e2e.Server(sys.argv[1], os.path.join(tmp, "data-tls"),
                     extra=["--tls-cert", cert, "--tls-key", key])
    if not e2e.check(srv.url.startswith("https://"), "TLS server up: " + srv.banner):
        return e2e.finish()
    try:
        c = client(srv.url, cert)
        c.create_stream(StreamName="t", ShardCount=1)
        tarn = "arn:aws:kinesis:%s:%s:stream/t" % (e2e.REGION, ACCOUNT)
        carn = c.register_stream_consumer(StreamARN=tarn,
                                          ConsumerName="r")["Consumer"]["ConsumerARN"]
        c.put_records(StreamName="t", Records=[{"Data": b"t%d" % i, "PartitionKey": "k"}
                                               for i in range(3)])
        s = c.subscribe_to_shard(ConsumerARN=carn, ShardId="shardId-000000000000",
                                 StartingPosition={"Type": "TRIM_HORIZON"})
        r, ev, er = collect(s["EventStream"], 10 ** 9)
        e2e.check(er is None and [x["Data"] for x in r] == [b"t0", b"t1", b"t2"] and
                  continuation_ok(ev),
                  "TLS: the records, then the subscription ends at its lifetime (%d events)" %
                  len(ev))
        s1 = c.subscribe_to_shard(ConsumerARN=carn, ShardId="shardId-000000000000",
                                  StartingPosition={"Type": "LATEST"})
        s2 = c.subscribe_to_shard(ConsumerARN=carn, ShardId="shardId-000000000000",
                                  StartingPosition={"Type": "LATEST"})
        r, ev, er = collect(s1["EventStream"], 10 ** 9)
        e2e.check(er is not None and "ResourceInUseException" in str(er),
                  "a later subscription takes over: the first ends with ResourceInUseException "
                  "(%s)" % er)
        s2["EventStream"].close()
    finally:
        e2e.check(srv.stop() == 0, "server B exits 0 on SIGTERM")
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


def cbor_subscribe(url, body):
    """A SigV4-signed CBOR SubscribeToShard (HTTP/1.1 chunked) read up to its first
    SubscribeToShardEvent: ([(message-type, event-type, content-type)...], that event's payload)."""
    import urllib.request
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.eventstream import EventStreamBuffer
    req = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-cbor-1.1",
        "X-Amz-Target": "Kinesis_20131202.SubscribeToShard"})
    SigV4Auth(Credentials(e2e.AK, e2e.SK), "kinesis", e2e.REGION).add_auth(req)
    r = urllib.request.Request(url + "/", data=body, headers=dict(req.headers), method="POST")
    kinds, buf = [], EventStreamBuffer()
    with urllib.request.urlopen(r, timeout=60) as resp:
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                return kinds, b""
            buf.add_data(chunk)
            for m in buf:
                h = m.headers
                kinds.append((h.get(":message-type"), h.get(":event-type"),
                              h.get(":content-type")))
                if h.get(":event-type") == "SubscribeToShardEvent":
                    return kinds, m.payload


if __name__ == "__main__":
    sys.exit(main())
