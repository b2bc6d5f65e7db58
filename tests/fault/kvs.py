# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the fault tests: start/kill camstream-ingest, SigV4-signed control-plane and
archived-media calls (botocore's signer, service kinesisvideo), a PutMedia client over a raw socket
(HTTP/1.1 chunked; a reader thread collects the JSON acks line by line), a test MKV made by
GStreamer, and an EBML walker that checks a GetMedia body is made of complete fragments."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-west-2"
SKIP = 77


def skip(why):
    print("skip: " + why, flush=True)
    sys.exit(SKIP)


class Fail(Exception):
    pass


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        raise Fail(what)


# ------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------
class Server:
    def __init__(self, binary, data_dir, extra=(), env=None):
        self.binary, self.data_dir, self.extra, self.env = binary, data_dir, list(extra), env
        self.proc = None
        self.host, self.port = "127.0.0.1", 0
        self.log = None

    def start(self):
        args = [self.binary, "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
                "--log-level", "info"] + self.extra
        logpath = os.path.join(os.path.dirname(self.data_dir.rstrip("/")) or ".", "server.log")
        self.log = open(logpath, "ab")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, env=env)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.wait(timeout=10)
            raise Fail("server did not start (exit %s); see %s" % (self.proc.returncode, logpath))
        self.port = int(m.group(1))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            self.proc = None
            return rc
        return None

    def log_text(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")


# ------------------------------------------------------------------------------------------------
# Requests
# ------------------------------------------------------------------------------------------------
def sign(method, url, headers, body=b"", ak=AK, sk=SK):
    req = AWSRequest(method=method, url=url, headers=headers, data=body)
    SigV4Auth(Credentials(ak, sk), "kinesisvideo", REGION).add_auth(req)
    return dict(req.headers.items())


def read_response(sock_file):
    """Status, headers (lower-case names), body of one HTTP/1.1 response (length or chunked)."""
    status_line = sock_file.readline().decode()
    if not status_line:
        raise Fail("connection closed before a response")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = sock_file.readline().decode().rstrip("\r\n")
        if not line:
            break
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if status == 100:
        return read_response(sock_file)
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int(sock_file.readline().split(b";")[0], 16)
            if size == 0:
                sock_file.readline()
                break
            body += sock_file.read(size)
            sock_file.readline()
    elif "content-length" in headers:
        body = sock_file.read(int(headers["content-length"]))
    return status, headers, body


def call(srv, path, obj=None, raw=None, ak=AK, sk=SK, extra_headers=None, timeout=30):
    """A signed POST with a JSON body; returns (status, headers, body bytes)."""
    body = raw if raw is not None else json.dumps(obj or {}).encode()
    url = "http://%s:%d%s" % (srv.host, srv.port, path)
    h = {"Content-Type": "application/json", "Host": "%s:%d" % (srv.host, srv.port)}
    if extra_headers:
        h.update(extra_headers)
    h = sign("POST", url, h, body, ak, sk)
    s = socket.create_connection((srv.host, srv.port), timeout=timeout)
    try:
        req = "POST %s HTTP/1.1\r\n" % path
        for k, v in h.items():
            req += "%s: %s\r\n" % (k, v)
        req += "Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        try:
            s.sendall(req.encode() + body)
        except OSError:
            pass  # the server may answer (413) and close before reading the whole body
        return read_response(s.makefile("rb"))
    finally:
        s.close()


def create_stream(srv, name, retention=0):
    st, h, b = call(srv, "/createStream", {"StreamName": name, "MediaType": "video/h264",
                                            "DataRetentionInHours": retention})
    if st != 200:
        raise Fail("createStream %s: %d %s" % (name, st, b[:200]))


def list_fragments(srv, name):
    out, token = [], None
    while True:
        req = {"StreamName": name, "MaxResults": 1000}
        if token:
            req["NextToken"] = token
        st, h, b = call(srv, "/listFragments", req)
        if st != 200:
            raise Fail("listFragments %s: %d %s" % (name, st, b[:200]))
        j = json.loads(b)
        out += j.get("Fragments", [])
        token = j.get("NextToken")
        if not token:
            return out


def get_media_for_fragments(srv, name, numbers):
    st, h, b = call(srv, "/getMediaForFragmentList", {"StreamName": name, "Fragments": numbers},
                    timeout=120)
    if st != 200:
        raise Fail("getMediaForFragmentList %s: %d %s" % (name, st, b[:200]))
    return b


# ------------------------------------------------------------------------------------------------
# PutMedia
# ------------------------------------------------------------------------------------------------
class Upload:
    """One PutMedia request: the headers go out at once, chunks with send(); a thread reads the
    response and the acks. `acks` is the list of parsed ack objects, in arrival order."""

    def __init__(self, srv, stream, ak=AK, sk=SK, extra_headers=None, sign_it=True):
        self.status, self.headers, self.acks, self.bad_lines = None, {}, [], []
        self.error_body = b""
        self.closed = threading.Event()
        url = "http://%s:%d/putMedia" % (srv.host, srv.port)
        h = {"Host": "%s:%d" % (srv.host, srv.port), "x-amzn-stream-name": stream,
             "x-amzn-fragment-timecode-type": "ABSOLUTE",
             "x-amzn-producer-start-timestamp": "1700000000.000",
             "x-amzn-fragment-acknowledgment-required": "1"}
        if extra_headers:
            h.update(extra_headers)
        if sign_it:
            h = sign("POST", url, h, b"", ak, sk)
        self.sock = socket.create_connection((srv.host, srv.port), timeout=60)
        req = "POST /putMedia HTTP/1.1\r\n"
        for k, v in h.items():
            req += "%s: %s\r\n" % (k, v)
        req += "Transfer-Encoding: chunked\r\n\r\n"
        self.sock.sendall(req.encode())
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        try:
            f = self.sock.makefile("rb")
            line = f.readline().decode()
            self.status = int(line.split()[1])
            while True:
                l = f.readline().decode().rstrip("\r\n")
                if not l:
                    break
                k, _, v = l.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            if self.status != 200:
                if "content-length" in self.headers:
                    self.error_body = f.read(int(self.headers["content-length"]))
                return
            buf = b""
            while True:
                size_line = f.readline()
                if not size_line:
                    break
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                buf += f.read(size)
                f.readline()
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        self.acks.append(json.loads(line))
                    except ValueError:
                        self.bad_lines.append(line)
        except (OSError, ValueError):
            pass
        finally:
            self.closed.set()

    def send(self, data):
        try:
            self.sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
            return True
        except OSError:
            return False

    def finish(self, timeout=60):
        try:
            self.sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        self.closed.wait(timeout)
        self.sock.close()

    def abort(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.closed.wait(5)

    def of(self, event):
        return [a for a in list(self.acks) if a.get("EventType") == event]


# ------------------------------------------------------------------------------------------------
# Media
# ------------------------------------------------------------------------------------------------
CLUSTER_ID = b"\x1f\x43\xb6\x75"


def make_mkv(path, frames):
    if shutil.which("gst-launch-1.0") is None:
        skip("gst-launch-1.0 missing (Debian gstreamer1.0-tools)")
    cmd = ("gst-launch-1.0 -q videotestsrc num-buffers=%d pattern=ball ! "
           "video/x-raw,width=160,height=120,framerate=30/1 ! x264enc key-int-max=15 "
           "speed-preset=ultrafast ! h264parse ! matroskamux streamable=true ! filesink "
           "location=%s" % (frames, path))
    if subprocess.call(cmd, shell=True) != 0:
        skip("GStreamer could not make the test MKV")
    data = open(path, "rb").read()
    cuts = [m.start() for m in re.finditer(re.escape(CLUSTER_ID), data)]
    header = data[:cuts[0]]
    clusters = [data[a:b] for a, b in zip(cuts, cuts[1:] + [len(data)])]
    return header, clusters


def read_vint(b, i, mask=True):
    first = b[i]
    n = 1
    while n <= 8 and not (first & (0x80 >> (n - 1))):
        n += 1
    if n > 8 or i + n > len(b):
        raise ValueError("bad vint at %d" % i)
    v = first & ((0xFF >> n) if mask else 0xFF)
    for k in range(1, n):
        v = (v << 8) | b[i + k]
    unknown = mask and v == (1 << (7 * n)) - 1
    return v, n, unknown


# EBML header and the Segment's children (Info, Tracks, Tags, Cluster, Cues, SeekHead,
# Chapters, Attachments): any of them ends a Cluster of unknown size.
LEVEL1 = {0x1A45DFA3, 0x1549A966, 0x1654AE6B, 0x1254C367, 0x1F43B675, 0x1C53BB6B, 0x114D9B74,
          0x1043A770, 0x1941A469}


def cluster_payload(cluster):
    """A Cluster's children bytes (what follows its ID and size)."""
    _, n, _ = read_vint(cluster, 0, mask=False)
    _, m, _ = read_vint(cluster, n)
    return cluster[n + m:]


def split_fragments(body):
    """Walks a GetMedia body: per fragment an EBML header and a Segment (any size) holding
    exactly one Cluster (known size, or unknown and then running to the next EBML header or the
    end, as GetMedia sends it) whose children all have known sizes and end exactly where the
    Cluster ends. Returns each Cluster's children bytes; raises ValueError on anything torn."""
    i, out = 0, []
    while i < len(body):
        eid, n, _ = read_vint(body, i, mask=False)
        size, m, unknown = read_vint(body, i + n)
        start = i + n + m
        if eid == 0x1A45DFA3:  # EBML header
            if unknown or start + size > len(body):
                raise ValueError("torn EBML header")
            i = start + size
            continue
        if eid != 0x18538067:  # Segment
            raise ValueError("unexpected top-level element %x at %d" % (eid, i))
        seg_end = len(body) if unknown else start + size
        if seg_end > len(body):
            raise ValueError("torn Segment")
        j, found = start, 0
        while j < seg_end:
            cid, cn, _ = read_vint(body, j, mask=False)
            if cid == 0x1A45DFA3:  # the next fragment (this Segment had an unknown size)
                break
            csize, cm, cunk = read_vint(body, j + cn)
            cstart = j + cn + cm
            if cid == 0x1F43B675:
                k = cstart
                cend = seg_end if cunk else cstart + csize
                if cend > len(body):
                    raise ValueError("torn Cluster")
                while k < cend:
                    kid, kn, _ = read_vint(body, k, mask=False)
                    if cunk and kid in LEVEL1:  # ends a Cluster of unknown size
                        break
                    ksize, km, kunk = read_vint(body, k + kn)
                    if kunk or k + kn + km + ksize > cend:
                        raise ValueError("torn Cluster child %x at %d" % (kid, k))
                    k += kn + km + ksize
                out.append(body[cstart:k])
                found += 1
                j = k
                continue
            if cunk or cstart + csize > seg_end:
                raise ValueError("torn element %x at %d" % (cid, j))
            j = cstart + csize
        if found != 1:
            raise ValueError("a fragment with %d Clusters" % found)
        i = j
    return out


def cluster_timecode(cluster):
    """The Timecode (0xE7) of a Cluster's bytes."""
    _, n, _ = read_vint(cluster, 0, mask=False)
    _, m, _ = read_vint(cluster, n)
    j = n + m
    while j < len(cluster):
        cid, cn, _ = read_vint(cluster, j, mask=False)
        csize, cm, _ = read_vint(cluster, j + cn)
        if cid == 0xE7:
            return int.from_bytes(cluster[j + cn + cm:j + cn + cm + csize], "big")
        j += cn + cm + csize
    raise ValueError("Cluster without Timecode")


# ------------------------------------------------------------------------------------------------
# A small data directory (the disk-full tests)
# ------------------------------------------------------------------------------------------------
def _mount_small(mnt, tmp):
    if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt],
                       stderr=subprocess.DEVNULL) == 0:
        return "tmpfs"
    img = os.path.join(tmp, "disk.img")
    if (subprocess.call(["truncate", "-s", "16m", img]) == 0 and
            subprocess.call(["mkfs.ext4", "-q", "-F", img], stderr=subprocess.DEVNULL) == 0 and
            subprocess.call(["mount", "-o", "loop", img, mnt], stderr=subprocess.DEVNULL) == 0):
        return "loop ext4"
    return None


def small_data_dir(tmp):
    """A small file system at TMP/data (an 8 MiB tmpfs, else a loop-mounted ext4 image); the test
    is skipped (77) when neither can be mounted. Returns its path."""
    mnt = os.path.join(tmp, "data")
    os.mkdir(mnt)
    how = _mount_small(mnt, tmp)
    if how is None:
        skip("cannot mount a tmpfs or a loop file system (needs root or CAP_SYS_ADMIN)")
    print("data dir: %s (%s)" % (mnt, how), flush=True)
    return mnt


def fill(mnt):
    """Fills the file system (a file written until ENOSPC); returns its path."""
    path = os.path.join(mnt, "filler")
    with open(path, "wb") as f:
        block = b"\0" * 65536
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
    # The last partial writes: byte by byte is too slow; 4 KiB then 1 byte steps.
    for step in (4096, 512, 1):
        try:
            with open(path, "ab") as f:
                while True:
                    f.write(b"\0" * step)
                    f.flush()
        except OSError:
            pass
    return path
