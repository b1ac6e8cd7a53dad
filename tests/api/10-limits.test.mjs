// Admin API limits (SECURITY.md): requests per admin token
// (PARLEY_LIMIT_API_RATE: 429 with Retry-After, another admin not
// affected, counted in /metrics). A body that trickles in is
// 06-paths-smuggling's.
import { test } from "node:test";
import assert from "node:assert/strict";

import { SLOW, useServer, stopsCleanly, api, adminToken, assertProblem } from "./lib/api.mjs";

// 2 a second, bursts of 20.
const srv = useServer({ env: { PARLEY_LIMIT_API_RATE: "2" } });

async function refusals() {
    const res = await api(srv, "GET", "/metrics", { token: null, raw: true });
    return Number(res.text.match(/^parley_limit_refusals_total\{limit="api_rate"\} (\d+)$/m)[1]);
}

test("past its burst an admin gets 429 with Retry-After; another admin is served; /metrics counts it", SLOW, async () => {
    const before = await refusals();
    const root = adminToken(srv, "root");
    let ok = 0;
    let refused = null;
    const t0 = Date.now();
    for (let i = 0; i < 40 && !refused; i++) {
        const res = await api(srv, "GET", "/api/v1/users", { token: root });
        if (res.status === 200) ok++;
        else refused = res;
    }
    assert.ok(refused, "refused before 40 requests");
    // The burst, and what dripped in meanwhile at 2 a second.
    const dripped = Math.ceil(((Date.now() - t0) / 1000) * 2);
    assert.ok(ok >= 20 && ok <= 20 + dripped, `${ok} requests served first (a burst of 20, ${dripped} since)`);
    assertProblem(refused, 429);
    assert.equal(refused.json.type, "urn:parley:problem:too-many-requests");
    const retry = Number(refused.headers["retry-after"]);
    assert.ok(retry >= 1 && retry <= 2, `Retry-After ${refused.headers["retry-after"]}`);
    // Every token of that admin shares the bucket; another admin has its own.
    // One token drips in every half second, so of two requests at once with
    // another of root's tokens one may be served, never both (a bucket of
    // its own would serve 20).
    const other = adminToken(srv, "root", { expIn: 600 });
    const again = await Promise.all([0, 1].map(() => api(srv, "GET", "/api/v1/users", { token: other })));
    assert.ok(again.some((r) => r.status === 429), `another of root's tokens: ${again.map((r) => r.status)}`);
    const ops = await api(srv, "GET", "/api/v1/users", { token: adminToken(srv, "ops") });
    assert.equal(ops.status, 200);
    // After Retry-After, root is served again.
    await new Promise((r) => setTimeout(r, retry * 1000));
    assert.equal((await api(srv, "GET", "/api/v1/users", { token: root })).status, 200);
    assert.ok((await refusals()) >= before + 2);
});

stopsCleanly(srv);
