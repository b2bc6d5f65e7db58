#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# Integration test of GET /metrics: starts the real camstream-ingest (ephemeral loopback port,
# SigV4 on, --metrics-auth TOKEN), scrapes /metrics with curl, then does one PutMedia upload of an
# MKV made by GStreamer (signed as the KVS producer SDKs sign it: SigV4 with the empty payload's
# hash, via botocore's signer), one upload of bytes that are not MKV, a request for an unknown
# stream and a request with a bad signature, scrapes again and checks that each series moved by
# exactly what was done (uploads, PERSISTED fragments = ack latency samples, requests by API,
# errors by KVS name and by the ErrorId the server acked), that the active-upload gauge is back to
# 0, and that every line of the text is `# HELP`, `# TYPE` or `name{labels} value`. Also: without
# the token /metrics answers 401.
# Usage: ingest_metrics.py PATH/TO/camstream-ingest. Exit 77 = skipped (a tool missing).
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "scrape-token-123"
CURL = "/usr/bin/curl"
GST = "/usr/bin/gst-launch-1.0"
failures = []
LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"'
                  r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? '
                  r'(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|\+Inf|-Inf|NaN)$')


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def scrape(url, token=TOKEN):
    args = [CURL, "-sS", "-o", "-", "-w", "\n%{http_code} %{content_type}", url + "/metrics"]
    if token:
        args += ["-H", "Authorization: Bearer " + token]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    body, _, status = p.stdout.rpartition("\n")
    return status, body


def parse(text):
    """Series -> value; checks the format on the way."""
    values = {}
    typed = set()
    bad = []
    for line in text.split("\n"):
        if line == "":
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram") \
                    or parts[2] in typed:
                bad.append(line)
            typed.add(parts[2])
            continue
        if not LINE.match(line):
            bad.append(line)
            continue
        series, value = line.rsplit(" ", 1)
        base = re.sub(r"(_bucket|_sum|_count)$", "", series.split("{")[0])
        if series.split("{")[0] not in typed and base not in typed:
            bad.append(line)
        values[series] = float(value)
    return values, bad


