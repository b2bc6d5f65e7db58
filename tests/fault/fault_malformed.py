#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Bad input never hurts the others: while a good producer uploads 120 fragments to stream
"good" (paced), other clients send, one after another: malformed MKV on stream "bad" (ERROR
4006), a Cluster declaring 60 MB (ERROR 4001), a timecode going backwards (ERROR 4004), bad JSON
(400 SerializationException), a JSON body above 8 MiB (413), a 64 KiB header (431), a wrong
secret key on the control plane and on PutMedia and an unsigned request (401
NotAuthorizedException with the cause, InvalidSignatureException or
MissingAuthenticationTokenException, in the message; or 403 with the cause as the type). Each
gets its error, in the KVS format (x-amzn-ErrorType + {"Message"}) where the API answers; the
good upload gets all 120 PERSISTED acks in timecode order with no gap and no ERROR, and the
server stays up.
Usage: fault_malformed.py CAMSTREAM_INGEST"""
import json
import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvs  # noqa: E402


def kvs_error(status, headers, body, want_status, want_type):
    try:
        msg = json.loads(body).get("Message") if body else None
    except ValueError:
        msg = None
    return (status == want_status and headers.get("x-amzn-errortype", "").split(":")[0] ==
            want_type and isinstance(msg, str) and msg != "")


def auth_error(status, headers, body, cause):
    """A refused signature: the KVS model's 401 NotAuthorizedException (cause in the message) or
    the older 403 with the cause as the error type."""
    return (kvs_error(status, headers, body, 401, "NotAuthorizedException") and
            cause in json.loads(body)["Message"]) or kvs_error(status, headers, body, 403, cause)


def bad_upload(srv, stream, chunks):
    up = kvs.Upload(srv, stream)
    for c in chunks:
        if not up.send(c):
            break
    up.finish(timeout=30)
    return up


def raw(srv, data):
    s = socket.create_connection((srv.host, srv.port), timeout=30)
    try:
        s.sendall(data)
        return kvs.read_response(s.makefile("rb"))
    except OSError:
        return (0, {}, b"")
    finally:
        s.close()


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="cs-fault-bad-")
    header, clusters = kvs.make_mkv(os.path.join(tmp, "in.mkv"), 1800)
    srv = kvs.Server(binary, os.path.join(tmp, "data")).start()
    try:
        for n in ("good", "bad", "big", "back"):
            kvs.create_stream(srv, n)
        good = {}

        def good_producer():
            up = kvs.Upload(srv, "good")
            up.send(header)
            for c in clusters:
                up.send(c)
                time.sleep(0.03)
            up.finish(timeout=60)
            good["up"] = up

        t = threading.Thread(target=good_producer)
        t.start()
        time.sleep(0.3)

        up = bad_upload(srv, "bad", [header, clusters[0], b"\x1f\x43\xb6\x75\x81\x05garbage!" +
                                     os.urandom(3000)])
        errs = up.of("ERROR")
        kvs.check(up.status == 200 and [e.get("ErrorId") for e in errs] == [4006],
                  "malformed MKV -> one ERROR 4006 (%s)" % [e.get("ErrorId") for e in errs])
        kvs.check(len(up.of("PERSISTED")) == 1, "the good fragment before it is PERSISTED")

        # A Cluster of 60 MB (one SimpleBlock), sent until the server refuses it (above 50 MB).
        big = (b"\x1f\x43\xb6\x75" + (0x01 << 56 | 60_000_000).to_bytes(8, "big") +
               b"\xe7\x81\x00" + b"\xa3" + (0x01 << 56 | 59_999_980).to_bytes(8, "big") +
               b"\x81\x00\x00\x80")
        up = bad_upload(srv, "big", [header, big] + [bytes(1 << 20)] * 52)
        ids = [e.get("ErrorId") for e in up.of("ERROR")]
        # 4001 for the fragment; the body then ends inside the Cluster, which is also 4006.
        kvs.check(ids[:1] == [4001] and not up.of("PERSISTED"),
                  "a 60 MB Cluster -> ERROR 4001 first, nothing PERSISTED (%s)" % ids)

        up = bad_upload(srv, "back", [header, clusters[5], clusters[2]])
        kvs.check([e.get("ErrorId") for e in up.of("ERROR")] == [4004],
                  "timecode going backwards -> ERROR 4004 (%s)" %
                  [e.get("ErrorId") for e in up.of("ERROR")])

        r = kvs.call(srv, "/createStream", raw=b'{"StreamName": "x",')
        kvs.check(kvs_error(*r, 400, "SerializationException"),
                  "bad JSON -> 400 SerializationException (%d %s)" % (r[0], r[2][:80]))

        r = kvs.call(srv, "/describeStream", raw=b'{"StreamName":"' + b"a" * (9 << 20) + b'"}')
        kvs.check(r[0] == 413, "a 9 MiB JSON body -> 413 (%d)" % r[0])

        r = raw(srv, b"POST /describeStream HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 +
                b"\r\nContent-Length: 2\r\n\r\n{}")
        kvs.check(r[0] == 431, "a 64 KiB header -> 431 (%d)" % r[0])

        r = kvs.call(srv, "/describeStream", {"StreamName": "good"}, sk="wrong" + kvs.SK[5:])
        kvs.check(auth_error(*r, "InvalidSignatureException"),
                  "wrong secret (control plane) -> %d %s" % (r[0], r[1].get("x-amzn-errortype")))

        up = kvs.Upload(srv, "good", sk="wrong" + kvs.SK[5:])
        up.closed.wait(10)
        kvs.check(auth_error(up.status, up.headers, up.error_body, "InvalidSignatureException"),
                  "wrong secret (PutMedia on the busy stream) -> %s %s" %
                  (up.status, up.headers.get("x-amzn-errortype")))
        up.abort()

        r = raw(srv, b"POST /describeStream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                b"Connection: close\r\n\r\n{}")
        kvs.check(auth_error(*r, "MissingAuthenticationTokenException"),
                  "unsigned -> %d %s" % (r[0], r[1].get("x-amzn-errortype")))

        t.join(120)
        up = good["up"]
        tcs = [a["FragmentTimecode"] for a in up.of("PERSISTED")]
        want = [kvs.cluster_timecode(c) for c in clusters]
        kvs.check(not up.of("ERROR"), "the good upload got no ERROR ack")
        kvs.check(tcs == want, "the good upload got all %d PERSISTED acks in order, no gap "
                  "(%d)" % (len(want), len(tcs)))
        kvs.check(len(kvs.list_fragments(srv, "good")) == len(clusters),
                  "all of them listed")
        kvs.check(srv.alive() and srv.stop() == 0, "server up, clean stop")
        return 0
    except kvs.Fail:
        srv.kill9()
        print("server log: %s" % os.path.join(tmp, "server.log"))
        return 1


if __name__ == "__main__":
    sys.exit(main())
