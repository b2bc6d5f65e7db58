// SPDX-License-Identifier: Apache-2.0
// Issue 7, figure (b): the records workload from the AWS SDK for JavaScript v3
// (@aws-sdk/client-kinesis, pinned in tests/bench/js/package-lock.json) against camstream-ingest
// and against kinesalite (npm, same lock), both started here in the same run, one after the other.
// Workload, the same for both: a 4-shard stream; 4 clients (one HTTP/1.1 keep-alive connection
// each: @smithy/node-http-handler, since kinesalite speaks no HTTP/2) send PutRecords calls of
// 500 x 100-byte records concurrently, then GetRecords (Limit 10,000) drains every shard.
// Figures: records/s in and out, and the server's CPU seconds (user + system, summed over its
// threads' /proc/PID/task/TID/schedstat in ns, over the put and drain phases) per million records
// put; target: camstream uses >= 50x less server CPU per record than kinesalite. camstream runs as it ships (SigV4 verified,
// records fsync'ed before the answer); kinesalite keeps records in memory (memdown) and checks no
// signature. A third run per round, camstream-h2, is camstream with the SDK's default handler
// (HTTP/2, prior knowledge), for reference only. Median of --runs runs (a fresh server each). With $CS_BENCH_RESULTS set, the figures
// are appended to it as JSON lines (bench "kinesalite"; see tests/bench/benchutil.h).
// Usage: node records_js_bench.mjs --ingest PATH/TO/camstream-ingest --modules DIR
//        [--calls N (PutRecords calls per client, default 50)] [--runs R (default 3)]
// Exit status: 0 when both ran (whatever the figures), 1 when a run broke, 77 when the packages
// are missing, 2 on bad usage.
import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const AK = "AKIDEXAMPLE";
const SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION = "us-west-2";
const CLIENTS = 4;
const BATCH = 500;
const REC = 100;
const SHARDS = 4;

function usage(code) {
    (code ? console.error : console.log)(
        "usage: node records_js_bench.mjs --ingest PATH/TO/camstream-ingest --modules DIR " +
        "[--calls N] [--runs R]\n" +
        "PutRecords 500 x 100 B from 4 JS SDK clients on a 4-shard stream, then GetRecords " +
        "draining it,\nagainst camstream-ingest and kinesalite (from DIR/node_modules): " +
        "records/s and server CPU s per\nmillion records (median of R runs).");
    process.exit(code);
}

const opt = { calls: 50, runs: 3 };
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (a === "--help" || a === "-h") {
        usage(0);
    } else if (["--ingest", "--modules", "--calls", "--runs"].includes(a) &&
               i + 1 < process.argv.length) {
        opt[a.slice(2)] = process.argv[++i];
    } else {
        usage(2);
    }
}
if (!opt.ingest || !opt.modules) {
    usage(2);
}
opt.calls = Number(opt.calls);
opt.runs = Number(opt.runs);
if (!(opt.calls >= 1) || !(opt.runs >= 1)) {
    usage(2);
}
const modules = resolve(opt.modules);
const require = createRequire(join(modules, "package.json"));
let k, NodeHttpHandler, kinesaliteCli;
try {
    k = require("@aws-sdk/client-kinesis");
    ({ NodeHttpHandler } = require("@smithy/node-http-handler"));
    kinesaliteCli = join(modules, "node_modules", "kinesalite", "cli.js");
    readFileSync(kinesaliteCli);
} catch (e) {
    console.log(`records_js_bench: skipped: packages missing in ${modules}/node_modules ` +
                `(npm ci --prefix ${modules} with tests/bench/js/package*.json): ${e.message}`);
    process.exit(77);
}
for (const v of ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KINESIS", "AWS_REGION"]) {
    delete process.env[v];
}
process.env.AWS_EC2_METADATA_DISABLED = "true";
const tmp = mkdtempSync(join(process.env.CS_BENCH_DIR ?? tmpdir(), "records-js-bench-"));
process.env.AWS_CONFIG_FILE = join(tmp, "none");
process.env.AWS_SHARED_CREDENTIALS_FILE = join(tmp, "none");
const TICK = 100; // USER_HZ: /proc/PID/stat counts in 1/100 s on Linux

// CPU seconds of a process. /proc/PID/stat counts whole ticks (10 ms), too coarse for a phase
// that costs the server a few tenths of a second; the scheduler's nanosecond count per thread
// (/proc/PID/task/TID/schedstat, user + system) is exact, and the servers' threads live for the
// whole run. The tick count of threads that ended (none expected) is the fallback's floor.
function cpuSeconds(pid) {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    const ticks = (Number(f[11]) + Number(f[12])) / TICK; // utime, stime (fields 14 and 15)
    let ns = 0;
    try {
        for (const tid of readdirSync(`/proc/${pid}/task`)) {
            try {
                ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
            } catch {
                // the thread ended between the listing and the read
            }
        }
    } catch {
        return ticks;
    }
    return ns > 0 ? ns / 1e9 : ticks;
}

