#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kill -9 during uploads: 4 producers upload to 4 streams at once (paced, resuming after the
last PERSISTED fragment and re-sending one already acked, as a reconnecting producer does); the
server is SIGKILLed after a random delay, restarted on the same --data-dir, and checked: every
fragment ever acked PERSISTED is listed by listFragments with the same number, a re-sent acked
fragment gets its first number back, getMediaForFragmentList returns each byte-identical to what
was uploaded, and every fragment served (all of listFragments) parses as one complete Cluster.
Repeated ITERATIONS times with delays from a seeded RNG (the seed is printed; pass --seed to
replay). Usage: fault_kill.py CAMSTREAM_INGEST [--iterations N] [--seed S]"""
import argparse
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kvs  # noqa: E402

STREAMS = 4


def producer(srv, name, header, clusters, state, rng_seed, stop):
    """Uploads from the first cluster not yet PERSISTED (minus one, re-sent) until stopped."""
    rng = random.Random(rng_seed)
    persisted = state["persisted"]
    start = 0
    while start < len(clusters) and kvs.cluster_timecode(clusters[start]) in persisted:
        start += 1
    start = max(0, start - 1)
    try:
        up = kvs.Upload(srv, name)
    except OSError:
        return
    state["uploads"].append(up)
    if not up.send(header):
        return
    for c in clusters[start:]:
        if stop.is_set() or not up.send(c):
            break
        time.sleep(rng.uniform(0.01, 0.08))
    up.finish(timeout=5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--seed", type=int, default=int(time.time() * 1000) % 1000000007)
    a = ap.parse_args()
    print("seed %d (replay: --seed %d)" % (a.seed, a.seed), flush=True)
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="cs-fault-kill-")
    data = os.path.join(tmp, "data")
    header, clusters = kvs.make_mkv(os.path.join(tmp, "in.mkv"), 3600)
    by_tc = {kvs.cluster_timecode(c): c for c in clusters}
    names = ["cam%d" % i for i in range(STREAMS)]
    acked = {n: {} for n in names}  # stream -> timecode -> fragment number
    srv = kvs.Server(a.binary, data).start()
    for n in names:
        kvs.create_stream(srv, n)
    total_kills = 0
    try:
        for it in range(a.iterations + 1):
            if it > 0:
                srv = kvs.Server(a.binary, data).start()
            # Everything acked so far survived, byte for byte, and nothing torn is served.
            for n in names:
                listed = {f["FragmentNumber"]: f for f in kvs.list_fragments(srv, n)}
                want = acked[n]
                missing = [num for num in want.values() if num not in listed]
                kvs.check(not missing, "iteration %d: %s lists all %d PERSISTED fragments "
                          "(%d listed)" % (it, n, len(want), len(listed)))
                if listed:
                    body = kvs.get_media_for_fragments(srv, n, sorted(listed))
                    try:
                        served = kvs.split_fragments(body)
                    except ValueError as e:
                        kvs.check(False, "iteration %d: %s: served fragments parse (%s)" %
                                  (it, n, e))
                    kvs.check(len(served) == len(listed),
                              "iteration %d: %s: %d complete fragments served" %
                              (it, n, len(served)))
                    orig = {kvs.cluster_payload(c) for c in clusters}
                    kvs.check(all(p in orig for p in served),
                              "iteration %d: %s: every served Cluster is byte-identical to an "
                              "uploaded one" % (it, n))
                    by_num = dict(zip(sorted(listed), served))
                    kvs.check(all(by_num[num] == kvs.cluster_payload(by_tc[tc])
                                  for tc, num in want.items()),
                              "iteration %d: %s: each PERSISTED fragment is its own bytes" %
                              (it, n))
            if it == a.iterations:
                break
            stop = threading.Event()
            states = {n: {"persisted": dict(acked[n]), "uploads": []} for n in names}
            threads = [threading.Thread(target=producer, args=(srv, n, header, clusters,
                                                               states[n], rng.random(), stop))
                       for n in names]
            for t in threads:
                t.start()
            delay = rng.uniform(0.1, 1.6)
            time.sleep(delay)
            srv.kill9()
            total_kills += 1
            stop.set()
            for t in threads:
                t.join(30)
            new = 0
            for n in names:
                for up in states[n]["uploads"]:
                    up.closed.wait(5)
                    for ack in up.of("PERSISTED"):
                        tc, num = ack["FragmentTimecode"], ack["FragmentNumber"]
                        if tc in acked[n]:
                            kvs.check(acked[n][tc] == num,
                                      "%s: re-sent fragment %d acked with its first number" %
                                      (n, tc))
                        else:
                            acked[n][tc] = num
                            new += 1
                    kvs.check(not up.bad_lines, "%s: every ack line parses" % n)
            print("iteration %d: killed after %.3f s; %d new PERSISTED acks, %d in all" %
                  (it, delay, new, sum(len(v) for v in acked.values())), flush=True)
        kvs.check(sum(len(v) for v in acked.values()) > 0, "some fragments were PERSISTED")
        kvs.check("recovery:" in srv.log_text(), "the server logged its recovery")
        kvs.check(srv.stop() == 0, "clean stop after %d kills" % total_kills)
    except kvs.Fail:
        print("seed was %d; server log: %s" % (a.seed, os.path.join(tmp, "server.log")))
        srv.kill9()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
