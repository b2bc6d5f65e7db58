// SPDX-License-Identifier: Apache-2.0
// Compat test of the KVS control plane with the AWS SDK for JavaScript v3
// (@aws-sdk/client-kinesis-video, pinned in package-lock.json): starts the real camstream-ingest on
// an ephemeral loopback port with a fresh data dir and static credentials, then runs
// create/describe/list (prefix + pages)/tag/untag/listTags/updateDataRetention/getDataEndpoint/
// delete and the ResourceNotFoundException case twice: once with the client's default request
// handler (NodeHttpHandler, HTTP/1.1) and once with @smithy/node-http-handler's NodeHttp2Handler
// (HTTP/2 with prior knowledge, h2c). The server runs with --log-level debug and logs the protocol
// of each connection; the test checks that each pass used the protocol it claims.
// Usage: node kvs_control_plane.mjs PATH/TO/camstream-ingest [NODE_MODULES_PREFIX]
// (the prefix is where `npm ci` ran; default: this file's directory). Exits non-zero on failure.
import { rmSync } from "node:fs";
import { join } from "node:path";

import { AK, REGION, SK, check, failures, protoCounts, setup, startServer } from "./common.mjs";

const { binary, require, mods: [kv, smithy], tmp } = setup(
    "kvs_control_plane.mjs", ["@aws-sdk/client-kinesis-video", "@smithy/node-http-handler"],
    "AWS_ENDPOINT_URL_KINESIS_VIDEO", "cs-compat-js-");
const sdkVersion = require("@aws-sdk/client-kinesis-video/package.json").version;

const st = await startServer(binary, join(tmp, "data"));
check(st.banner.startsWith("camstream-ingest listening on http://127.0.0.1:"), "banner: " + st.banner);
const endpoint = st.endpoint;
const settle = () => new Promise((r) => setTimeout(r, 200)); // let the server log reach us

async function expectError(p, name, status, what) {
    try {
        await p;
        check(false, `${what}: expected ${name}, got success`);
    } catch (e) {
        check(e.name === name && e.$metadata?.httpStatusCode === status &&
              e.$fault === "client" && typeof e.message === "string" && e.message.length > 0,
              `${what}: ${e.name} ${e.$metadata?.httpStatusCode} "${e.message}"`);
        return e;
    }
    return null;
}