function freePort() {
    return new Promise((ok, fail) => {
        const s = createServer();
        s.on("error", fail);
        s.listen(0, "127.0.0.1", () => {
            const p = s.address().port;
            s.close(() => ok(p));
        });
    });
}

// Starts a server; resolves with { proc, endpoint } once its first stdout line names it.
function start(cmd, args, parse) {
    const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (d) => { err += d; });
    return new Promise((ok, fail) => {
        let out = "";
        const timer = setTimeout(() => fail(new Error(`${cmd}: no banner in 15 s: ${err}`)), 15000);
        proc.on("exit", (c, sig) => {
            clearTimeout(timer);
            fail(new Error(`${cmd} exited at start (${c ?? sig}): ${err}`));
        });
        proc.stdout.setEncoding("utf8");
        proc.stdout.on("data", (d) => {
            out += d;
            const nl = out.indexOf("\n");
            if (nl >= 0) {
                clearTimeout(timer);
                proc.removeAllListeners("exit");
                ok({ proc, endpoint: parse(out.slice(0, nl).trim()) });
            }
        });
    });
}

function stop(proc) {
    return new Promise((ok) => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
            ok();
            return;
        }
        proc.on("exit", () => ok());
        proc.kill("SIGTERM");
    });
}

// h2: the SDK's default handler (HTTP/2 with prior knowledge on http://, one session per client)
function client(endpoint, h2) {
    return new k.KinesisClient({
        endpoint, region: REGION, credentials: { accessKeyId: AK, secretAccessKey: SK },
        maxAttempts: 1,
        ...(h2 ? {} : {
            requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 1 } }),
        }),
    });
}

function median(v) {
    const s = [...v].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
}

