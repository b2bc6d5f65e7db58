// SPDX-License-Identifier: Apache-2.0
// What the JS compat tests share (kvs_control_plane.mjs, kds_records.mjs, kds_subscribe.mjs):
// their arguments (PATH/TO/camstream-ingest [NODE_MODULES_PREFIX]), the pinned SDK packages
// loaded from the prefix where `npm ci` ran, an environment in which the SDK finds no profile,
// env credentials, endpoint or IMDS (the clients get everything explicitly), check(), and the
// real camstream-ingest started on an ephemeral loopback port with static credentials and a
// debug log that names each connection's protocol.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const AK = "AKIDEXAMPLE";
export const SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
export const REGION = "us-west-2";

// Reads the arguments, loads `packages` (exit 1 when one is missing), clears the SDK's
// environment (`endpointVar`: the service's AWS_ENDPOINT_URL_*) and makes a scratch directory
// named after `tmpName`. Returns { binary, require, mods (the packages, in order), tmp }.
export function setup(script, packages, endpointVar, tmpName) {
    const binary = process.argv[2];
    if (!binary) {
        console.error(`usage: node ${script} PATH/TO/camstream-ingest [NODE_MODULES_PREFIX]`);
        process.exit(2);
    }
    const prefix = resolve(process.argv[3] ?? dirname(fileURLToPath(import.meta.url)));
    const require = createRequire(join(prefix, "package.json"));
    const mods = [];
    for (const p of packages) {
        try {
            mods.push(require(p));
        } catch (e) {
            console.error(`FAIL cannot load ${p} from ${prefix}/node_modules (run npm ci there): ` +
                          e.message);
            process.exit(1);
        }
    }
    for (const v of ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                     "AWS_ENDPOINT_URL", endpointVar, "AWS_REGION"]) {
        delete process.env[v];
    }
    process.env.AWS_EC2_METADATA_DISABLED = "true";
    const tmp = mkdtempSync(join(tmpdir(), tmpName));
    process.env.AWS_CONFIG_FILE = join(tmp, "none");
    process.env.AWS_SHARED_CREDENTIALS_FILE = join(tmp, "none");
    return { binary, require, mods, tmp };
}

export const failures = [];
export function check(cond, what) {
    console.log((cond ? "ok   " : "FAIL ") + what);
    if (!cond) {
        failures.push(what);
    }
}

// Starts camstream-ingest on 127.0.0.1:0 with data dir `dataDir`, the static credentials,
// --log-level debug and `extra` arguments, in environment `env`; resolves once it printed its
// banner to { srv, stderr (its log so far), stopping, banner, endpoint }. Set `stopping` before
// stopping it: a server that exits while it is false fails the test at once, with its log.
export async function startServer(binary, dataDir, extra = [], env = process.env) {
    const srv = spawn(binary, ["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--access-key", AK,
                               "--secret-key", SK, "--log-level", "debug", ...extra],
                      { stdio: ["ignore", "pipe", "pipe"], env });
    const st = { srv, stderr: "", stopping: false };
    srv.stderr.setEncoding("utf8");
    srv.stderr.on("data", (d) => { st.stderr += d; });
    srv.on("exit", (code, sig) => {
        if (!st.stopping) {
            console.log(`FAIL server exited early (${code ?? sig})\n${st.stderr}`);
            process.exit(1);
        }
    });
    st.banner = await new Promise((ok, fail) => {
        let out = "";
        const timer = setTimeout(() => fail(new Error("no banner within 10 s")), 10000);
        srv.stdout.setEncoding("utf8");
        srv.stdout.on("data", (d) => {
            out += d;
            const nl = out.indexOf("\n");
            if (nl >= 0) {
                clearTimeout(timer);
                ok(out.slice(0, nl).trim());
            }
        });
    });
    st.endpoint = st.banner.split(" ").pop();
    return st;
}

// Connections a server saw, by protocol (its debug log: "connection speaks HTTP/1.1|HTTP/2").
export function protoCounts(st) {
    return {
        h1: (st.stderr.match(/connection speaks HTTP\/1\.1/g) ?? []).length,
        h2: (st.stderr.match(/connection speaks HTTP\/2/g) ?? []).length,
    };
}