async function pass(label, requestHandler, tag) {
    const client = new kv.KinesisVideoClient({
        endpoint,
        region: REGION,
        credentials: { accessKeyId: AK, secretAccessKey: SK },
        maxAttempts: 1,
        ...(requestHandler ? { requestHandler } : {}),
    });
    const send = (Cmd, input) => client.send(new Cmd(input));
    const name = `js-${tag}-cam`;
    try {
        console.log(`# ${label}`);
        const cr = await send(kv.CreateStreamCommand, {
            StreamName: name, MediaType: "video/h264", DataRetentionInHours: 24,
            Tags: { site: "lab" },
        });
        check(cr.$metadata.httpStatusCode === 200 &&
              cr.StreamARN.startsWith(`arn:aws:kinesisvideo:${REGION}:123456789012:stream/${name}/`),
              `${tag} createStream -> ${cr.StreamARN}`);
        const arn = cr.StreamARN;
        for (const n of ["a", "b"]) {
            await send(kv.CreateStreamCommand, { StreamName: `js-${tag}-extra-${n}` });
        }
        await expectError(send(kv.CreateStreamCommand, { StreamName: name }),
                          "ResourceInUseException", 400, `${tag} createStream again`);

        let d = await send(kv.DescribeStreamCommand, { StreamName: name });
        let si = d.StreamInfo ?? {};
        check(si.StreamName === name && si.StreamARN === arn && si.Status === "ACTIVE" &&
              si.MediaType === "video/h264" && si.DataRetentionInHours === 24 &&
              si.CreationTime instanceof Date && !isNaN(si.CreationTime) &&
              typeof si.Version === "string" && si.Version.length > 0,
              `${tag} describeStream (CreationTime parsed as a Date: ${si.CreationTime?.toISOString?.()})`);
        d = await send(kv.DescribeStreamCommand, { StreamARN: arn });
        check(d.StreamInfo?.StreamName === name, `${tag} describeStream by ARN`);

        // Concurrent calls: h2 multiplexes them as streams of one connection.
        const many = await Promise.all(Array.from({ length: 16 }, (_, i) =>
            send(i % 2 ? kv.DescribeStreamCommand : kv.ListTagsForStreamCommand, { StreamARN: arn })));
        check(many.every((x, i) => (i % 2 ? x.StreamInfo?.StreamARN === arn : x.Tags?.site === "lab")),
              `${tag} 16 concurrent describeStream/listTagsForStream`);

        const l = await send(kv.ListStreamsCommand, {
            StreamNameCondition: { ComparisonOperator: "BEGINS_WITH", ComparisonValue: `js-${tag}-` },
        });
        const names = (l.StreamInfoList ?? []).map((s) => s.StreamName).sort();
        check(JSON.stringify(names) ===
              JSON.stringify([name, `js-${tag}-extra-a`, `js-${tag}-extra-b`].sort()),
              `${tag} listStreams BEGINS_WITH: ${names.join(",")}`);
        // Pages of one, followed with the SDK's own paginator (NextToken round trip).
        const paged = [];
        for await (const page of kv.paginateListStreams({ client, pageSize: 1 }, {
            StreamNameCondition: { ComparisonOperator: "BEGINS_WITH", ComparisonValue: `js-${tag}-` },
        })) {
            check((page.StreamInfoList ?? []).length <= 1, `${tag} listStreams page size 1`);
            paged.push(...(page.StreamInfoList ?? []).map((s) => s.StreamName));
        }
        check(JSON.stringify(paged.sort()) === JSON.stringify(names), `${tag} paginateListStreams`);

        await send(kv.TagStreamCommand, { StreamARN: arn, Tags: { floor: "1", owner: "js" } });
        let t = await send(kv.ListTagsForStreamCommand, { StreamName: name });
        check(JSON.stringify(t.Tags ?? {}, Object.keys(t.Tags ?? {}).sort()) ===
              JSON.stringify({ floor: "1", owner: "js", site: "lab" }),
              `${tag} tagStream + listTagsForStream: ${JSON.stringify(t.Tags)}`);
        await send(kv.UntagStreamCommand, { StreamName: name, TagKeyList: ["owner"] });
        t = await send(kv.ListTagsForStreamCommand, { StreamARN: arn });
        check(t.Tags?.owner === undefined && t.Tags?.floor === "1", `${tag} untagStream`);

        await send(kv.UpdateDataRetentionCommand, {
            StreamName: name, CurrentVersion: si.Version,
            Operation: "INCREASE_DATA_RETENTION", DataRetentionChangeInHours: 24,
        });
        d = await send(kv.DescribeStreamCommand, { StreamName: name });
        check(d.StreamInfo?.DataRetentionInHours === 48 && d.StreamInfo?.Version !== si.Version,
              `${tag} updateDataRetention +24 h -> ${d.StreamInfo?.DataRetentionInHours}`);
        await expectError(send(kv.UpdateDataRetentionCommand, {
            StreamName: name, CurrentVersion: si.Version,
            Operation: "DECREASE_DATA_RETENTION", DataRetentionChangeInHours: 1,
        }), "VersionMismatchException", 400, `${tag} updateDataRetention stale version`);
        si = d.StreamInfo;

        for (const api of ["PUT_MEDIA", "GET_MEDIA"]) {
            const e = await send(kv.GetDataEndpointCommand, { StreamName: name, APIName: api });
            check(e.DataEndpoint === endpoint, `${tag} getDataEndpoint ${api} -> ${e.DataEndpoint}`);
        }

        await send(kv.DeleteStreamCommand, { StreamARN: arn, CurrentVersion: si.Version });
        const e = await expectError(send(kv.DescribeStreamCommand, { StreamName: name }),
                                    "ResourceNotFoundException", 404,
                                    `${tag} describeStream after deleteStream`);
        check(e instanceof kv.ResourceNotFoundException,
              `${tag} error is an instance of the SDK's ResourceNotFoundException class`);
        await expectError(send(kv.DeleteStreamCommand, { StreamARN: arn }),
                          "ResourceNotFoundException", 404, `${tag} deleteStream again`);
        await expectError(send(kv.GetDataEndpointCommand, { StreamName: "js-no-such", APIName: "PUT_MEDIA" }),
                          "ResourceNotFoundException", 404, `${tag} getDataEndpoint unknown stream`);
        for (const n of ["a", "b"]) {
            const x = await send(kv.DescribeStreamCommand, { StreamName: `js-${tag}-extra-${n}` });
            await send(kv.DeleteStreamCommand, { StreamARN: x.StreamInfo.StreamARN });
        }

        // A wrong secret: the signature must be refused (SigV4 over this transport's headers).
        const bad = new kv.KinesisVideoClient({
            endpoint, region: REGION, maxAttempts: 1,
            credentials: { accessKeyId: AK, secretAccessKey: SK + "x" },
            ...(requestHandler ? { requestHandler } : {}),
        });
        try {
            await bad.send(new kv.ListStreamsCommand({}));
            check(false, `${tag} wrong secret refused`);
        } catch (err) {
            check(err.$metadata?.httpStatusCode === 401 && err.name === "NotAuthorizedException" &&
                  err.message.includes("InvalidSignatureException"),
                  `${tag} wrong secret refused: ${err.name} ${err.$metadata?.httpStatusCode}`);
        } finally {
            bad.destroy();
        }
    } catch (err) {
        check(false, `${tag}: unexpected ${err.name}: ${err.message} ` +
                     `(HTTP ${err.$metadata?.httpStatusCode ?? "-"})`);
    } finally {
        client.destroy();
    }
}

