#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Compat test of the media path with the AWS clients (issue 4): starts the real camstream-ingest
# (SigV4 on), creates a stream with Debian's AWS CLI v2, uploads a GStreamer MKV (made the way KVS
# producers make theirs) with `curl -T` as a chunked PutMedia signed by curl's --aws-sigv4, then
# reads it back with
#   - the AWS CLI: kinesis-video-archived-media list-fragments (numbers = the PERSISTED acks),
#     get-media-for-fragment-list (all fragments, and a subset out of order), kinesis-video-media
#     get-media (EARLIEST);
#   - boto3: list_fragments, get_media_for_fragment_list, get_media (EARLIEST and
#     CONTINUATION_TOKEN);
#   - over HTTPS (throwaway certificate, AWS_CA_BUNDLE / verify=): the CLI's describe-stream,
#     list-fragments and get-media-for-fragment-list, boto3's get_media;
# and checks every output frame for frame against the upload: the Clusters verbatim, camstream's
# MKV reader (track, timecode, key, size, SHA-256 per frame) and ffprobe (packet hashes).
# Usage: kvs_putmedia_roundtrip.py camstream-ingest getmedia_mkvdump. Exit 77 = skipped.
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cs_e2e as e  # noqa: E402
from cs_e2e import check  # noqa: E402

AWS = "/usr/bin/aws"


