#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Compat test of the archived-media reads: starts the real camstream-ingest (GetMedia responses end
# after 1 s without a new fragment), creates a stream with the AWS CLI v2, seeds fragments with
# getmedia_seed (objects + index rows as PutMedia stores them), then checks list-fragments (CLI,
# time ranges, boto3 pages), get-media (CLI, EARLIEST) with ffprobe and camstream's own MKV reader
# (per-fragment layout and AWS_KINESISVIDEO_* tags), the FRAGMENT_NUMBER / CONTINUATION_TOKEN /
# PRODUCER_TIMESTAMP / NOW selectors (boto3), live following, getMediaForFragmentList and errors.
# Usage: kvs_getmedia.py camstream-ingest getmedia_seed getmedia_mkvdump. Exit 77 = skipped.
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AWS = "/usr/bin/aws"
START_MS = 1700000000000
FRAMES = 10
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def main():
    if not os.access(AWS, os.X_OK) or shutil.which("ffprobe") is None:
        print("skip: /usr/bin/aws or ffprobe not installed")
        return 77
    try:
        import boto3
        from botocore.exceptions import ClientError
    except ImportError:
        print("skip: boto3 not installed for", sys.executable)
        return 77
    binary, seed, dump = sys.argv[1:4]
    tmp = tempfile.mkdtemp(prefix="cs-getmedia-")
    data = os.path.join(tmp, "data")
    env = dict(os.environ)
    env.update({"HOME": tmp, "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
                "AWS_DEFAULT_REGION": "us-west-2", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.path.join(tmp, "none"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "none"), "AWS_PAGER": ""})
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    os.environ.clear()
    os.environ.update(env)
    srv = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--data-dir", data,
                            "--getmedia-idle-seconds", "1", "--getmedia-max-seconds", "30"],
                           stdout=subprocess.PIPE, text=True)
    try:
        url = srv.stdout.readline().strip().rsplit(" ", 1)[-1]
        check(url.startswith("http://127.0.0.1:"), "server up at " + url)

        def aws(*args):
            p = subprocess.run([AWS, "--endpoint-url", url, "--output", "json"] + list(args),
                               env=env, capture_output=True, text=True, timeout=60)
            return p.returncode, p.stdout, p.stderr

        def seed_frags(count, start_ms):
            out = subprocess.run([seed, data, "cam", str(count), str(FRAMES), str(start_ms)],
                                 capture_output=True, text=True, check=True).stdout
            return [line.split()[0] for line in out.splitlines()]

        def layout(path):
            p = subprocess.run([dump, path], capture_output=True, text=True)
            return p.returncode, [line.split(" ") for line in p.stdout.splitlines()]

        def fragments_in(events):
            """Per segment: (fragment number, continuation token, frames, tag order ok)."""
            segs = []
            for ev in events:
                if ev[0] == "SEGMENT":
                    segs.append([])
                elif segs:
                    segs[-1].append(ev)
            res = []
            for s in segs:
                kinds = [e[0] if e[0] != "TAG" else e[1] for e in s if e[0] != "FRAME"]
                tags = {e[1]: e[2] if len(e) > 2 else "" for e in s if e[0] == "TAG"}
                want = ["CAM_SITE", "AWS_KINESISVIDEO_FRAGMENT_NUMBER",
                        "AWS_KINESISVIDEO_SERVER_TIMESTAMP", "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP",
                        "CLUSTER", "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW",
                        "AWS_KINESISVIDEO_CONTINUATION_TOKEN"]
                res.append((tags.get("AWS_KINESISVIDEO_FRAGMENT_NUMBER"),
                            tags.get("AWS_KINESISVIDEO_CONTINUATION_TOKEN"),
                            sum(1 for e in s if e[0] == "FRAME"), kinds == want,
                            tags.get("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP")))
            return res

        rc, out, err = aws("kinesisvideo", "create-stream", "--stream-name", "cam",
                           "--media-type", "video/h264")
        check(rc == 0, "cli create-stream " + err.strip())
        nums = seed_frags(5, START_MS)
        check(len(nums) == 5 and nums == sorted(nums), "seeded 5 fragments")

        # --- listFragments ---
        rc, out, err = aws("kinesis-video-archived-media", "list-fragments", "--stream-name", "cam")
        frs = json.loads(out)["Fragments"] if rc == 0 else []
        check(rc == 0 and [f["FragmentNumber"] for f in frs] == nums, "cli list-fragments " + err)
        check(frs and frs[0]["FragmentLengthInMilliseconds"] == FRAMES * 40
              and frs[0]["FragmentSizeInBytes"] > 0, "fragment size and length")
        rc, out, err = aws("kinesis-video-archived-media", "list-fragments", "--stream-name", "cam",
                           "--fragment-selector",
                           "FragmentSelectorType=PRODUCER_TIMESTAMP,TimestampRange={StartTimestamp=%d,EndTimestamp=%d}"
                           % (START_MS // 1000 + 1, START_MS // 1000 + 2))
        frs = json.loads(out)["Fragments"] if rc == 0 else []
        # Clients send whole seconds (botocore's unixtimestamp): fragments at +1.2 s and +1.6 s.
        check([f["FragmentNumber"] for f in frs] == nums[3:5], "cli list-fragments producer range")
        am = boto3.client("kinesis-video-archived-media", endpoint_url=url)
        r1 = am.list_fragments(StreamName="cam", MaxResults=2)
        r2 = am.list_fragments(StreamName="cam", MaxResults=2, NextToken=r1["NextToken"])
        r3 = am.list_fragments(StreamName="cam", MaxResults=2, NextToken=r2["NextToken"])
        pages = [f["FragmentNumber"] for r in (r1, r2, r3) for f in r["Fragments"]]
        check(pages == nums and "NextToken" not in r3, "boto3 list_fragments pages")
        ts = r1["Fragments"][0]["ProducerTimestamp"]
        check(abs(ts.timestamp() - START_MS / 1000) < 0.001, "boto3 ProducerTimestamp parsed")
        r = am.list_fragments(StreamName="cam", FragmentSelector={
            "FragmentSelectorType": "SERVER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": 0, "EndTimestamp": time.time() + 60}})
        check(len(r["Fragments"]) == 5, "boto3 list_fragments server range")
        try:
            am.list_fragments(StreamName="nope")
            check(False, "list_fragments unknown stream")
        except ClientError as e:
            check(e.response["Error"]["Code"] == "ResourceNotFoundException",
                  "list_fragments unknown stream -> ResourceNotFoundException")

        # --- getMedia, AWS CLI, EARLIEST ---
        mkv = os.path.join(tmp, "out.mkv")
        t0 = time.time()
        rc, out, err = aws("kinesis-video-media", "get-media", "--stream-name", "cam",
                           "--start-selector", "StartSelectorType=EARLIEST", mkv)
        check(rc == 0 and json.loads(out).get("ContentType") == "video/h264",
              "cli get-media EARLIEST (ended after %.1f s) %s" % (time.time() - t0, err.strip()))
        p = subprocess.run(["ffprobe", "-v", "error", "-show_packets", "-of", "json", mkv],
                           capture_output=True, text=True)
        pk = json.loads(p.stdout or "{}").get("packets", [])
        pts = [int(x["pts"]) for x in pk]
        check(len(pk) == 5 * FRAMES, "ffprobe: %d packets" % len(pk))
        check(pts == [START_MS + 40 * i for i in range(5 * FRAMES)], "ffprobe: timestamps")
        rc, ev = layout(mkv)
        fr = fragments_in(ev)
        check(rc == 0 and [f[0] for f in fr] == nums, "mkv reader: fragment numbers in order")
        check(all(f[1] == f[0] and f[2] == FRAMES and f[3] for f in fr),
              "mkv reader: per-fragment layout, tags and continuation tokens")
        check(fr and fr[1][4] == "%d.400" % (START_MS // 1000), "producer timestamp 3 decimals")

        # --- selectors (boto3) ---
        md = boto3.client("kinesis-video-media", endpoint_url=url)

        def get(sel, name="cam"):
            r = md.get_media(StreamName=name, StartSelector=sel)
            path = os.path.join(tmp, "sel.mkv")
            with open(path, "wb") as f:
                f.write(r["Payload"].read())
            return fragments_in(layout(path)[1])

        fr = get({"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": nums[2]})
        check([f[0] for f in fr] == nums[2:], "FRAGMENT_NUMBER starts at that fragment")
        fr = get({"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": nums[2]})
        check([f[0] for f in fr] == nums[3:], "CONTINUATION_TOKEN resumes after it")
        fr = get({"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": START_MS // 1000 + 1})
        check([f[0] for f in fr] == nums[2:], "PRODUCER_TIMESTAMP starts at the containing one")
        fr = get({"StartSelectorType": "SERVER_TIMESTAMP", "StartTimestamp": 0})
        check([f[0] for f in fr] == nums, "SERVER_TIMESTAMP 0 = all")

        # --- live: NOW waits for new fragments ---
        later = []
        th = threading.Timer(0.4, lambda: later.extend(seed_frags(2, START_MS + 10000)))
        th.start()
        fr = get({"StartSelectorType": "NOW"})
        th.join()
        check(len(later) == 2 and [f[0] for f in fr] == later, "NOW follows the live edge")

        # --- getMediaForFragmentList ---
        r = am.get_media_for_fragment_list(StreamName="cam", Fragments=[nums[3], nums[0]])
        path = os.path.join(tmp, "list.mkv")
        with open(path, "wb") as f:
            f.write(r["Payload"].read())
        fr = fragments_in(layout(path)[1])
        check([f[0] for f in fr] == [nums[3], nums[0]] and all(f[3] for f in fr),
              "getMediaForFragmentList returns exactly those")
        try:
            am.get_media_for_fragment_list(StreamName="cam", Fragments=["9" * 40])
            check(False, "unknown fragment refused")
        except ClientError as e:
            check(e.response["Error"]["Code"] == "ResourceNotFoundException",
                  "unknown fragment -> ResourceNotFoundException")

        # --- errors ---
        for sel in ({"StartSelectorType": "EARLIEST"},):
            try:
                get(sel, name="nope")
                check(False, "get_media unknown stream")
            except ClientError as e:
                check(e.response["Error"]["Code"] == "ResourceNotFoundException",
                      "get_media unknown stream -> ResourceNotFoundException")
        rc, out, err = aws("kinesis-video-media", "get-media", "--stream-name", "nope",
                           "--start-selector", "StartSelectorType=EARLIEST", mkv)
        check(rc != 0 and "ResourceNotFoundException" in err, "cli get-media unknown stream")
        try:
            get({"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": "123"})
            check(False, "get_media unknown fragment")
        except ClientError as e:
            check(e.response["Error"]["Code"] == "ResourceNotFoundException",
                  "get_media unknown fragment -> ResourceNotFoundException")
    finally:
        srv.terminate()
        rc = srv.wait(timeout=10)
        check(rc == 0, "server exits cleanly on SIGTERM")
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
