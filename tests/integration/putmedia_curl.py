#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# End-to-end proof of the ingest server with the curl command-line tool (issue 4): the real
# camstream-ingest on a loopback port (SigV4 on; curl signs with its own --aws-sigv4), a GStreamer
# MKV made the way KVS producers make theirs (H.264 baseline, no B-frames, a Cluster per key frame,
# absolute timecodes), uploaded with `curl -T` as PutMedia over
#   - HTTP/1.1 with Transfer-Encoding: chunked (and Expect: 100-continue),
#   - HTTP/2 with prior knowledge (h2c), the body from a pipe (no length: DATA frames only),
#   - HTTPS with ALPN h2 (a throwaway openssl certificate; the server's --tls-cert/--tls-key),
#     and HTTPS with HTTP/1.1 chunked,
# checking the acks (BUFFERING, RECEIVED, PERSISTED per fragment, in order, numbers increasing),
# listFragments (numbers, sizes, producer timestamps), then reading back over the same transport
# with getMedia (EARLIEST; over HTTP/1.1 a chunked response) and getMediaForFragmentList (all, and a
# subset out of order): every frame byte-identical to the upload (raw Clusters, camstream's MKV
# reader, ffprobe packet hashes). A control-plane call (describeStream) goes over each transport.
# Usage: putmedia_curl.py camstream-ingest getmedia_mkvdump. Exit 77 = skipped (a tool missing).
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e  # noqa: E402
from cs_e2e import check  # noqa: E402


def roundtrip(url, stream, up, dump, tmp, transport, args, put_kw, server):
    """Creates `stream`, uploads the video over `transport` (curl `args`), checks acks, the index
    and reads back over the same transport. Returns the fragment numbers."""
    what = "%s %s" % (transport, stream)
    want_ver = "2" if "h2" in transport else "1.1"
    st, ver, doc = e.curl_json(url, "/createStream", {"StreamName": stream, "MediaType":
                                                       "video/h264", "DataRetentionInHours": 24},
                               tmp, args)
    check(st == 200 and doc and "StreamARN" in doc and ver == want_ver,
          "%s: createStream -> %d over HTTP/%s" % (what, st, ver))
    st, ver, doc = e.curl_json(url, "/describeStream", {"StreamName": stream}, tmp, args)
    info = (doc or {}).get("StreamInfo", {})
    check(st == 200 and info.get("Status") == "ACTIVE" and info.get("MediaType") == "video/h264"
          and ver == want_ver, "%s: describeStream -> %d over HTTP/%s" % (what, st, ver))

    # --- PutMedia ---
    st, ver, acks, verbose = e.put_media(url, stream, up, tmp, args, **put_kw)
    check(st == 200 and ver == want_ver, "%s: PutMedia -> %d over HTTP/%s" % (what, st, ver))
    if put_kw.get("chunked"):
        check("> Transfer-Encoding: chunked" in verbose and "< HTTP/1.1 100 Continue" in verbose
              and "Content-Length" not in verbose.split("< HTTP/1.1 100")[0],
              "%s: the upload went chunked, after 100 Continue" % what)
    else:
        check("content-length" not in verbose.lower().split("\n< ")[0]
              and "> POST /putMedia HTTP/2" in verbose,
              "%s: the upload went as HTTP/2 DATA frames with no length" % what)
    if "tls" in transport:
        alpn = "ALPN: server accepted h2" if want_ver == "2" else "ALPN: server accepted http/1.1"
        check(alpn in verbose and "SSL certificate verify ok" in verbose,
              "%s: TLS, certificate verified, '%s'" % (what, alpn))
    nums = e.check_acks(acks, up.timecodes, "%s: PutMedia acks" % what)

    # --- listFragments: what the index holds ---
    st, ver, doc = e.curl_json(url, "/listFragments", {"StreamName": stream}, tmp, args)
    frs = (doc or {}).get("Fragments", [])
    check(st == 200 and [f.get("FragmentNumber") for f in frs] == nums and len(nums) == 5,
          "%s: listFragments lists the %d PERSISTED fragments" % (what, len(frs)))
    check([f.get("ProducerTimestamp") for f in frs] == [tc / 1000 for tc in up.timecodes]
          and [f.get("FragmentSizeInBytes") for f in frs] == [len(c) for c in up.cluster_bytes]
          and all(900 <= f.get("FragmentLengthInMilliseconds", 0) <= 1000 for f in frs),
          "%s: listFragments: producer timestamps, sizes (= Cluster bytes), lengths" % what)

    # --- getMedia, EARLIEST ---
    gm = os.path.join(tmp, "gm-%s.mkv" % stream)
    verbose = os.path.join(tmp, "curl-gm-%s.txt" % stream)
    st, ver, err = e.curl(url, "/getMedia", ["-H", "Content-Type: application/json",
                                             "--data-binary", '{"StreamName":"%s","StartSelector"'
                                             ':{"StartSelectorType":"EARLIEST"}}' % stream]
                          + list(args), gm, verbose)
    check(st == 200 and ver == want_ver and "< content-type: video/h264" in err.lower(),
          "%s: getMedia EARLIEST -> %d over HTTP/%s, video/h264" % (what, st, ver))
    if want_ver == "1.1":
        check("< transfer-encoding: chunked" in err.lower(),
              "%s: getMedia response is chunked" % what)
    e.check_readback(up, dump, gm, list(range(len(nums))), nums, "%s: getMedia" % what)

    # --- getMediaForFragmentList: all, then a subset out of order ---
    for order in (list(range(len(nums))), [3, 0, 4]):
        if max(order) >= len(nums):
            check(False, "%s: getMediaForFragmentList needs %d fragments" % (what, max(order) + 1))
            continue
        pick = [nums[k] for k in order]
        path = os.path.join(tmp, "gmffl-%s-%d.mkv" % (stream, len(order)))
        st, ver, _ = e.curl(url, "/getMediaForFragmentList",
                            ["-H", "Content-Type: application/json", "--data-binary",
                             '{"StreamName":"%s","Fragments":%s}' % (
                                 stream, str(pick).replace("'", '"'))] + list(args), path)
        check(st == 200 and ver == want_ver, "%s: getMediaForFragmentList %s -> %d over HTTP/%s"
              % (what, order, st, ver))
        e.check_readback(up, dump, path, order, pick,
                         "%s: getMediaForFragmentList %s" % (what, order))
    log = server.log_text()
    want_log = {"h1": "connection speaks HTTP/1.1", "h2c": "connection speaks HTTP/2 (prior "
                "knowledge)", "tls-h2": "connection speaks HTTP/2 (ALPN h2)",
                "tls-h1": "connection speaks HTTP/1.1"}[transport]
    check(want_log in log, "%s: the server logged '%s'" % (what, want_log))
    return nums