async function runOnce(name, srv) {
    const clients = Array.from({ length: CLIENTS }, () => client(srv.endpoint, name === "camstream-h2"));
    const c0 = clients[0];
    await c0.send(new k.CreateStreamCommand({ StreamName: "bench", ShardCount: SHARDS }));
    for (let i = 0; ; i++) {
        const d = await c0.send(new k.DescribeStreamSummaryCommand({ StreamName: "bench" }));
        if (d.StreamDescriptionSummary.StreamStatus === "ACTIVE") {
            break;
        }
        if (i > 100) {
            throw new Error(`${name}: stream not ACTIVE after 10 s`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    const data = new Uint8Array(REC).fill(0x72);
    const records = Array.from({ length: BATCH }, (_, i) => ({ Data: data, PartitionKey: `key-${i}` }));
    const cpu0 = cpuSeconds(srv.proc.pid);
    let t0 = performance.now();
    await Promise.all(clients.map(async (c) => {
        for (let i = 0; i < opt.calls; i++) {
            const r = await c.send(new k.PutRecordsCommand({ StreamName: "bench", Records: records }));
            if (r.FailedRecordCount) {
                throw new Error(`${name}: PutRecords: ${r.FailedRecordCount} records failed`);
            }
        }
    }));
    const putS = (performance.now() - t0) / 1e3;
    const cpu1 = cpuSeconds(srv.proc.pid);
    const total = CLIENTS * opt.calls * BATCH;
    const shards = await c0.send(new k.ListShardsCommand({ StreamName: "bench" }));
    let drained = 0;
    t0 = performance.now();
    for (const sh of shards.Shards) {
        let it = (await c0.send(new k.GetShardIteratorCommand({
            StreamName: "bench", ShardId: sh.ShardId, ShardIteratorType: "TRIM_HORIZON",
        }))).ShardIterator;
        for (;;) {
            const r = await c0.send(new k.GetRecordsCommand({ ShardIterator: it, Limit: 10000 }));
            drained += r.Records.length;
            if (r.Records.length === 0 || !r.NextShardIterator) {
                break;
            }
            it = r.NextShardIterator;
        }
    }
    const getS = (performance.now() - t0) / 1e3;
    const cpu2 = cpuSeconds(srv.proc.pid);
    for (const c of clients) {
        c.destroy();
    }
    if (drained !== total) {
        throw new Error(`${name}: put ${total} records, drained ${drained}`);
    }
    return {
        inRate: total / putS, outRate: drained / getS,
        cpuPerM: (cpu2 - cpu0) / (total / 1e6), cpuInPerM: (cpu1 - cpu0) / (total / 1e6),
        cpuOutPerM: (cpu2 - cpu1) / (total / 1e6), total,
    };
}

const camstream = async (dir) => start(opt.ingest, [
    "--listen", "127.0.0.1:0", "--data-dir", join(tmp, dir), "--access-key", AK,
    "--secret-key", SK, "--log-level", "error"], (line) => line.split(" ").pop());
const servers = {
    camstream: async (run) => camstream(`cs-${run}`),
    // not in the comparison (kinesalite has no HTTP/2): the SDK's default handler, for reference
    "camstream-h2": async (run) => camstream(`cs-h2-${run}`),
    kinesalite: async () => {
        const port = await freePort();
        return start(process.execPath, [kinesaliteCli, "--port", String(port),
                                        "--createStreamMs", "0", "--shardLimit", "100"],
                     () => `http://127.0.0.1:${port}`);
    },
};

const res = { camstream: [], kinesalite: [], "camstream-h2": [] };
let broke = false;
console.log(`records_js_bench: PutRecords ${BATCH} x ${REC} B from ${CLIENTS} JS SDK clients ` +
            `(HTTP/1.1 keep-alive), ${opt.calls} calls each, ${SHARDS} shards; then GetRecords ` +
            `(10,000 per call); ${opt.runs} runs`);
for (let run = 0; run < opt.runs; run++) {
    for (const name of ["camstream", "kinesalite", "camstream-h2"]) {
        let srv;
        try {
            srv = await servers[name](run);
            const r = await runOnce(name, srv);
            res[name].push(r);
            console.log(`  run ${run + 1} ${name.padEnd(12)}: in ${r.inRate.toFixed(0)} records/s, ` +
                        `out ${r.outRate.toFixed(0)} records/s, server CPU ${r.cpuPerM.toFixed(2)} s ` +
                        `per million records (put ${r.cpuInPerM.toFixed(2)}, drain ` +
                        `${r.cpuOutPerM.toFixed(2)})`);
        } catch (e) {
            console.error(`records_js_bench: ${name}: ${e.stack ?? e}`);
            broke = true;
        }
        if (srv) {
            await stop(srv.proc);
        }
    }
}
rmSync(tmp, { recursive: true, force: true });

const fig = (f) => {
    if (process.env.CS_BENCH_RESULTS) {
        appendFileSync(process.env.CS_BENCH_RESULTS,
                       JSON.stringify({ kind: "figure", bench: "kinesalite", ...f }) + "\n");
    }
};
const m = {};
for (const name of ["camstream", "kinesalite", "camstream-h2"]) {
    const r = res[name];
    if (r.length === 0) {
        continue;
    }
    m[name] = {
        inRate: median(r.map((x) => x.inRate)), outRate: median(r.map((x) => x.outRate)),
        cpuPerM: median(r.map((x) => x.cpuPerM)),
    };
    console.log(`  ${name.padEnd(12)} (median): in ${m[name].inRate.toFixed(0)} records/s, out ` +
                `${m[name].outRate.toFixed(0)} records/s, ${m[name].cpuPerM.toFixed(2)} server ` +
                "CPU s per million records");
    const base = name === "kinesalite" ? "baseline"
        : name === "camstream-h2" ? "the SDK's default HTTP/2 handler (not in the comparison)"
            : undefined;
    fig({ id: `records_js.${name}_in`, label: `JS SDK workload, ${name}: records in`,
          value: m[name].inRate, unit: "records/s", runs: r.map((x) => x.inRate), note: base });
    fig({ id: `records_js.${name}_out`, label: `JS SDK workload, ${name}: records out`,
          value: m[name].outRate, unit: "records/s", runs: r.map((x) => x.outRate), note: base });
    fig({ id: `records_js.${name}_cpu`,
          label: `JS SDK workload, ${name}: server CPU seconds per million records (put + drain)`,
          value: m[name].cpuPerM, unit: "s", runs: r.map((x) => x.cpuPerM), note: base });
}
if (m.camstream && m.kinesalite) {
    // per run pairs: run i of each
    const n = Math.min(res.camstream.length, res.kinesalite.length);
    const ratios = Array.from({ length: n },
                              (_, i) => res.kinesalite[i].cpuPerM / res.camstream[i].cpuPerM);
    const ratio = m.kinesalite.cpuPerM / m.camstream.cpuPerM;
    console.log(`  server CPU per record, kinesalite / camstream: ${ratio.toFixed(1)}x ` +
                `(target >= 50x)  ${ratio >= 50 ? "PASS" : "MISS"}`);
    fig({ id: "records_js.cpu_ratio",
          label: "server CPU per record: kinesalite / camstream (JS SDK workload)", value: ratio,
          unit: "x", runs: ratios, target: ">= 50",
          baseline: `kinesalite ${m.kinesalite.cpuPerM.toFixed(2)} s, camstream ` +
                    `${m.camstream.cpuPerM.toFixed(3)} s per million records`,
          note: "camstream: SigV4 verified, fsync'ed; kinesalite: in memory, no signature check" });
}
process.exit(broke ? 1 : 0);