def main():
    miss = e.missing_tools(AWS, e.CURL, e.GST, e.FFPROBE, e.OPENSSL)
    if miss:
        print("skip: missing " + " ".join(miss))
        return 77
    try:
        import boto3
        from botocore.exceptions import ClientError
    except ImportError:
        print("skip: boto3 not installed for", sys.executable)
        return 77
    binary, dump = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="cs-putmedia-compat-")
    env = dict(os.environ)
    env.update({"HOME": tmp, "AWS_ACCESS_KEY_ID": e.AK, "AWS_SECRET_ACCESS_KEY": e.SK,
                "AWS_DEFAULT_REGION": e.REGION, "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.path.join(tmp, "none"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "none"), "AWS_PAGER": ""})
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE"):
        env.pop(k, None)
    os.environ.clear()
    os.environ.update(env)

    path = os.path.join(tmp, "ball.mkv")
    data = e.make_mkv(path)
    if data is None:
        print("skip: GStreamer (videotestsrc, x264enc, matroskamux) could not make the video")
        return 77
    up = e.Upload(path, data, dump)
    check(up.reader_ok and len(up.ranges) == 5, "the GStreamer MKV has 5 Clusters")
    every = list(range(len(up.ranges)))

    def aws(url, *args, ca=None):
        en = dict(env)
        if ca:
            en["AWS_CA_BUNDLE"] = ca
        p = subprocess.run([AWS, "--endpoint-url", url, "--output", "json"] + list(args),
                           env=en, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            print("# aws %s: %s" % (args[1] if len(args) > 1 else args, p.stderr.strip()))
        return p.returncode, p.stdout, p.stderr

    def upload(url, stream, args=()):
        st, ver, acks, _ = e.put_media(url, stream, up, tmp, list(args), chunked=True)
        check(st == 200, "%s: curl PutMedia (HTTP/1.1 chunked, SigV4) -> %d" % (stream, st))
        return e.check_acks(acks, up.timecodes, "%s: PutMedia acks" % stream)

    srv = e.Server(binary, os.path.join(tmp, "data"),
                   ["--getmedia-idle-seconds", "1", "--getmedia-max-seconds", "60"])
    try:
        url = srv.url
        check(url.startswith("http://127.0.0.1:"), "server up: " + srv.banner)
        rc, out, err = aws(url, "kinesisvideo", "create-stream", "--stream-name", "cam",
                           "--media-type", "video/h264", "--data-retention-in-hours", "24")
        check(rc == 0, "cli create-stream")
        nums = upload(url, "cam")

        # --- AWS CLI v2 ---
        rc, out, err = aws(url, "kinesis-video-archived-media", "list-fragments",
                           "--stream-name", "cam")
        frs = json.loads(out)["Fragments"] if rc == 0 else []
        check([f["FragmentNumber"] for f in frs] == nums and len(nums) == 5
              and [f["FragmentSizeInBytes"] for f in frs] == [len(c) for c in up.cluster_bytes],
              "cli list-fragments: the PERSISTED numbers, sizes = uploaded Clusters")
        for order in (every, [4, 1, 2]):
            pick = [nums[k] for k in order] if len(nums) == 5 else []
            out_mkv = os.path.join(tmp, "cli-list-%d.mkv" % len(order))
            rc, out, err = aws(url, "kinesis-video-archived-media", "get-media-for-fragment-list",
                               out_mkv, "--stream-name", "cam", "--fragments", *pick)
            check(rc == 0 and json.loads(out).get("ContentType") == "video/h264",
                  "cli get-media-for-fragment-list %s -> video/h264" % order)
            if rc == 0:
                e.check_readback(up, dump, out_mkv, order, pick,
                                 "cli get-media-for-fragment-list %s" % order)
        out_mkv = os.path.join(tmp, "cli-gm.mkv")
        rc, out, err = aws(url, "kinesis-video-media", "get-media", "--stream-name", "cam",
                           "--start-selector", "StartSelectorType=EARLIEST", out_mkv)
        check(rc == 0 and json.loads(out).get("ContentType") == "video/h264",
              "cli get-media EARLIEST -> video/h264")
        if rc == 0:
            e.check_readback(up, dump, out_mkv, every, nums, "cli get-media EARLIEST")
        rc, out, err = aws(url, "kinesis-video-archived-media", "get-media-for-fragment-list",
                           os.path.join(tmp, "none.mkv"), "--stream-name", "cam", "--fragments",
                           "9" * 47)
        check(rc != 0 and "(ResourceNotFoundException)" in err,
              "cli get-media-for-fragment-list unknown fragment -> ResourceNotFoundException")

        # --- boto3 ---
        am = boto3.client("kinesis-video-archived-media", endpoint_url=url)
        md = boto3.client("kinesis-video-media", endpoint_url=url)

        def save(resp, name):
            p = os.path.join(tmp, name)
            with open(p, "wb") as f:
                f.write(resp["Payload"].read())
            return p

        r = am.list_fragments(StreamName="cam", MaxResults=3)
        r2 = am.list_fragments(StreamName="cam", MaxResults=3, NextToken=r["NextToken"])
        got = [f["FragmentNumber"] for f in r["Fragments"] + r2["Fragments"]]
        check(got == nums and [int(f["ProducerTimestamp"].timestamp() * 1000) for f in
                               r["Fragments"] + r2["Fragments"]] == up.timecodes,
              "boto3 list_fragments (2 pages): numbers and producer timestamps")
        for order in (every, [2, 0]):
            pick = [nums[k] for k in order] if len(nums) == 5 else []
            resp = am.get_media_for_fragment_list(StreamName="cam", Fragments=pick)
            check(resp["ContentType"] == "video/h264",
                  "boto3 get_media_for_fragment_list %s -> video/h264" % order)
            e.check_readback(up, dump, save(resp, "boto-list.mkv"), order, pick,
                             "boto3 get_media_for_fragment_list %s" % order)
        resp = md.get_media(StreamName="cam", StartSelector={"StartSelectorType": "EARLIEST"})
        e.check_readback(up, dump, save(resp, "boto-gm.mkv"), every, nums,
                         "boto3 get_media EARLIEST")
        if len(nums) == 5:
            resp = md.get_media(StreamName="cam", StartSelector={
                "StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": nums[1]})
            e.check_readback(up, dump, save(resp, "boto-ct.mkv"), every[2:], nums[2:],
                             "boto3 get_media CONTINUATION_TOKEN")
        try:
            am.get_media_for_fragment_list(StreamName="nope", Fragments=nums[:1])
            check(False, "boto3 get_media_for_fragment_list unknown stream")
        except ClientError as ex:
            check(ex.response["Error"]["Code"] == "ResourceNotFoundException",
                  "boto3 get_media_for_fragment_list unknown stream -> ResourceNotFoundException")
    finally:
        check(srv.stop() == 0, "server exits 0 on SIGTERM")

    # --- HTTPS: the same clients with a CA bundle ---
    cert, key = e.make_cert(tmp)
    srv = e.Server(binary, os.path.join(tmp, "data-tls"),
                   ["--getmedia-idle-seconds", "1", "--getmedia-max-seconds", "60",
                    "--tls-cert", cert, "--tls-key", key])
    try:
        url = srv.url
        check(url.startswith("https://127.0.0.1:"), "TLS server up: " + srv.banner)
        rc, out, err = aws(url, "kinesisvideo", "create-stream", "--stream-name", "tls",
                           "--media-type", "video/h264", ca=cert)
        check(rc == 0, "cli create-stream over TLS (AWS_CA_BUNDLE)")
        rc, out, err = aws(url, "kinesisvideo", "describe-stream", "--stream-name", "tls", ca=cert)
        check(rc == 0 and json.loads(out)["StreamInfo"]["Status"] == "ACTIVE",
              "cli describe-stream over TLS")
        # (HTTP/1.1: over HTTP/2 curl drops the Transfer-Encoding header it has signed)
        nums = upload(url, "tls", ["--http1.1", "--cacert", cert])
        rc, out, err = aws(url, "kinesis-video-archived-media", "list-fragments", "--stream-name",
                           "tls", ca=cert)
        check(rc == 0 and [f["FragmentNumber"] for f in json.loads(out)["Fragments"]] == nums,
              "cli list-fragments over TLS")
        out_mkv = os.path.join(tmp, "tls-list.mkv")
        rc, out, err = aws(url, "kinesis-video-archived-media", "get-media-for-fragment-list",
                           out_mkv, "--stream-name", "tls", "--fragments", *nums, ca=cert)
        check(rc == 0, "cli get-media-for-fragment-list over TLS")
        if rc == 0:
            e.check_readback(up, dump, out_mkv, every, nums,
                             "cli get-media-for-fragment-list over TLS")
        md = boto3.client("kinesis-video-media", endpoint_url=url, verify=cert)
        resp = md.get_media(StreamName="tls", StartSelector={"StartSelectorType": "EARLIEST"})
        p = os.path.join(tmp, "tls-boto-gm.mkv")
        with open(p, "wb") as f:
            f.write(resp["Payload"].read())
        e.check_readback(up, dump, p, every, nums, "boto3 get_media over TLS")
    finally:
        check(srv.stop() == 0, "TLS server exits 0 on SIGTERM")
    e.rmtree_if_ok(tmp)
    return e.finish()


if __name__ == "__main__":
    sys.exit(main())