def live_follow(binary, up, dump, tmp):
    """GetMedia (CONTINUATION_TOKEN after the last stored fragment) over h2c, open while a second
    upload session (a producer reconnecting: new EBML header + Segment) sends the rest of the
    video over h2c a Cluster at a time: the reader gets exactly the new fragments, frame-identical,
    as they are persisted (the response ends after 3 s without a new fragment)."""
    h2 = ["--http2-prior-knowledge"]
    srv = e.Server(binary, os.path.join(tmp, "data-live"),
                   ["--getmedia-idle-seconds", "3", "--getmedia-max-seconds", "60"])
    try:
        url = srv.url
        st, _, _ = e.curl_json(url, "/createStream", {"StreamName": "live"}, tmp, h2)
        check(st == 200, "live: createStream")
        header = up.data[:up.ranges[0][0]]
        first = os.path.join(tmp, "first.mkv")
        with open(first, "wb") as f:
            f.write(header + b"".join(up.cluster_bytes[:2]))
        acks = os.path.join(tmp, "acks-live-1.txt")
        st, ver, _ = e.curl(url, "/putMedia", ["-X", "POST", "-H", "x-amzn-stream-name: live"]
                            + e.PUT_HEADERS + h2 + ["-T", first], acks)
        with open(acks) as f:
            nums = e.check_acks(f.read(), up.timecodes[:2], "live: first session")
        gm_path = os.path.join(tmp, "gm-live.mkv")
        body = '{"StreamName":"live","StartSelector":{"StartSelectorType":"CONTINUATION_TOKEN",' \
               '"ContinuationToken":"%s"}}' % (nums[-1] if nums else "")
        gm = subprocess.Popen([e.CURL, "-sS", "-N", "--max-time", "120", "--aws-sigv4", e.SIGV4,
                               "--user", "%s:%s" % (e.AK, e.SK), "-o", gm_path, "-w",
                               "%{http_code} %{http_version}", "-H",
                               "Content-Type: application/json", "--data-binary", body]
                              + h2 + [url + "/getMedia"], stdout=subprocess.PIPE)
        time.sleep(0.5)
        check(gm.poll() is None, "live: getMedia waits at the live edge")
        acks = os.path.join(tmp, "acks-live-2.txt")
        put = subprocess.Popen([e.CURL, "-sS", "-N", "--aws-sigv4", e.SIGV4,
                                "--user", "%s:%s" % (e.AK, e.SK), "-o", acks, "-X", "POST", "-H",
                                "x-amzn-stream-name: live"] + e.PUT_HEADERS + h2
                               + ["-T", ".", url + "/putMedia"], stdin=subprocess.PIPE)
        put.stdin.write(header)
        for c in up.cluster_bytes[2:]:
            put.stdin.write(c)
            put.stdin.flush()
            time.sleep(0.3)
        put.stdin.close()
        check(put.wait(timeout=120) == 0, "live: second session uploaded Cluster by Cluster")
        with open(acks) as f:
            nums2 = e.check_acks(f.read(), up.timecodes[2:], "live: second session")
        out = gm.communicate(timeout=120)[0].decode().split()
        check(gm.returncode == 0 and out == ["200", "2"], "live: getMedia -> %s" % out)
        e.check_readback(up, dump, gm_path, [2, 3, 4], nums2, "live: getMedia followed the upload")
    finally:
        check(srv.stop() == 0, "live server exits 0 on SIGTERM")