def main():
    for tool in (CURL, GST):
        if not os.access(tool, os.X_OK):
            print("skip: %s not installed" % tool)
            return 77
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError:
        print("skip: botocore not installed for", sys.executable)
        return 77
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-metrics-")
    mkv = os.path.join(tmp, "in.mkv")
    p = subprocess.run("%s -q videotestsrc num-buffers=120 pattern=ball ! "
                       "video/x-raw,width=320,height=240,framerate=30/1 ! x264enc key-int-max=30 ! "
                       "h264parse ! matroskamux streamable=true ! filesink location=%s"
                       % (GST, mkv), shell=True, capture_output=True)
    if p.returncode != 0 or not os.path.exists(mkv):
        print("skip: GStreamer could not make the test MKV")
        return 77
    with open(mkv, "rb") as f:
        video = f.read()
    env = dict(os.environ)
    env.pop("CS_LOG_LEVEL", None)
    srv = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--data-dir",
                            os.path.join(tmp, "data"), "--access-key", AK, "--secret-key", SK,
                            "--metrics-auth", TOKEN], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = srv.stdout.readline().strip()
        check(line.startswith("camstream-ingest listening on http://127.0.0.1:"), line)
        url = line.rsplit(" ", 1)[-1]
        port = int(url.rsplit(":", 1)[1])

        def signed(path, body=b"", headers=None, secret=SK):
            h = {"Host": "127.0.0.1:%d" % port}
            h.update(headers or {})
            req = AWSRequest(method="POST", url=url + path, headers=h, data=body)
            SigV4Auth(Credentials(AK, secret), "kinesisvideo", "us-west-2").add_auth(req)
            return req.headers

        def call(path, obj, secret=SK):
            body = json.dumps(obj).encode()
            h = signed(path, body, {"content-type": "application/json"}, secret)
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.items():
                c.putheader(k, v)
            c.putheader("Content-Length", str(len(body)))
            c.endheaders()
            c.send(body)
            r = c.getresponse()
            out = r.read()
            c.close()
            return r.status, r.getheader("x-amzn-ErrorType"), out

        def put_media(stream, data):
            h = signed("/putMedia", b"", {"x-amzn-stream-name": stream,
                                          "x-amzn-fragment-timecode-type": "ABSOLUTE",
                                          "x-amzn-fragment-acknowledgment-required": "1"})
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            c.putrequest("POST", "/putMedia", skip_host=True, skip_accept_encoding=True)
            for k, v in h.items():
                c.putheader(k, v)
            c.putheader("Transfer-Encoding", "chunked")
            c.endheaders()
            for i in range(0, len(data), 16384):
                piece = data[i:i + 16384]
                c.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
            c.send(b"0\r\n\r\n")
            r = c.getresponse()
            acks = [json.loads(x) for x in r.read().decode().split("\n") if x.strip()]
            c.close()
            return r.status, acks

        status, _ = scrape(url, token=None)
        check(status.startswith("401"), "/metrics without the token: 401 (%s)" % status)
        status, _ = scrape(url, token="wrong")
        check(status.startswith("401"), "/metrics with a wrong token: 401")
        st, et, _ = call("/createStream", {"StreamName": "cam1", "DataRetentionInHours": 1})
        check(st == 200, "createStream cam1")
        status, text0 = scrape(url)
        check(status == "200 text/plain; version=0.0.4; charset=utf-8",
              "/metrics: 200 and the 0.0.4 content type (%s)" % status)
        before, bad = parse(text0)
        check(bad == [], "first scrape parses (bad lines: %s)" % bad[:3])

        st, acks = put_media("cam1", video)
        persisted = [a for a in acks if a.get("EventType") == "PERSISTED"]
        check(st == 200 and len(persisted) >= 3, "upload: 200, %d PERSISTED" % len(persisted))
        st, acks2 = put_media("cam1", b"this is not a matroska file at all" * 10)
        errors = [a for a in acks2 if a.get("EventType") == "ERROR"]
        check(st == 200 and len(errors) >= 1, "garbage upload: ERROR acks %s" % errors)
        st, et, _ = call("/describeStream", {"StreamName": "nope"})
        check(st == 404 and et == "ResourceNotFoundException", "unknown stream: 404")
        st, et, _ = call("/describeStream", {"StreamName": "cam1"}, secret="bad")
        check(st == 401 and et == "NotAuthorizedException", "bad signature: 401")

        # The upload's state is freed on the server's loop after its response ended: wait for
        # the active-upload gauge to fall (a condition, not a time limit: at most 100 scrapes).
        waits = 0
        while waits < 100:
            waits += 1
            _, text = scrape(url)
            if parse(text)[0].get("camstream_putmedia_uploads") == 0:
                break
            time.sleep(0.05)
        status, text1 = scrape(url)
        after, bad = parse(text1)
        check(bad == [], "second scrape parses (bad lines: %s)" % bad[:3])

        def delta(series):
            return after.get(series, -1e9) - before.get(series, -1e9)

        n = len(persisted)
        check(delta("camstream_putmedia_uploads_total") == 2, "uploads_total +2")
        check(after.get("camstream_putmedia_uploads") == 0, "no upload active afterwards")
        check(delta("camstream_fragments_persisted_total") == n, "fragments_persisted +%d" % n)
        check(delta("camstream_ack_latency_seconds_count") == n, "ack latency samples +%d" % n)
        check(delta('camstream_ack_latency_seconds_bucket{le="+Inf"}') == n, "+Inf bucket +n")
        check(after.get("camstream_ack_latency_seconds_sum", 0) > 0, "latency sum > 0")
        check(delta('camstream_http_requests_total{api="putMedia"}') == 2, "requests putMedia +2")
        check(delta('camstream_http_requests_total{api="describeStream"}') == 2,
              "requests describeStream +2")
        check(delta('camstream_http_requests_total{api="metrics"}') == 1 + waits,
              "requests metrics +%d (one per scrape)" % (1 + waits))
        check(delta('camstream_errors_total{kind="ResourceNotFoundException"}') == 1,
              "errors ResourceNotFoundException +1")
        check(delta('camstream_errors_total{kind="NotAuthorizedException"}') == 1,
              "errors NotAuthorizedException +1")
        for eid in sorted(set(e["ErrorId"] for e in errors)):
            want = sum(1 for e in errors if e["ErrorId"] == eid)
            check(delta('camstream_errors_total{kind="ErrorId_%d"}' % eid) == want,
                  "errors ErrorId_%d +%d" % (eid, want))
        check(delta("camstream_bytes_in_total") >= len(video), "bytes_in grew by the upload")
        check(delta("camstream_bytes_out_total") > 0, "bytes_out grew")
        check(delta("camstream_http_connections_total") >= 5, "connections_total grew")
        check(after.get("camstream_http_connections", 0) >= 1, "the scrape's connection is open")
        check(after.get("camstream_getmedia_consumers") == 0, "no GetMedia consumer")
    finally:
        srv.terminate()
        srv.wait(timeout=60)
    check(srv.returncode == 0, "server exits 0")
    if not failures:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
