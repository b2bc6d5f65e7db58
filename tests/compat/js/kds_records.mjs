// SPDX-License-Identifier: Apache-2.0
// Compat test of record streams with the AWS SDK for JavaScript v3 (@aws-sdk/client-kinesis,
// pinned in package-lock.json) and its DEFAULT request handler, which speaks HTTP/2 with prior
// knowledge (h2c) on http:// (PROTOCOL.md §1): CreateStream, ListShards, PutRecord, PutRecords,
// GetShardIterator (TRIM_HORIZON, AT_SEQUENCE_NUMBER), GetRecords (data, order, next iterator),
// DescribeStreamSummary and a ResourceNotFoundException, against the real camstream-ingest. The
// server's debug log must show the connections spoke HTTP/2.
// Usage: node kds_records.mjs PATH/TO/camstream-ingest [NODE_MODULES_PREFIX]
import { rmSync } from "node:fs";
import { join } from "node:path";

import { AK, REGION, SK, check, failures, protoCounts, setup, startServer } from "./common.mjs";

const { binary, mods: [k], tmp } = setup("kds_records.mjs", ["@aws-sdk/client-kinesis"],
                                         "AWS_ENDPOINT_URL_KINESIS", "cs-compat-js-kds-");
const st = await startServer(binary, join(tmp, "data"));
const endpoint = st.endpoint;
check(endpoint.startsWith("http://127.0.0.1:"), "server up: " + st.banner);

const client = new k.KinesisClient({
    endpoint, region: REGION, credentials: { accessKeyId: AK, secretAccessKey: SK }, maxAttempts: 1,
});
const send = (Cmd, input) => client.send(new Cmd(input));
try {
    await send(k.CreateStreamCommand, { StreamName: "js-events", ShardCount: 2 });
    const shards = (await send(k.ListShardsCommand, { StreamName: "js-events" })).Shards;
    check(shards.length === 2 && shards[0].HashKeyRange.EndingHashKey ===
          "170141183460469231731687303715884105727", "CreateStream + ListShards: 2 even shards");
    const enc = new TextEncoder();
    const one = await send(k.PutRecordCommand, {
        StreamName: "js-events", PartitionKey: "p", Data: enc.encode("first"),
        ExplicitHashKey: "0" });
    check(one.ShardId === "shardId-000000000000" && one.SequenceNumber.length === 56,
          "PutRecord with ExplicitHashKey 0: shard 0");
    const many = await send(k.PutRecordsCommand, {
        StreamName: "js-events",
        Records: Array.from({ length: 50 }, (_, i) => ({
            PartitionKey: `k${i}`, Data: enc.encode(`r${i}`), ExplicitHashKey: "1" })),
    });
    check(many.FailedRecordCount === 0 && many.Records.every((r) => r.ShardId === one.ShardId),
          "PutRecords x50: no failures");
    let it = (await send(k.GetShardIteratorCommand, {
        StreamName: "js-events", ShardId: one.ShardId, ShardIteratorType: "TRIM_HORIZON" })).ShardIterator;
    const got = [];
    for (let i = 0; i < 10 && it; i++) {
        const g = await send(k.GetRecordsCommand, { ShardIterator: it, Limit: 20 });
        got.push(...g.Records.map((r) => new TextDecoder().decode(r.Data)));
        check(g.MillisBehindLatest !== undefined && g.Records.every((r) =>
              r.ApproximateArrivalTimestamp instanceof Date), `GetRecords page ${i}: fields typed`);
        if (g.Records.length === 0) {
            break;
        }
        it = g.NextShardIterator;
    }
    const want = ["first", ...Array.from({ length: 50 }, (_, i) => `r${i}`)];
    check(JSON.stringify(got) === JSON.stringify(want), `GetRecords: ${got.length} records in order`);
    const at = (await send(k.GetShardIteratorCommand, {
        StreamName: "js-events", ShardId: one.ShardId, ShardIteratorType: "AT_SEQUENCE_NUMBER",
        StartingSequenceNumber: many.Records[10].SequenceNumber })).ShardIterator;
    const g1 = await send(k.GetRecordsCommand, { ShardIterator: at, Limit: 1 });
    check(new TextDecoder().decode(g1.Records[0].Data) === "r10", "AT_SEQUENCE_NUMBER");
    const sum = await send(k.DescribeStreamSummaryCommand, { StreamName: "js-events" });
    check(sum.StreamDescriptionSummary.OpenShardCount === 2 &&
          sum.StreamDescriptionSummary.StreamCreationTimestamp instanceof Date,
          "DescribeStreamSummary");
    try {
        await send(k.DescribeStreamCommand, { StreamName: "nope" });
        check(false, "DescribeStream of a missing stream fails");
    } catch (e) {
        check(e.name === "ResourceNotFoundException", `missing stream: ${e.name}`);
    }
} catch (e) {
    check(false, `unexpected error: ${e.name}: ${e.message}`);
}
await new Promise((r) => setTimeout(r, 200));
const { h1, h2 } = protoCounts(st);
check(h2 > 0 && h1 === 0, `the default handler spoke HTTP/2 (h2c): ${h2} HTTP/2, ${h1} HTTP/1.1 connections`);
st.stopping = true;
st.srv.kill("SIGTERM");
client.destroy();
if (failures.length === 0) {
    rmSync(tmp, { recursive: true, force: true });
}
console.log(`${failures.length} failure(s)`);
process.exit(failures.length ? 1 : 0);