let code = 1;
try {
    console.log(`# @aws-sdk/client-kinesis-video ${sdkVersion}, node ${process.version}, ${endpoint}`);
    // client-kinesis-video's default handler is NodeHttpHandler (HTTP/1.1), unlike client-kinesis.
    let before = protoCounts(st);
    await pass("default request handler (NodeHttpHandler: HTTP/1.1)", undefined, "h1");
    await settle();
    let after = protoCounts(st);
    check(after.h1 > before.h1 && after.h2 === before.h2,
          `default handler went over HTTP/1.1 (server saw ${after.h1 - before.h1} HTTP/1.1, ` +
          `${after.h2 - before.h2} HTTP/2 connections)`);

    before = after;
    const h2 = new smithy.NodeHttp2Handler({ requestTimeout: 10000, sessionTimeout: 10000 });
    await pass("NodeHttp2Handler (HTTP/2, prior knowledge on http://)", h2, "h2");
    await settle();
    after = protoCounts(st);
    check(after.h2 > before.h2 && after.h1 === before.h1,
          `NodeHttp2Handler went over HTTP/2 (server saw ${after.h2 - before.h2} HTTP/2, ` +
          `${after.h1 - before.h1} HTTP/1.1 connections)`);
    code = failures.length ? 1 : 0;
} catch (err) {
    console.log(`FAIL ${err.stack ?? err}`);
} finally {
    st.stopping = true;
    st.srv.kill("SIGTERM");
    const rc = await new Promise((r) => st.srv.on("exit", (c) => r(c)));
    check(rc === 0, `server stopped cleanly (exit ${rc})`);
    if (rc !== 0 || failures.length) {
        console.log("--- server log ---\n" + st.stderr.split("\n").slice(-60).join("\n"));
        code = 1;
    }
    rmSync(tmp, { recursive: true, force: true });
}
console.log(failures.length ? `${failures.length} failure(s)` : "all ok");
process.exit(code);
