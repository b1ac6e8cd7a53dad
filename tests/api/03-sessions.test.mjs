// Admin API: live sessions and kicks, seen from connected @xmpp/client
// clients.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, useServer, stopsCleanly, uniqueUser, api, assertProblem, allPages, online, stopAll, sleep, sql } from "./lib/api.mjs";

const srv = useServer();

async function until(check, what, ms = 5_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        if (await check()) return;
        await sleep(50);
    }
    throw new Error(`${what}: not within ${ms} ms`);
}

test("/sessions lists everyone online with JID, node, address and presence", T, async () => {
    const a = uniqueUser("sa");
    const c1 = await online(srv, a, { resource: "one" });
    const c2 = await online(srv, a, { resource: "two" });
    try {
        const all = await allPages(srv, "/api/v1/sessions", 500);
        const mine = all.filter((s) => s.username === a);
        assert.deepEqual(mine.map((s) => s.resource).sort(), ["one", "two"]);
        for (const s of mine) {
            assert.equal(s.node, `e2e-${srv.port}`);
            assert.equal(s.address, "127.0.0.1");
            assert.equal(s.available, true);
        }
        const paged = await allPages(srv, `/api/v1/users/${a}/sessions`, 1);
        assert.deepEqual(paged.map((s) => s.full_jid), [`${a}@localhost/one`, `${a}@localhost/two`]);
    } finally {
        await stopAll(c1, c2);
    }
    assertProblem(await api(srv, "GET", `/api/v1/users/${uniqueUser("none")}/sessions`), 404);
});

test("everyone online is at most a moment old: the same page asked again soon after may be the last answer, never for long", T, async () => {
    // Dashboards poll this page; one answer serves the same page for 100 ms.
    const a = uniqueUser("sc");
    const jid = `${a}@localhost/desk`;
    assert.equal((await api(srv, "POST", "/api/v1/users", { body: { username: a } })).status, 201);
    const first = await api(srv, "GET", "/api/v1/sessions?limit=500");
    assert.equal(first.status, 200);
    assert.ok(!first.json.items.some((s) => s.full_jid === jid));
    await sql(
        `INSERT INTO sessions (node, full_jid, username, resource, available, since, updated_at)
         VALUES ('elsewhere', :'jid', :'u', 'desk', true, now(), now())`,
        { jid, u: a },
    );
    try {
        await sleep(200);
        const later = await api(srv, "GET", "/api/v1/sessions?limit=500");
        assert.ok(later.json.items.some((s) => s.full_jid === jid && s.node === "elsewhere"), "the new row, 200 ms on");
        // Another page (another limit) is its own answer; a user's list is always asked afresh.
        const mine = await api(srv, "GET", `/api/v1/users/${a}/sessions`);
        assert.deepEqual(mine.json.items.map((s) => s.full_jid), [jid]);
    } finally {
        await sql("DELETE FROM sessions WHERE full_jid = :'jid'", { jid });
    }
    await sleep(200);
    const gone = await api(srv, "GET", "/api/v1/sessions?limit=500");
    assert.ok(!gone.json.items.some((s) => s.full_jid === jid), "gone 200 ms after its row");
});

test("kicking one session closes it and leaves the other", SLOW, async () => {
    const a = uniqueUser("k1");
    const c1 = await online(srv, a, { resource: "stay" });
    const c2 = await online(srv, a, { resource: "go" });
    try {
        assert.equal((await api(srv, "DELETE", `/api/v1/users/${a}/sessions/go`)).status, 204);
        await until(() => c2.closed, "the kicked session closing");
        await c1.sync();
        assert.equal(c1.closed, false);
        assertProblem(await api(srv, "DELETE", `/api/v1/users/${a}/sessions/nope`), 404);
        await until(async () => {
            const s = await api(srv, "GET", `/api/v1/users/${a}/sessions`);
            return s.json.items.length === 1 && s.json.items[0].resource === "stay";
        }, "the sessions table losing the kicked session");
    } finally {
        await stopAll(c1, c2);
    }
});

test("kicking all of a user's sessions closes every one; the user may log in again", SLOW, async () => {
    const a = uniqueUser("ka");
    const cs = [await online(srv, a), await online(srv, a), await online(srv, a)];
    try {
        // The session rows are written by the store: wait until all three are in.
        await until(
            async () => (await api(srv, "GET", `/api/v1/users/${a}/sessions`)).json?.items?.length === 3,
            "three session rows",
        );
        assert.equal((await api(srv, "DELETE", `/api/v1/users/${a}/sessions`)).status, 204);
        await until(() => cs.every((c) => c.closed), "every session closing");
        const again = await online(srv, a);
        await stopAll(again);
    } finally {
        await stopAll(...cs);
    }
    const audit = await api(srv, "GET", "/api/v1/audit?limit=10");
    const e = audit.json.items.find((x) => x.target === a && x.action === "session.kick");
    assert.ok(e, JSON.stringify(audit.json.items));
    assert.equal(e.details.sessions, 3);
    assert.equal(e.actor, "root");
    assertProblem(await api(srv, "DELETE", `/api/v1/users/${uniqueUser("none")}/sessions`), 404);
});

stopsCleanly(srv);
