// SPDX-License-Identifier: Apache-2.0
// Compat test of enhanced fan-out with the AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis,
// pinned in package-lock.json) and its DEFAULT request handler, HTTP/2 (PROTOCOL.md §1), against
// the real camstream-ingest: RegisterStreamConsumer, ListStreamConsumers, DescribeStreamConsumer,
// then SubscribeToShard (the event stream iterated with `for await`): records put while
// subscribed arrive in order, exactly once, each event's ContinuationSequenceNumber is its last
// record's; a second subscription of the consumer and shard is refused with
// ResourceInUseException; DeregisterStreamConsumer. Run twice: h2c on http:// and h2 over TLS
// (ALPN; the throwaway certificate is accepted with NODE_TLS_REJECT_UNAUTHORIZED=0, which leaves
// the handler the default one). The server's debug log must show only HTTP/2 connections.
// Usage: node kds_subscribe.mjs PATH/TO/camstream-ingest [NODE_MODULES_PREFIX]
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";

import { AK, REGION, SK, check, failures, protoCounts, setup, startServer } from "./common.mjs";

const ACCOUNT = "123456789012";

const { binary, mods: [k], tmp } = setup("kds_subscribe.mjs", ["@aws-sdk/client-kinesis"],
                                         "AWS_ENDPOINT_URL_KINESIS", "cs-compat-js-sub-");

// The server under test: a second subscription is refused (no takeover), no heartbeat events.
const startServerAt = (dir, extra) => startServer(binary, join(tmp, dir), extra, {
    ...process.env, CS_KDS_SUBSCRIBE_TAKEOVER_MS: "600000", CS_KDS_SUBSCRIBE_HEARTBEAT_MS: "600000" });

// Iterates an event stream until `want` records arrived; `onFirst` runs after the first event.
async function collect(stream, want, onFirst) {
    const recs = [], events = [];
    let err = null;
    try {
        for await (const ev of stream) {
            const e = ev.SubscribeToShardEvent;
            if (!e) {
                continue;
            }
            events.push(e);
            recs.push(...e.Records);
            if (onFirst) {
                const f = onFirst;
                onFirst = null;
                f();
            }
            if (recs.length >= want) {
                break;
            }
        }
    } catch (e) {
        err = e;
    }
    return { recs, events, err };
}

