#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""camstream-ingest with --storage s3 against a real Ceph radosgw (tests/util/start-radosgw; exit
77 when Ceph is not installed): one upload of 10 fragments, all PERSISTED, listed, and read back
byte-identical with getMediaForFragmentList; the objects are in the bucket (listed with boto3);
a restart (recovery over S3) keeps them. Usage: fault_s3.py CAMSTREAM_INGEST START_RADOSGW"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvs  # noqa: E402


def main():
    binary, script = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="cs-fault-s3-")
    ceph = os.path.join(tmp, "ceph")
    p = subprocess.run(["sh", script, ceph], capture_output=True, text=True)
    if p.returncode == 77:
        kvs.skip("Ceph is not installed (ceph-mon ceph-osd radosgw): " + p.stdout.strip()[-200:])
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        return 1
    env = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition("=")
        if k.startswith("CS_S3_"):
            env[k] = v.strip().strip("'\"")
    srv = None
    try:
        header, clusters = kvs.make_mkv(os.path.join(tmp, "in.mkv"), 150)
        senv = {"AWS_ACCESS_KEY_ID": env["CS_S3_ACCESS_KEY"],
                "AWS_SECRET_ACCESS_KEY": env["CS_S3_SECRET_KEY"]}
        srv = kvs.Server(binary, os.path.join(tmp, "data"),
                         ["--storage", "s3", "--s3-endpoint", env["CS_S3_ENDPOINT"],
                          "--s3-bucket", "camstream-ingest", "--s3-create-bucket"], env=senv)
        srv.start()
        kvs.create_stream(srv, "cam")
        up = kvs.Upload(srv, "cam")
        up.send(header)
        for c in clusters:
            up.send(c)
            time.sleep(0.01)
        up.finish()
        kvs.check(len(up.of("PERSISTED")) == len(clusters) and not up.of("ERROR"),
                  "all %d fragments PERSISTED on S3" % len(clusters))
        nums = [f["FragmentNumber"] for f in kvs.list_fragments(srv, "cam")]
        kvs.check(len(nums) == len(clusters), "listFragments lists them")
        served = kvs.split_fragments(kvs.get_media_for_fragments(srv, "cam", sorted(nums)))
        kvs.check(served == [kvs.cluster_payload(c) for c in clusters],
                  "getMediaForFragmentList returns them byte-identical")
        kvs.check(not os.path.exists(os.path.join(tmp, "data", "objects")),
                  "nothing was written to DATA_DIR/objects")
        try:
            import boto3
            s3 = boto3.client("s3", endpoint_url=env["CS_S3_ENDPOINT"], region_name="us-east-1",
                              aws_access_key_id=env["CS_S3_ACCESS_KEY"],
                              aws_secret_access_key=env["CS_S3_SECRET_KEY"])
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="camstream-ingest",
                                                          Prefix="streams/").get("Contents", [])]
            kvs.check(len(keys) == len(clusters), "the bucket holds %d objects" % len(keys))
        except ImportError:
            print("boto3 missing: bucket listing not checked")
        kvs.check(srv.stop() == 0, "clean stop")
        srv.start()
        kvs.check(len(kvs.list_fragments(srv, "cam")) == len(clusters),
                  "after a restart (recovery over S3) all still listed")
        kvs.check(srv.stop() == 0, "clean stop")
        return 0
    except kvs.Fail:
        return 1
    finally:
        if srv:
            srv.kill9()
        subprocess.call(["sh", script, "--stop", ceph])


if __name__ == "__main__":
    sys.exit(main())