def multiplexed(url, cert, up, dump, tmp):
    """One HTTPS connection (ALPN h2), two streams at once (curl --parallel): a getMedia
    (CONTINUATION_TOKEN after the fragments already stored) and the PutMedia that sends the next
    ones. The reader gets exactly the new fragments, frame-identical."""
    tls = ["--http2", "--cacert", cert]
    st, _, _ = e.curl_json(url, "/createStream", {"StreamName": "mux"}, tmp, tls)
    check(st == 200, "mux: createStream")
    header = up.data[:up.ranges[0][0]]
    first, rest = os.path.join(tmp, "mux-1.mkv"), os.path.join(tmp, "mux-2.mkv")
    with open(first, "wb") as f:
        f.write(header + b"".join(up.cluster_bytes[:2]))
    with open(rest, "wb") as f:
        f.write(header + b"".join(up.cluster_bytes[2:]))
    acks = os.path.join(tmp, "acks-mux-1.txt")
    e.curl(url, "/putMedia", ["-X", "POST", "-H", "x-amzn-stream-name: mux"] + e.PUT_HEADERS
           + tls + ["-T", first], acks)
    with open(acks) as f:
        nums = e.check_acks(f.read(), up.timecodes[:2], "mux: first session")
    gm_path, acks = os.path.join(tmp, "gm-mux.mkv"), os.path.join(tmp, "acks-mux-2.txt")
    body = '{"StreamName":"mux","StartSelector":{"StartSelectorType":"CONTINUATION_TOKEN",' \
           '"ContinuationToken":"%s"}}' % (nums[-1] if nums else "")
    sign = ["--aws-sigv4", e.SIGV4, "--user", "%s:%s" % (e.AK, e.SK)]
    p = subprocess.run([e.CURL, "-sS", "-N", "-v", "--max-time", "120", "--parallel"]
                       + tls + sign
                       + ["-H", "Content-Type: application/json", "--data-binary", body, "-o",
                          gm_path, url + "/getMedia", "--next"] + tls + sign
                       + ["-X", "POST", "-H", "x-amzn-stream-name: mux"] + e.PUT_HEADERS
                       + ["-T", rest, "-o", acks, url + "/putMedia"],
                       capture_output=True, timeout=180)
    err = p.stderr.decode(errors="replace")
    check(p.returncode == 0 and "Multiplexed connection found" in err
          and err.count("Connected to 127.0.0.1") == 1,
          "mux: getMedia and PutMedia multiplexed on one TLS connection (curl exit %d)"
          % p.returncode)
    with open(acks) as f:
        nums2 = e.check_acks(f.read(), up.timecodes[2:], "mux: second session")
    e.check_readback(up, dump, gm_path, [2, 3, 4], nums2, "mux: getMedia beside the upload")