async function run(label, st) {
    const client = new k.KinesisClient({
        endpoint: st.endpoint, region: REGION, maxAttempts: 1,
        credentials: { accessKeyId: AK, secretAccessKey: SK },
    });
    const send = (Cmd, input) => client.send(new Cmd(input));
    const enc = new TextEncoder(), dec = new TextDecoder();
    try {
        await send(k.CreateStreamCommand, { StreamName: "js-fan", ShardCount: 1 });
        const sarn = `arn:aws:kinesis:${REGION}:${ACCOUNT}:stream/js-fan`;
        const reg = await send(k.RegisterStreamConsumerCommand,
                               { StreamARN: sarn, ConsumerName: "js-app" });
        const carn = reg.Consumer.ConsumerARN;
        check(new RegExp(`^${sarn}/consumer/js-app:\\d{10}$`).test(carn) &&
              reg.Consumer.ConsumerCreationTimestamp instanceof Date,
              `${label} RegisterStreamConsumer: ${carn}`);
        const list = await send(k.ListStreamConsumersCommand, { StreamARN: sarn });
        check(list.Consumers.length === 1 && list.Consumers[0].ConsumerARN === carn,
              `${label} ListStreamConsumers`);
        const desc = await send(k.DescribeStreamConsumerCommand, { ConsumerARN: carn });
        check(desc.ConsumerDescription.ConsumerStatus === "ACTIVE", `${label} DescribeStreamConsumer: ACTIVE`);
        await send(k.PutRecordsCommand, { StreamName: "js-fan", Records: [0, 1, 2].map((i) => ({
            PartitionKey: "k", Data: enc.encode(`pre-${i}`) })) });
        const sub = await send(k.SubscribeToShardCommand, {
            ConsumerARN: carn, ShardId: "shardId-000000000000",
            StartingPosition: { Type: "TRIM_HORIZON" } });
        const live = Array.from({ length: 60 }, (_, i) => `live-${i}`);
        let refusal = "";
        const putter = async () => {
            try {
                await send(k.SubscribeToShardCommand, {
                    ConsumerARN: carn, ShardId: "shardId-000000000000",
                    StartingPosition: { Type: "LATEST" } });
                refusal = "accepted";
            } catch (e) {
                refusal = e.name;
            }
            for (let b = 0; b < 6; b++) {
                await send(k.PutRecordsCommand, { StreamName: "js-fan",
                    Records: live.slice(b * 10, b * 10 + 10).map((d, i) => ({
                        PartitionKey: `p${i}`, Data: enc.encode(d) })) });
            }
        };
        let putting = null;
        const got = await collect(sub.EventStream, 63, () => { putting = putter(); });
        await putting;
        const data = got.recs.map((r) => dec.decode(r.Data));
        const want = ["pre-0", "pre-1", "pre-2", ...live];
        check(got.err === null && JSON.stringify(data) === JSON.stringify(want),
              `${label} SubscribeToShard: ${data.length} records in order, exactly once ` +
              `(${got.events.length} events${got.err ? ", " + got.err.name : ""})`);
        check(got.events.every((e) => e.Records.length === 0 ||
                               e.ContinuationSequenceNumber === e.Records[e.Records.length - 1].SequenceNumber) &&
              got.events.every((e) => typeof e.MillisBehindLatest === "number") &&
              got.recs.every((r) => r.ApproximateArrivalTimestamp instanceof Date),
              `${label} events: ContinuationSequenceNumber, MillisBehindLatest, timestamps typed`);
        check(refusal === "ResourceInUseException",
              `${label} a second subscription of the consumer and shard: ${refusal}`);
        await send(k.DeregisterStreamConsumerCommand, { ConsumerARN: carn });
        const after = await send(k.ListStreamConsumersCommand, { StreamARN: sarn });
        check(after.Consumers.length === 0, `${label} DeregisterStreamConsumer`);
    } catch (e) {
        check(false, `${label} unexpected error: ${e.name}: ${e.message}`);
    }
    client.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const { h1, h2 } = protoCounts(st);
    check(h2 > 0 && h1 === 0, `${label} the default handler spoke HTTP/2: ${h2} HTTP/2, ${h1} HTTP/1.1 connections`);
    st.stopping = true;
    const exited = new Promise((r) => st.srv.once("exit", (code) => r(code)));
    st.srv.kill("SIGTERM");
    const code = await exited;
    const bad = ["AddressSanitizer", "LeakSanitizer", "runtime error:"].filter((w) => st.stderr.includes(w));
    check(code === 0 && bad.length === 0, `${label} server exits 0 on SIGTERM, no sanitizer report ${bad}`);
}

const plain = await startServerAt("data", []);
check(plain.endpoint.startsWith("http://127.0.0.1:"), "server up: " + plain.banner);
await run("h2c", plain);

const cert = join(tmp, "cert.pem"), key = join(tmp, "key.pem");
const ossl = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                                   "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                                   "-addext", "subjectAltName=IP:127.0.0.1"]);
if (ossl.status !== 0) {
    check(false, `openssl could not make a certificate: ${ossl.stderr}`);
} else {
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    const tls = await startServerAt("data-tls", ["--tls-cert", cert, "--tls-key", key]);
    check(tls.endpoint.startsWith("https://127.0.0.1:"), "TLS server up: " + tls.banner);
    await run("h2/TLS", tls);
}
if (failures.length === 0) {
    rmSync(tmp, { recursive: true, force: true });
}
console.log(`${failures.length} failure(s)`);
process.exit(failures.length ? 1 : 0);
