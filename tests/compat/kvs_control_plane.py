#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Compat test of the KVS control plane: starts the real camstream-ingest on an ephemeral loopback
# port with a fresh data dir, then drives it with Debian's AWS CLI v2 (/usr/bin/aws) and boto3
# (this interpreter must be Debian's /usr/bin/python3): create/describe/list (prefix + pages)/
# update-data-retention/get-data-endpoint/tags/delete, and the error cases as clients print them.
# Usage: kvs_control_plane.py PATH/TO/camstream-ingest. Exit 77 = skipped (client missing).
import json
import os
import subprocess
import sys
import tempfile

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AWS = "/usr/bin/aws"
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def main():
    if not os.access(AWS, os.X_OK):
        print("skip: /usr/bin/aws not installed")
        return 77
    try:
        import boto3
        from botocore.exceptions import ClientError
    except ImportError:
        print("skip: boto3 not installed for", sys.executable)
        return 77
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-compat-")
    env = dict(os.environ)
    env.update({"HOME": tmp, "AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK,
                "AWS_DEFAULT_REGION": "us-west-2", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.path.join(tmp, "none"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "none"),
                "AWS_PAGER": ""})
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    os.environ.clear()
    os.environ.update(env)
    srv = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--data-dir",
                            os.path.join(tmp, "data"), "--access-key", AK, "--secret-key", SK],
                           stdout=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline().strip()
        check(line.startswith("camstream-ingest listening on http://127.0.0.1:"), "banner: " + line)
        url = line.rsplit(" ", 1)[-1]

        def aws(*args, secret=SK):
            e = dict(env)
            e["AWS_SECRET_ACCESS_KEY"] = secret
            p = subprocess.run([AWS, "--endpoint-url", url, "--output", "json", "kinesisvideo"]
                               + list(args), env=e, capture_output=True, text=True, timeout=60)
            out = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
            return p.returncode, out, p.stderr

        # --- AWS CLI v2 ---
        rc, out, err = aws("create-stream", "--stream-name", "cam-a", "--media-type", "video/h264",
                           "--data-retention-in-hours", "24", "--tags", "site=lab,floor=1")
        check(rc == 0 and out["StreamARN"].startswith(
            "arn:aws:kinesisvideo:us-west-2:123456789012:stream/cam-a/"), "cli create-stream")
        arn = out["StreamARN"] if out else ""
        for n in ("cam-b", "cam-c", "other"):
            check(aws("create-stream", "--stream-name", n)[0] == 0, "cli create-stream " + n)
        rc, out, err = aws("create-stream", "--stream-name", "cam-a")
        check(rc != 0 and "(ResourceInUseException)" in err, "cli create existing -> ResourceInUse")
        rc, out, err = aws("describe-stream", "--stream-name", "cam-a")
        info = out["StreamInfo"] if out else {}
        check(rc == 0 and info.get("Status") == "ACTIVE" and info.get("StreamARN") == arn
              and info.get("DataRetentionInHours") == 24 and info.get("MediaType") == "video/h264",
              "cli describe-stream")
        rc, out, err = aws("describe-stream", "--stream-arn", arn)
        check(rc == 0 and out["StreamInfo"]["StreamName"] == "cam-a", "cli describe by ARN")
        rc, out, err = aws("describe-stream", "--stream-name", "missing")
        check(rc == 254 and "An error occurred (ResourceNotFoundException) when calling the "
              "DescribeStream operation" in err, "cli describe missing -> ResourceNotFound")
        rc, out, err = aws("list-streams", "--stream-name-condition",
                           "ComparisonOperator=BEGINS_WITH,ComparisonValue=cam-")
        names = [s["StreamName"] for s in out["StreamInfoList"]] if out else []
        check(rc == 0 and names == ["cam-a", "cam-b", "cam-c"], "cli list-streams BEGINS_WITH")
        # --page-size 1: the CLI follows NextToken itself, one stream per request.
        rc, out, err = aws("list-streams", "--page-size", "1")
        names = [s["StreamName"] for s in out["StreamInfoList"]] if out else []
        check(rc == 0 and names == ["cam-a", "cam-b", "cam-c", "other"], "cli list pages of 1")
        rc, out, err = aws("list-streams", "--max-items", "2")
        check(rc == 0 and len(out["StreamInfoList"]) == 2 and "NextToken" in out,
              "cli list --max-items 2")
        if rc == 0:
            rc, out, err = aws("list-streams", "--max-items", "5", "--starting-token",
                               out["NextToken"])
            names = [s["StreamName"] for s in out["StreamInfoList"]] if out else []
            check(rc == 0 and names == ["cam-c", "other"], "cli list --starting-token")
        version = info.get("Version", "")
        rc, out, err = aws("update-data-retention", "--stream-name", "cam-a", "--current-version",
                           version, "--operation", "INCREASE_DATA_RETENTION",
                           "--data-retention-change-in-hours", "6")
        check(rc == 0, "cli update-data-retention")
        rc, out, err = aws("describe-stream", "--stream-name", "cam-a")
        check(rc == 0 and out["StreamInfo"]["DataRetentionInHours"] == 30
              and out["StreamInfo"]["Version"] != version, "cli retention 30, new version")
        rc, out, err = aws("update-data-retention", "--stream-name", "cam-a", "--current-version",
                           version, "--operation", "INCREASE_DATA_RETENTION",
                           "--data-retention-change-in-hours", "6")
        check(rc != 0 and "(VersionMismatchException)" in err, "cli stale version -> VersionMismatch")
        rc, out, err = aws("create-stream", "--stream-name", "big", "--data-retention-in-hours",
                           "100000")
        check(rc != 0 and "(InvalidArgumentException)" in err, "cli bad retention -> InvalidArgument")
        rc, out, err = aws("get-data-endpoint", "--stream-name", "cam-a", "--api-name", "PUT_MEDIA")
        check(rc == 0 and out["DataEndpoint"] == url, "cli get-data-endpoint")
        rc, out, err = aws("tag-stream", "--stream-name", "cam-a", "--tags", "owner=ops")
        check(rc == 0, "cli tag-stream")
        rc, out, err = aws("untag-stream", "--stream-name", "cam-a", "--tag-key-list", "floor")
        check(rc == 0, "cli untag-stream")
        rc, out, err = aws("list-tags-for-stream", "--stream-name", "cam-a")
        check(rc == 0 and out["Tags"] == {"site": "lab", "owner": "ops"}, "cli list-tags-for-stream")
        rc, out, err = aws("list-streams", secret="wrong-secret")
        check(rc != 0 and "(InvalidSignatureException)" in err, "cli wrong secret -> auth error")
        rc, out, err = aws("delete-stream", "--stream-arn", arn)
        check(rc == 0, "cli delete-stream")
        rc, out, err = aws("describe-stream", "--stream-arn", arn)
        check(rc != 0 and "(ResourceNotFoundException)" in err, "cli describe deleted")

        # --- boto3 ---
        kv = boto3.client("kinesisvideo", endpoint_url=url, region_name="us-west-2",
                          aws_access_key_id=AK, aws_secret_access_key=SK)
        r = kv.create_stream(StreamName="boto-1", DataRetentionInHours=2, Tags={"a": "b"})
        check(r["StreamARN"].endswith("/boto-1/" + r["StreamARN"].rsplit("/", 1)[-1]),
              "boto3 create_stream")
        d = kv.describe_stream(StreamName="boto-1")["StreamInfo"]
        check(d["Status"] == "ACTIVE" and d["DataRetentionInHours"] == 2
              and hasattr(d["CreationTime"], "year"), "boto3 describe_stream")
        pages = kv.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 2})
        names = [s["StreamName"] for p in pages for s in p["StreamInfoList"]]
        check(names == ["boto-1", "cam-b", "cam-c", "other"], "boto3 list_streams paginator")
        try:
            kv.describe_stream(StreamName="nope")
            check(False, "boto3 describe missing")
        except ClientError as e:
            check(e.response["Error"]["Code"] == "ResourceNotFoundException"
                  and e.response["ResponseMetadata"]["HTTPStatusCode"] == 404,
                  "boto3 describe missing -> 404 ResourceNotFoundException")
        try:
            kv.update_data_retention(StreamName="boto-1", CurrentVersion=d["Version"],
                                     Operation="DECREASE_DATA_RETENTION",
                                     DataRetentionChangeInHours=5)
            check(False, "boto3 decrease below 0")
        except ClientError as e:
            check(e.response["Error"]["Code"] == "InvalidArgumentException",
                  "boto3 decrease below 0 -> InvalidArgumentException")
        ep = kv.get_data_endpoint(StreamName="boto-1", APIName="GET_MEDIA")["DataEndpoint"]
        check(ep == url, "boto3 get_data_endpoint")
        bad = boto3.client("kinesisvideo", endpoint_url=url, region_name="us-west-2",
                           aws_access_key_id="UNKNOWNKEY", aws_secret_access_key=SK)
        try:
            bad.list_streams()
            check(False, "boto3 unknown key")
        except ClientError as e:
            check(e.response["Error"]["Code"] == "NotAuthorizedException"
                  and e.response["ResponseMetadata"]["HTTPStatusCode"] == 401
                  and "UnrecognizedClientException" in e.response["Error"]["Message"],
                  "boto3 unknown key -> 401 NotAuthorizedException (cause: "
                  "UnrecognizedClientException)")
        kv.tag_stream(StreamName="boto-1", Tags={"owner": "ops", "site": "lab"})
        kv.untag_stream(StreamARN=r["StreamARN"], TagKeyList=["a"])
        t = kv.list_tags_for_stream(StreamName="boto-1")
        check(t["Tags"] == {"owner": "ops", "site": "lab"} and "NextToken" not in t,
              "boto3 tag_stream, untag_stream (by ARN), list_tags_for_stream")
        kv.delete_stream(StreamARN=r["StreamARN"], CurrentVersion=d["Version"])
        check(True, "boto3 delete_stream")
    finally:
        srv.terminate()
        code = srv.wait(timeout=10)
        check(code == 0, "server exits 0 on SIGTERM (got %s)" % code)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