def relative(url, dump, tmp):
    """A producer using RELATIVE timecodes (Cluster timecodes from 0, the start time in
    x-amzn-producer-start-timestamp), over HTTP/1.1 chunked: acks carry the Cluster timecodes,
    the index and the GetMedia tags carry start + timecode, the Clusters come back unchanged."""
    path = os.path.join(tmp, "relative.mkv")
    data = e.make_mkv(path, offset_ms=0)
    if not check(data is not None, "relative: GStreamer MKV with timecodes from 0"):
        return
    up = e.Upload(path, data, dump)
    base = 1700000100500
    check(up.timecodes == [1000 * k for k in range(5)], "relative: Clusters at %s" % up.timecodes)
    st, _, _ = e.curl_json(url, "/createStream", {"StreamName": "relative"}, tmp)
    st, ver, acks, _ = e.put_media(url, "relative", up, tmp, [], headers=[
        "-H", "x-amzn-fragment-timecode-type: RELATIVE", "-H",
        "x-amzn-producer-start-timestamp: %d.%03d" % (base // 1000, base % 1000)])
    check(st == 200, "relative: PutMedia -> %d" % st)
    nums = e.check_acks(acks, up.timecodes, "relative: acks")
    st, _, doc = e.curl_json(url, "/listFragments", {"StreamName": "relative"}, tmp)
    frs = (doc or {}).get("Fragments", [])
    check([f.get("FragmentNumber") for f in frs] == nums and [
        round(f.get("ProducerTimestamp", 0) * 1000) for f in frs] == [
        base + tc for tc in up.timecodes],
        "relative: listFragments producer timestamps = start + Cluster timecode")
    gm = os.path.join(tmp, "gm-relative.mkv")
    # Whole seconds: start + 2 s (...102.0) falls in the fragment of ...101.5 (Cluster 1).
    e.curl(url, "/getMedia", ["-H", "Content-Type: application/json", "--data-binary",
                              '{"StreamName":"relative","StartSelector":{"StartSelectorType":'
                              '"PRODUCER_TIMESTAMP","StartTimestamp":%d}}' % (base // 1000 + 2)],
           gm)
    e.check_readback(up, dump, gm, [1, 2, 3, 4], nums[1:], "relative: getMedia PRODUCER_TIMESTAMP",
                     base_ms=base)


def main():
    miss = e.missing_tools(e.CURL, e.GST, e.FFPROBE, e.OPENSSL)
    if miss:
        print("skip: missing " + " ".join(miss))
        return 77
    binary, dump = sys.argv[1:3]
    tmp = tempfile.mkdtemp(prefix="cs-putmedia-curl-")
    path = os.path.join(tmp, "ball.mkv")
    data = e.make_mkv(path)
    if data is None:
        print("skip: GStreamer (videotestsrc, x264enc, matroskamux) could not make the video")
        return 77
    up = e.Upload(path, data, dump)
    check(up.reader_ok and len(up.ranges) == 5 and up.timecodes == [
        e.START_MS + 1000 * k for k in range(5)],
        "the GStreamer MKV: 5 Clusters at %s" % up.timecodes)
    check(all(len(f) == 30 and f[0][2] == 1 and not any(x[2] for x in f[1:]) for f in up.frames),
          "each Cluster: 30 frames, starting with the only key frame")
    # ffprobe's pts are milliseconds (Matroska time base 1/1000); equal to the reader's ticks, they
    # show TimecodeScale is 1 ms, as PutMedia requires.
    check(len(up.packets) == e.FRAMES and up.packets == [
        (fr[1], fr[2], fr[3], fr[4]) for fr in up.reader_frames(range(5))],
        "ffprobe and camstream's reader agree on the %d frames of the upload (timestamp in ms, "
        "key, size, SHA-256)" % len(up.packets))

    # Plain HTTP: HTTP/1.1 chunked and h2c on the same port.
    srv = e.Server(binary, os.path.join(tmp, "data"),
                   ["--getmedia-idle-seconds", "1", "--getmedia-max-seconds", "60"])
    try:
        check(srv.url.startswith("http://127.0.0.1:"), "server up: " + srv.banner)
        roundtrip(srv.url, "h1", up, dump, tmp, "h1", ["--http1.1"], {"chunked": True}, srv)
        roundtrip(srv.url, "h2c", up, dump, tmp, "h2c", ["--http2-prior-knowledge"],
                  {"chunked": False, "stdin_body": True}, srv)
        relative(srv.url, dump, tmp)
    finally:
        check(srv.stop() == 0, "server exits 0 on SIGTERM")
    live_follow(binary, up, dump, tmp)

    # HTTPS: ALPN h2 and HTTP/1.1 chunked.
    cert, key = e.make_cert(tmp)
    srv = e.Server(binary, os.path.join(tmp, "data-tls"),
                   ["--getmedia-idle-seconds", "2", "--getmedia-max-seconds", "60",
                    "--tls-cert", cert, "--tls-key", key])
    try:
        check(srv.url.startswith("https://127.0.0.1:"), "TLS server up: " + srv.banner)
        roundtrip(srv.url, "tlsh2", up, dump, tmp, "tls-h2", ["--http2", "--cacert", cert],
                  {"chunked": False, "stdin_body": True}, srv)
        roundtrip(srv.url, "tlsh1", up, dump, tmp, "tls-h1", ["--http1.1", "--cacert", cert],
                  {"chunked": True}, srv)
        multiplexed(srv.url, cert, up, dump, tmp)
    finally:
        check(srv.stop() == 0, "TLS server exits 0 on SIGTERM")
    e.rmtree_if_ok(tmp)
    return e.finish()


if __name__ == "__main__":
    sys.exit(main())
