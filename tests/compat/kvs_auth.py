#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Compat test of camstream-ingest's auth file and config file with real clients: the server is
# started with only `--config FILE` (which sets the port, the data dir, the auth file and the log
# level), then Debian's AWS CLI v2 (/usr/bin/aws) and boto3 show what a user sees:
#   - a bad secret, an unknown key, no signature: 401 NotAuthorizedException (CLI and boto3);
#   - a valid key without the right on the stream: 403 AccessDeniedException, for the control
#     plane, listFragments, getMedia and PutMedia (signed like the KVS producer SDKs: SigV4 with
#     the empty payload's hash, via botocore's signer);
#   - the right key works; listStreams lists only what the key may read.
# Then: a flag overrides the config file; a bad config key, a bad config value and a bad auth
# file line are refused with a message naming the line.
# Usage: kvs_auth.py PATH/TO/camstream-ingest. Exit 77 = skipped (client missing).
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

AWS = "/usr/bin/aws"
KEYS = {"CAMKEY": "cam-secret/1+x", "VIEWKEY": "view-secret", "ADMINKEY": "admin-secret"}
AUTH_FILE = """# camstream-ingest auth file (test)
key CAMKEY cam-secret/1+x
    write cam1
    read  cam1
key VIEWKEY view-secret
    read lobby-
key ADMINKEY admin-secret
    readwrite *
"""
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(binary, args):
    srv = subprocess.Popen([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    line = srv.stdout.readline().strip()
    return srv, line


def main():
    if not os.access(AWS, os.X_OK):
        print("skip: /usr/bin/aws not installed")
        return 77
    try:
        import boto3
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.config import Config
        from botocore.credentials import Credentials
        from botocore.exceptions import ClientError
    except ImportError:
        print("skip: boto3 not installed for", sys.executable)
        return 77
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-compat-auth-")
    env = dict(os.environ)
    env.update({"HOME": tmp, "AWS_DEFAULT_REGION": "us-west-2",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.path.join(tmp, "none"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(tmp, "none"), "AWS_PAGER": "",
                "AWS_MAX_ATTEMPTS": "1"})
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
              "AWS_SECRET_ACCESS_KEY", "CS_LOG_LEVEL"):
        env.pop(k, None)
    os.environ.clear()
    os.environ.update(env)

    auth_path = os.path.join(tmp, "auth")
    with open(auth_path, "w") as f:
        f.write(AUTH_FILE)
    os.chmod(auth_path, 0o600)
    port = free_port()
    data_dir = os.path.join(tmp, "data-from-config")
    conf_path = os.path.join(tmp, "camstream.conf")
    with open(conf_path, "w") as f:
        f.write("# camstream-ingest config (test)\n"
                "listen = 127.0.0.1:%d\n"
                "data-dir = %s\n"
                "auth = sigv4\n"
                "auth-file = %s\n"
                "log-level = info\n"
                "auto-create = false\n" % (port, data_dir, auth_path))

    srv, line = start(binary, ["--config", conf_path])
    try:
        check(line == "camstream-ingest listening on http://127.0.0.1:%d" % port,
              "config file sets the port: " + line)
        check(os.path.exists(os.path.join(data_dir, "index.sqlite3")),
              "config file sets the data dir")
        url = "http://127.0.0.1:%d" % port

        def aws(key, *args, secret=None, service="kinesisvideo"):
            e = dict(env)
            e["AWS_ACCESS_KEY_ID"] = key
            e["AWS_SECRET_ACCESS_KEY"] = secret if secret is not None else KEYS.get(key, "x")
            p = subprocess.run([AWS, "--endpoint-url", url, "--output", "json", service]
                               + list(args), env=e, capture_output=True, text=True, timeout=60)
            return p.returncode, p.stdout, p.stderr

        # The CLI: the right key works, a limited key is refused, bad signatures are refused.
        for name in ("cam1", "lobby-1", "other"):
            rc, out, err = aws("ADMINKEY", "create-stream", "--stream-name", name,
                               "--data-retention-in-hours", "1")
            check(rc == 0 and "StreamARN" in out, "cli ADMINKEY creates " + name + " " + err)
        rc, out, err = aws("CAMKEY", "describe-stream", "--stream-name", "cam1")
        check(rc == 0 and '"cam1"' in out, "cli CAMKEY (write+read cam1) describes cam1")
        rc, out, err = aws("VIEWKEY", "describe-stream", "--stream-name", "cam1")
        print("     cli prints: " + err.strip())
        check(rc != 0 and "(AccessDeniedException)" in err and "VIEWKEY" in err,
              "cli VIEWKEY describe cam1 -> AccessDeniedException")
        rc, out, err = aws("VIEWKEY", "describe-stream", "--stream-name", "lobby-1")
        check(rc == 0 and '"lobby-1"' in out, "cli VIEWKEY describes lobby-1")
        rc, out, err = aws("VIEWKEY", "list-streams")
        names = sorted(s["StreamName"] for s in json.loads(out)["StreamInfoList"]) if rc == 0 else []
        check(names == ["lobby-1"], "cli VIEWKEY list-streams lists only lobby-1: %s" % names)
        rc, out, err = aws("ADMINKEY", "list-streams")
        names = sorted(s["StreamName"] for s in json.loads(out)["StreamInfoList"]) if rc == 0 else []
        check(names == ["cam1", "lobby-1", "other"], "cli ADMINKEY lists all: %s" % names)
        rc, out, err = aws("CAMKEY", "tag-stream", "--stream-name", "other", "--tags", "a=b")
        check(rc != 0 and "(AccessDeniedException)" in err, "cli CAMKEY tag other -> AccessDenied")
        rc, out, err = aws("CAMKEY", "tag-stream", "--stream-name", "cam1", "--tags", "a=b")
        check(rc == 0, "cli CAMKEY tags cam1 (write) " + err)
        rc, out, err = aws("VIEWKEY", "describe-stream", "--stream-name", "lobby-1",
                           secret="wrong-secret")
        print("     cli prints: " + err.strip())
        check(rc != 0 and "(NotAuthorizedException)" in err, "cli bad secret -> NotAuthorized")
        rc, out, err = aws("NOSUCHKEY", "describe-stream", "--stream-name", "lobby-1")
        print("     cli prints: " + err.strip())
        check(rc != 0 and "(NotAuthorizedException)" in err, "cli unknown key -> NotAuthorized")
        rc, out, err = aws("VIEWKEY", "list-fragments", "--stream-name", "cam1",
                           service="kinesis-video-archived-media")
        check(rc != 0 and "(AccessDeniedException)" in err,
              "cli VIEWKEY list-fragments cam1 -> AccessDenied")
        rc, out, err = aws("VIEWKEY", "list-fragments", "--stream-name", "lobby-1",
                           service="kinesis-video-archived-media")
        check(rc == 0 and "Fragments" in out, "cli VIEWKEY list-fragments lobby-1 works " + err)

        # boto3: codes and HTTP statuses as the SDK parses them (x-amzn-ErrorType).
        def client(key, secret=None, service="kinesisvideo"):
            return boto3.client(service, endpoint_url=url, region_name="us-west-2",
                                aws_access_key_id=key,
                                aws_secret_access_key=secret if secret else KEYS.get(key, "x"),
                                config=Config(retries={"max_attempts": 1}))

        def error_of(fn):
            try:
                fn()
            except ClientError as e:
                return (e.response["Error"]["Code"],
                        e.response["ResponseMetadata"]["HTTPStatusCode"],
                        e.response["Error"].get("Message", ""))
            return None

        e = error_of(lambda: client("VIEWKEY", "nope").describe_stream(StreamName="lobby-1"))
        print("     boto3: %s" % (e,))
        check(e is not None and e[:2] == ("NotAuthorizedException", 401),
              "boto3 bad secret -> 401 NotAuthorizedException")
        e = error_of(lambda: client("NOSUCHKEY").describe_stream(StreamName="lobby-1"))
        check(e is not None and e[:2] == ("NotAuthorizedException", 401),
              "boto3 unknown key -> 401 NotAuthorizedException")
        e = error_of(lambda: client("VIEWKEY").describe_stream(StreamName="cam1"))
        print("     boto3: %s" % (e,))
        check(e is not None and e[:2] == ("AccessDeniedException", 403),
              "boto3 VIEWKEY describe cam1 -> 403 AccessDeniedException")
        arn = client("ADMINKEY").describe_stream(StreamName="other")["StreamInfo"]["StreamARN"]
        e = error_of(lambda: client("CAMKEY").delete_stream(StreamARN=arn))
        check(e is not None and e[:2] == ("AccessDeniedException", 403),
              "boto3 CAMKEY delete other (by ARN) -> 403 AccessDeniedException")
        e = error_of(lambda: client("CAMKEY").describe_stream(StreamName="cam1", StreamARN=arn))
        check(e is not None and e[:2] == ("AccessDeniedException", 403),
              "boto3 CAMKEY name cam1 + ARN of other -> 403 AccessDeniedException")
        check(client("VIEWKEY").describe_stream(StreamName="lobby-1")["StreamInfo"]["StreamName"]
              == "lobby-1", "boto3 VIEWKEY describes lobby-1")
        lst = client("VIEWKEY").list_streams()["StreamInfoList"]
        check([s["StreamName"] for s in lst] == ["lobby-1"], "boto3 VIEWKEY list filtered")
        e = error_of(lambda: client("VIEWKEY", service="kinesis-video-media").get_media(
            StreamName="cam1", StartSelector={"StartSelectorType": "EARLIEST"}))
        check(e is not None and e[:2] == ("AccessDeniedException", 403),
              "boto3 VIEWKEY get_media cam1 -> 403 AccessDeniedException")
        e = error_of(lambda: client("CAMKEY", service="kinesis-video-archived-media")
                     .list_fragments(StreamName="lobby-1"))
        check(e is not None and e[:2] == ("AccessDeniedException", 403),
              "boto3 CAMKEY list_fragments lobby-1 -> 403 AccessDeniedException")
        frags = client("CAMKEY", service="kinesis-video-archived-media").list_fragments(
            StreamName="cam1")
        check(frags["Fragments"] == [], "boto3 CAMKEY list_fragments cam1 works")

        # No signature at all.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/describeStream", body='{"StreamName":"cam1"}',
                  headers={"content-type": "application/json"})
        r = c.getresponse()
        body = r.read().decode()
        check(r.status == 401 and r.getheader("x-amzn-ErrorType") == "NotAuthorizedException"
              and "cam1" not in body.replace("Message", ""), "unsigned -> 401, no data: " + body)
        c.close()

        # PutMedia, signed as the KVS producer SDKs sign it (the empty payload's hash).
        def put_media(key, stream=None, arn=None, secret=None):
            headers = {"x-amzn-fragment-timecode-type": "ABSOLUTE",
                       "x-amzn-producer-start-timestamp": "1700000000.000",
                       "x-amzn-fragment-acknowledgment-required": "1",
                       "Host": "127.0.0.1:%d" % port}
            if stream:
                headers["x-amzn-stream-name"] = stream
            if arn:
                headers["x-amzn-stream-arn"] = arn
            req = AWSRequest(method="POST", url=url + "/putMedia", headers=headers, data=b"")
            SigV4Auth(Credentials(key, secret or KEYS.get(key, "x")), "kinesisvideo",
                      "us-west-2").add_auth(req)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.putrequest("POST", "/putMedia", skip_host=True, skip_accept_encoding=True)
            for k, v in req.headers.items():
                conn.putheader(k, v)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            conn.send(b"0\r\n\r\n")  # an empty upload: enough to see the verdict
            resp = conn.getresponse()
            data = resp.read().decode(errors="replace")
            conn.close()
            return resp.status, resp.getheader("x-amzn-ErrorType"), data

        st, et, body = put_media("CAMKEY", "cam1")
        check(st == 200 and et is None, "putMedia CAMKEY -> cam1: 200 (%s %s)" % (st, body))
        st, et, body = put_media("VIEWKEY", "lobby-1")
        check(st == 403 and et == "AccessDeniedException",
              "putMedia VIEWKEY (read only) -> lobby-1: 403 AccessDenied (%s %s)" % (st, body))
        st, et, body = put_media("CAMKEY", arn=arn)
        check(st == 403 and et == "AccessDeniedException",
              "putMedia CAMKEY by ARN of other: 403 AccessDenied (%s)" % st)
        st, et, body = put_media("CAMKEY", "cam1", secret="bad")
        check(st == 401 and et == "NotAuthorizedException",
              "putMedia bad secret: 401 NotAuthorized (%s)" % st)
    finally:
        srv.terminate()
        try:
            _, err = srv.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
            _, err = srv.communicate()
        check(srv.returncode == 0, "server exits 0 on SIGTERM")
        check("refused: InvalidSignatureException" in err,
              "log-level info from the config file: refusals are logged")

    # A flag overrides the config file.
    srv, line = start(binary, ["--config", conf_path, "--listen", "127.0.0.1:0"])
    check(line.startswith("camstream-ingest listening on http://127.0.0.1:") and
          not line.endswith(":%d" % port), "--listen overrides the config file: " + line)
    srv.terminate()
    srv.communicate(timeout=30)

    # Refusals naming the line.
    def refused(conf_text, *extra):
        path = os.path.join(tmp, "bad.conf")
        with open(path, "w") as f:
            f.write(conf_text)
        p = subprocess.run([binary, "--config", path] + list(extra), capture_output=True,
                           text=True, timeout=30)
        print("     stderr: " + p.stderr.strip().replace("\n", " | "))
        return p.returncode, p.stderr

    rc, err = refused("listen = 127.0.0.1:0\n# comment\ndata_dir = /tmp/x\n")
    check(rc == 2 and "line 3" in err and "unknown key 'data_dir'" in err,
          "config: unknown key names line 3")
    rc, err = refused("\nlisten = nowhere\n")
    check(rc == 2 and "--listen wants" in err and "line 2" in err,
          "config: bad value names line 2")
    rc, err = refused("auth = maybe\n")
    check(rc == 2 and "--auth takes" in err and "line 1" in err, "config: bad --auth names line 1")
    bad_auth = os.path.join(tmp, "bad-auth")
    with open(bad_auth, "w") as f:
        f.write("key A s\n  read *\n  admin *\n")
    os.chmod(bad_auth, 0o600)
    rc, err = refused("listen = 127.0.0.1:0\ndata-dir = %s\nauth-file = %s\n"
                      % (os.path.join(tmp, "d2"), bad_auth))
    check(rc != 0 and "line 3" in err and "admin" in err, "auth file: bad line 3 named")

    if not failures:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
