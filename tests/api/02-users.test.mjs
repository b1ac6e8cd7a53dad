// Admin API: users. Create, read, list with prefix search and paging,
// update; disabling and deleting seen from a connected @xmpp/client.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    useServer,
    stopsCleanly,
    uniqueUser,
    api,
    assertProblem,
    insertUsers,
    allPages,
    online,
    connect,
    stopAll,
    sql,
    sleep,
} from "./lib/api.mjs";

const srv = useServer();

async function until(check, what, ms = 5_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        if (await check()) return;
        await sleep(50);
    }
    throw new Error(`${what}: not within ${ms} ms`);
}

test("create, get, update a user; created_at and display_name come back", T, async () => {
    const u = uniqueUser("cr");
    const created = await api(srv, "POST", "/api/v1/users", { body: { username: u, display_name: "Ann" } });
    assert.equal(created.status, 201);
    assert.equal(created.json.username, u);
    assert.equal(created.json.display_name, "Ann");
    assert.equal(created.json.disabled, false);
    assert.equal(created.json.online, false);
    const got = await api(srv, "GET", `/api/v1/users/${u}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.json.sessions, []);
    const upd = await api(srv, "PATCH", `/api/v1/users/${u}`, { body: { display_name: "Anne" } });
    assert.equal(upd.status, 200);
    assert.equal(upd.json.display_name, "Anne");
    const cleared = await api(srv, "PATCH", `/api/v1/users/${u}`, { body: { display_name: null } });
    assert.equal(cleared.json.display_name, null);
    assertProblem(await api(srv, "PATCH", `/api/v1/users/${u}`, { body: {} }), 400);
});

test("list: prefix search, pages without gaps or duplicates", SLOW, async () => {
    const prefix = uniqueUser("pg");
    const names = Array.from({ length: 137 }, (_, i) => `${prefix}_${i}`);
    await insertUsers(names);
    await insertUsers([`${prefix.slice(0, -1)}z_other`]); // shares all but the prefix's end
    const items = await allPages(srv, `/api/v1/users?q=${prefix}`, 10, "&");
    const got = items.map((u) => u.username);
    assert.equal(new Set(got).size, got.length, "no duplicates");
    assert.deepEqual([...got].sort(), [...names].sort(), "every user once, nothing else");
    assert.deepEqual(got, [...got].sort(), "in username order");
    const one = await api(srv, "GET", `/api/v1/users?q=${prefix}_13&limit=5`);
    assert.deepEqual(
        one.json.items.map((u) => u.username),
        [`${prefix}_13`, `${prefix}_130`, `${prefix}_131`, `${prefix}_132`, `${prefix}_133`],
    );
});

test("an online user shows online with their session", T, async () => {
    const u = uniqueUser("on");
    const c = await online(srv, u, { resource: "desk" });
    try {
        // The session's row is written by the store, just after the login.
        let got;
        await until(async () => {
            got = await api(srv, "GET", `/api/v1/users/${u}`, { raw: true });
            return got.status === 200 && got.json.sessions[0]?.available;
        }, "the session's row");
        got = await api(srv, "GET", `/api/v1/users/${u}`);
        assert.equal(got.json.sessions.length, 1);
        assert.equal(got.json.sessions[0].resource, "desk");
        assert.equal(got.json.sessions[0].full_jid, `${u}@localhost/desk`);
        assert.ok(got.json.last_login_at);
        const list = await api(srv, "GET", `/api/v1/users?q=${u}`);
        assert.equal(list.json.items[0].online, true);
    } finally {
        await stopAll(c);
    }
});

test("disabling closes the live session at once and refuses the token; enabling lets it back", SLOW, async () => {
    const u = uniqueUser("dis");
    const c = await online(srv, u);
    try {
        await until(async () => (await api(srv, "GET", `/api/v1/users/${u}`, { raw: true })).status === 200,
            "the user provisioned at login");
        const res = await api(srv, "PATCH", `/api/v1/users/${u}`, { body: { disabled: true } });
        assert.equal(res.status, 200);
        assert.equal(res.json.disabled, true);
        await until(() => c.closed, "the disabled user's session closing");
        await assert.rejects(connect(srv, u, { ms: 3_000 }), "a disabled user's token is refused");
        const back = await api(srv, "PATCH", `/api/v1/users/${u}`, { body: { disabled: false } });
        assert.equal(back.json.disabled, false);
        let again = null;
        await until(async () => {
            again = await connect(srv, u, { ms: 3_000 }).catch(() => null);
            return again;
        }, "logging in again once enabled");
        await stopAll(again);
    } finally {
        await stopAll(c);
    }
    const audit = await api(srv, "GET", "/api/v1/audit?limit=20");
    const actions = audit.json.items.filter((e) => e.target === u).map((e) => e.action);
    assert.ok(actions.includes("user.disable"), actions.join());
    assert.ok(actions.includes("user.enable"), actions.join());
});

test("deleting closes the sessions, refuses the token, keeps the archive; the name can be made again", SLOW, async () => {
    const u = uniqueUser("del");
    const peer = uniqueUser("peer");
    await api(srv, "POST", "/api/v1/users", { body: { username: peer } });
    const c = await online(srv, u);
    try {
        await until(async () => (await api(srv, "GET", `/api/v1/users/${u}`, { raw: true })).status === 200,
            "the user provisioned at login");
        const sent = await api(srv, "POST", "/api/v1/messages", { body: { from: u, to: peer, body: "before" } });
        assert.equal(sent.status, 201);
        assert.equal((await api(srv, "DELETE", `/api/v1/users/${u}`)).status, 204);
        await until(() => c.closed, "the deleted user's session closing");
        await assert.rejects(connect(srv, u, { ms: 3_000 }));
        assertProblem(await api(srv, "GET", `/api/v1/users/${u}`), 404);
        assertProblem(await api(srv, "DELETE", `/api/v1/users/${u}`), 404);
        const list = await api(srv, "GET", `/api/v1/users?q=${u}`);
        assert.equal(list.json.items.length, 0);
        const archive = await api(srv, "GET", `/api/v1/messages?user=${u}`);
        assert.equal(archive.json.items.length, 1);
        assert.equal(archive.json.items[0].from, `${u}@localhost`);
        const again = await api(srv, "POST", "/api/v1/users", { body: { username: u } });
        assert.equal(again.status, 201);
        assert.equal(again.json.disabled, false);
    } finally {
        await stopAll(c);
    }
    const [[n]] = await sql(`SELECT count(*) FROM admin_audit WHERE target = :'u' AND action = 'user.delete'`, { u });
    assert.equal(n, "1");
});

stopsCleanly(srv);
