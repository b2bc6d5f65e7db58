# SPDX-License-Identifier: Apache-2.0
"""`camstream records` against the real camstream-ingest (SigV4 on): every command once, with its
output checked: streams create/list/describe/split/delete, put (arguments, stdin lines, one
partition key), get (all shards, one shard, --limit, escaping), tail (from trim horizon with
--count; with --app a second tail goes on after the first one's checkpoints), leases, every
--help, and the errors (unknown stream, unknown command, no server).

usage: cli_records.py CAMSTREAM_INGEST CAMSTREAM"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cs_e2e as e2e  # noqa: E402


def run(cli, url, *args, stdin=None, timeout=120):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=e2e.AK, AWS_SECRET_ACCESS_KEY=e2e.SK)
    p = subprocess.run([cli, "--endpoint", url, "--region", e2e.REGION] + list(args),
                       capture_output=True, text=True, env=env, input=stdin, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def rows(out):
    return [line.split("\t") for line in out.splitlines()]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    server_bin, cli = sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="cs-clirec-")
    srv = e2e.Server(server_bin, os.path.join(tmp, "data"))
    if not e2e.check(srv.url != "", "server up: " + srv.banner):
        return e2e.finish()
    try:
        url = srv.url
        p = subprocess.run([cli, "--help"], capture_output=True, text=True)
        e2e.check(p.returncode == 0 and "records put|get|tail|streams" in p.stdout,
                  "camstream --help lists records")
        rc, out, err = run(cli, url, "records", "--help")
        e2e.check(rc == 0 and all(c in out for c in ("put STREAM", "get STREAM", "tail STREAM",
                                                     "streams create", "leases STREAM")),
                  "records --help lists put, get, tail, streams, leases")
        for sub in ("put", "get", "tail", "streams", "leases"):
            rc, out, err = run(cli, url, "records", sub, "--help")
            e2e.check(rc == 0 and ("camstream records " + sub) in out,
                      "records %s --help" % sub)

        rc, out, err = run(cli, url, "records", "streams", "create", "clirec", "--shards", "2")
        e2e.check(rc == 0 and out.strip() == "clirec: 2 shards", "streams create: %s" % out.strip())
        rc, out, err = run(cli, url, "records", "streams", "create", "clirec")
        e2e.check(rc == 1 and "ResourceInUseException" in err, "create again: ResourceInUse")
        run(cli, url, "records", "streams", "create", "other")
        rc, out, err = run(cli, url, "records", "streams", "list")
        e2e.check(rc == 0 and out.split() == ["clirec", "other"], "streams list: %s" % out.split())
        rc, out, err = run(cli, url, "records", "streams", "describe", "clirec")
        try:
            d = json.loads(out)
        except ValueError:
            d = {}
        e2e.check(rc == 0 and d.get("StreamName") == "clirec" and len(d.get("Shards", [])) == 2,
                  "streams describe: the StreamDescription JSON with 2 shards")

        rc, out, err = run(cli, url, "records", "put", "clirec", "hello", "tab\there")
        put1 = rows(out)
        e2e.check(rc == 0 and len(put1) == 2 and all(r[0].startswith("shardId-") and
                                                     len(r[1]) == 56 for r in put1),
                  "put with 2 arguments: SHARD SEQUENCE twice")
        lines = ["line-%03d" % i for i in range(100)]
        rc, out, err = run(cli, url, "records", "put", "clirec", stdin="\n".join(lines) + "\n")
        e2e.check(rc == 0 and len(rows(out)) == 100 and "100 records put, 0 failed" in err,
                  "put from stdin: 100 lines, 100 records")
        e2e.check(len({r[0] for r in rows(out)}) == 2, "...spread over both shards")
        rc, out, err = run(cli, url, "records", "put", "clirec", "--partition-key", "same",
                           "k1", "k2", "k3")
        e2e.check(rc == 0 and len({r[0] for r in rows(out)}) == 1,
                  "put --partition-key: one shard for all")

        rc, out, err = run(cli, url, "records", "get", "clirec")
        got = rows(out)
        data = sorted(r[3] for r in got)
        e2e.check(rc == 0 and data == sorted(["hello", "tab\\there"] + lines + ["k1", "k2", "k3"]),
                  "get: all 105 records, data escaped (%d)" % len(got))
        e2e.check(all(r[2] == "same" for r in got if r[3] in ("k1", "k2", "k3")),
                  "get: the partition key column")
        rc, out, err = run(cli, url, "records", "get", "clirec", "--limit", "5")
        e2e.check(rc == 0 and len(rows(out)) == 5, "get --limit 5")
        rc, out, err = run(cli, url, "records", "get", "clirec", "--shard", "shardId-000000000001")
        one = rows(out)
        e2e.check(rc == 0 and one and all(r[0] == "shardId-000000000001" for r in one) and
                  [int(r[1]) for r in one] == sorted(int(r[1]) for r in one),
                  "get --shard: that shard only, in sequence order (%d)" % len(one))

        rc, out, err = run(cli, url, "records", "tail", "clirec", "--from", "trim", "--count",
                           "105")
        e2e.check(rc == 0 and sorted(r[3] for r in rows(out)) == data,
                  "tail --from trim --count 105: every record, then exit 0")
        rc, out, err = run(cli, url, "records", "tail", "clirec", "--app", "cliapp",
                           "--count", "105", "--lease-ms", "1000")
        e2e.check(rc == 0 and len(rows(out)) == 105 and "lease taken" in err,
                  "tail --app: every record (checkpointed), lease events on stderr")
        rc, out, err = run(cli, url, "records", "leases", "clirec", "--app", "cliapp")
        ls = [line.split() for line in out.splitlines()]
        e2e.check(rc == 0 and len(ls) == 2 and all(x[1] == "-" and len(x[4]) == 56 for x in ls),
                  "leases: 2 shards, released, checkpointed (%s)" % ls)
        run(cli, url, "records", "put", "clirec", "n1", "n2", "n3")
        rc, out, err = run(cli, url, "records", "tail", "clirec", "--app", "cliapp",
                           "--count", "3", "--lease-ms", "1000")
        e2e.check(rc == 0 and sorted(r[3] for r in rows(out)) == ["n1", "n2", "n3"],
                  "a second tail --app goes on after the checkpoints: only the 3 new records")

        rc, out, err = run(cli, url, "records", "streams", "split", "clirec",
                           "shardId-000000000000")
        e2e.check(rc == 0 and "split at" in out, "streams split: %s" % out.strip())
        rc, out, err = run(cli, url, "records", "streams", "describe", "clirec")
        try:
            d = json.loads(out)
        except ValueError:
            d = {}
        e2e.check(len(d.get("Shards", [])) == 4 and
                  [s.get("ParentShardId") for s in d["Shards"][2:]] ==
                  ["shardId-000000000000"] * 2, "describe after the split: 2 children of shard 0")

        rc, out, err = run(cli, url, "records", "streams", "delete", "other")
        rc2, out2, _ = run(cli, url, "records", "streams", "list")
        e2e.check(rc == 0 and out2.split() == ["clirec"], "streams delete")
        rc, out, err = run(cli, url, "records", "get", "nosuch")
        e2e.check(rc == 1 and "ResourceNotFoundException" in err,
                  "get on an unknown stream: exit 1, ResourceNotFoundException")
        rc, out, err = run(cli, url, "records", "bogus")
        e2e.check(rc == 2 and "unknown command" in err, "unknown records command: exit 2")
        rc, out, err = run(cli, "http://127.0.0.1:9", "records", "streams", "list")
        e2e.check(rc == 1 and "no answer" in err, "no server: exit 1 with a message")
    finally:
        rc = srv.stop()
        e2e.check(rc == 0, "server exits 0 on SIGTERM")
    e2e.rmtree_if_ok(tmp)
    return e2e.finish()


if __name__ == "__main__":
    sys.exit(main())
