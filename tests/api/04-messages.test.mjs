// Admin API: the archive (filters, order, paging, full text), one message
// with its delivery states, and POST /messages seen by a connected client.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    NS,
    xml,
    useServer,
    stopsCleanly,
    uniqueUser,
    api,
    assertProblem,
    allPages,
    online,
    stopAll,
    sql,
    sleep,
    rawGet,
    adminToken,
} from "./lib/api.mjs";

const srv = useServer();

async function until(check, what, ms = 5_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        const v = await check();
        if (v) return v;
        await sleep(50);
    }
    throw new Error(`${what}: not within ${ms} ms`);
}

async function createUsers(...names) {
    for (const n of names) {
        const r = await api(srv, "POST", "/api/v1/users", { body: { username: n } });
        assert.equal(r.status, 201, r.text);
    }
}

/** n direct messages between a and b straight into the archive, alternating
 * direction; resolves their ids in order. */
async function insertConversation(a, b, n, body = (i) => `msg ${i}`) {
    const bodies = Array.from({ length: n }, (_, i) => body(i));
    const rows = await sql(
        `INSERT INTO messages (kind, sender, recipient, body, stanza)
         SELECT 'chat', CASE WHEN g % 2 = 0 THEN :'a' ELSE :'b' END,
                CASE WHEN g % 2 = 0 THEN :'b' ELSE :'a' END, (string_to_array(:'bodies', chr(31)))[g + 1], '<message/>'
         FROM generate_series(0, ${n - 1}) g ORDER BY g RETURNING id`,
        { a: `${a}@localhost`, b: `${b}@localhost`, bodies: bodies.join("\x1f") },
    );
    return rows.map((r) => Number(r[0]));
}

test("a message sent over REST reaches the online client; its states follow write and receipt", SLOW, async () => {
    const alice = uniqueUser("al");
    const bob = uniqueUser("bo");
    await createUsers(alice);
    const c = await online(srv, bob);
    try {
        await until(async () => (await api(srv, "GET", `/api/v1/users/${bob}`, { raw: true })).status === 200, "bob provisioned");
        const sent = await api(srv, "POST", "/api/v1/messages", { body: { from: alice, to: bob, body: "hello <b>&amp; 'you'" } });
        assert.equal(sent.status, 201);
        assert.equal(sent.json.from, `${alice}@localhost`);
        assert.equal(sent.json.to, `${bob}@localhost`);
        assert.equal(sent.json.deliveries.length, 1);
        const msg = await c.nextMessage("hello <b>&amp; 'you'");
        assert.equal(msg.attrs.from, `${alice}@localhost`);
        assert.equal(msg.attrs.type, "chat");
        assert.equal(msg.attrs.id, sent.json.stanza_id);
        const sid = msg.getChild("stanza-id", NS.sid);
        assert.equal(sid.attrs.id, String(sent.json.id));
        assert.equal(sid.attrs.by, `${bob}@localhost`);
        const delivered = await until(async () => {
            const m = await api(srv, "GET", `/api/v1/messages/${sent.json.id}`);
            return m.json.deliveries[0].state === "delivered" && m.json;
        }, "state delivered after the write");
        assert.ok(delivered.deliveries[0].delivered_at);
        await c.send(xml("message", { to: `${alice}@localhost`, id: "rcpt-1" },
            xml("received", { xmlns: NS.receipts, id: sent.json.stanza_id })));
        const received = await until(async () => {
            const m = await api(srv, "GET", `/api/v1/messages/${sent.json.id}`);
            return m.json.deliveries[0].state === "received" && m.json;
        }, "state received after the receipt");
        assert.equal(received.deliveries[0].recipient, `${bob}@localhost`);
        assert.ok(received.deliveries[0].received_at);
    } finally {
        await stopAll(c);
    }
});

test("a message from the server's domain to an offline user arrives at their next login", SLOW, async () => {
    const carol = uniqueUser("ca");
    await createUsers(carol);
    const sent = await api(srv, "POST", "/api/v1/messages", { body: { to: carol, body: "while you were out" } });
    assert.equal(sent.status, 201);
    assert.equal(sent.json.from, "localhost");
    assert.equal(sent.json.deliveries[0].state, "stored");
    const c = await online(srv, carol);
    try {
        const msg = await c.nextMessage("while you were out");
        assert.equal(msg.attrs.from, "localhost");
        assert.ok(msg.getChild("delay", NS.delay), "an offline message carries its delay");
    } finally {
        await stopAll(c);
    }
    const audit = await api(srv, "GET", "/api/v1/audit?limit=50");
    const e = audit.json.items.find((x) => x.action === "message.send" && x.details.id === sent.json.id);
    assert.ok(e);
    assert.equal(e.target, `${carol}@localhost`);
});

test("POST /messages refuses what it cannot send", T, async () => {
    const u = uniqueUser("pm");
    await createUsers(u);
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { body: "x" } }), 400, "to");
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { to: u } }), 400, "body");
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { to: u, body: "" } }), 400, "body");
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { to: u, body: "a\u0001b" } }), 400, "body");
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { to: uniqueUser("no"), body: "x" } }), 404, "to");
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { from: uniqueUser("no"), to: u, body: "x" } }), 404, "from");
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { to: u, body: "x", cc: u } }), 400, "cc");
    assertProblem(
        await api(srv, "POST", "/api/v1/messages", { body: { room: "0b7e8d4e-0000-4000-8000-000000000000", body: "x" } }),
        404,
        "room",
    );
});

test("a conversation pages newest and oldest first without gaps or duplicates", SLOW, async () => {
    const a = uniqueUser("ca");
    const b = uniqueUser("cb");
    const ids = await insertConversation(a, b, 250);
    await insertConversation(a, uniqueUser("other"), 5); // not theirs
    for (const [order, want] of [["newest", [...ids].reverse()], ["oldest", ids]]) {
        const items = await allPages(srv, `/api/v1/messages?user=${a}&peer=${b}&order=${order}`, 37, "&");
        assert.deepEqual(items.map((m) => m.id), want, order);
    }
    const both = await allPages(srv, `/api/v1/messages?user=${b}&peer=${a}`, 100, "&");
    assert.equal(both.length, 250, "the same conversation from either side");
    // A note to oneself is sent and received by a: listed once.
    await sql(`INSERT INTO messages (kind, sender, recipient, body, stanza) VALUES ('chat', :'a', :'a', 'note', '<message/>')`, { a: `${a}@localhost` });
    for (const order of ["newest", "oldest"]) {
        const all = await allPages(srv, `/api/v1/messages?user=${a}&order=${order}`, 100, "&");
        assert.equal(all.length, 256, order);
        assert.equal(new Set(all.map((m) => m.id)).size, 256, `${order}: no duplicates`);
        const ids = all.map((m) => m.id);
        assert.deepEqual(ids, [...ids].sort((x, y) => (order === "newest" ? y - x : x - y)));
    }
    const last = await api(srv, "GET", `/api/v1/messages?user=${a}&peer=${b}&limit=1`);
    assert.equal(last.json.items[0].id, ids[ids.length - 1]);
    assert.equal(last.json.items[0].body, "msg 249");
});

test("since and until bound the time, inclusive and exclusive", T, async () => {
    const a = uniqueUser("ta");
    const b = uniqueUser("tb");
    const ids = await insertConversation(a, b, 3);
    await sql(`UPDATE messages SET created_at = ('2026-01-0' || (id - :'first'::bigint + 1) || 'T12:00:00Z')::timestamptz WHERE id = ANY(string_to_array(:'ids', ',')::bigint[])`, {
        first: ids[0],
        ids: ids.join(","),
    });
    const r = await api(srv, "GET", `/api/v1/messages?user=${a}&since=2026-01-02T12:00:00Z&until=2026-01-03T12:00:00Z`);
    assert.deepEqual(r.json.items.map((m) => m.id), [ids[1]]);
    const d = await api(srv, "GET", `/api/v1/messages?user=${a}&since=2026-01-02&order=oldest`);
    assert.deepEqual(d.json.items.map((m) => m.id), [ids[1], ids[2]]);
    assertProblem(await api(srv, "GET", "/api/v1/messages?since=yesterday"), 400, "since");
    assertProblem(await api(srv, "GET", "/api/v1/messages?until=2026-13-01"), 400, "until");
});

test("full text finds words in bodies, with the other filters", T, async () => {
    const a = uniqueUser("fa");
    const b = uniqueUser("fb");
    const word = `zebra${Date.now()}`;
    const ids = await insertConversation(a, b, 6, (i) => (i % 3 === 0 ? `the ${word} runs ${i}` : `nothing ${i}`));
    const r = await api(srv, "GET", `/api/v1/messages?q=${word}&order=oldest`);
    assert.deepEqual(r.json.items.map((m) => m.id), [ids[0], ids[3]]);
    const r2 = await api(srv, "GET", `/api/v1/messages?q=${word}+runs&user=${a}&peer=${b}`);
    assert.deepEqual(r2.json.items.map((m) => m.id), [ids[3], ids[0]]);
    const none = await api(srv, "GET", `/api/v1/messages?q=${word}&user=${uniqueUser("x")}`);
    assert.equal(none.json.items.length, 0);
});

test("full-text pages have no gap or duplicate, whether matches are near or far apart", SLOW, async () => {
    // A page is taken from the newest 2,000 messages past the cursor when
    // they hold enough matches, else from the full-text index: 12 matches,
    // 2,100 messages without the word, 12 more, so that the pages of one
    // listing come from both.
    const a = uniqueUser("pa");
    const b = uniqueUser("pb");
    const word = `okapi${Date.now()}`;
    const older = await insertConversation(a, b, 12, (i) => `${word} older ${i}`);
    await insertConversation(uniqueUser("fx"), uniqueUser("fy"), 2100, (i) => `filler ${i}`);
    const newer = await insertConversation(a, b, 12, (i) => `${word} newer ${i}`);
    const all = [...older, ...newer];
    const desc = await allPages(srv, `/api/v1/messages?q=${word}`, 5, "&");
    assert.deepEqual(desc.map((m) => m.id), [...all].reverse());
    const asc = await allPages(srv, `/api/v1/messages?q=${word}&order=oldest`, 5, "&");
    assert.deepEqual(asc.map((m) => m.id), all);
    // With the other filters: a's own messages (even positions), and a time range.
    const sent = all.filter((_, i) => i % 12 % 2 === 0);
    const mine = await allPages(srv, `/api/v1/messages?q=${word}&user=${a}&peer=${b}`, 4, "&");
    assert.deepEqual(mine.map((m) => m.id), [...all].reverse());
    const bySender = (await allPages(srv, `/api/v1/messages?q=${word}&order=oldest`, 7, "&")).filter(
        (m) => m.from === `${a}@localhost`,
    );
    assert.deepEqual(bySender.map((m) => m.id), sent);
    // Each insert is one transaction, so the newer twelve share one stamp
    // that the older ones (and the filler) are before.
    const stamp = (await sql(`SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM messages WHERE id = ${newer[0]}`))[0][0];
    const recent = await allPages(srv, `/api/v1/messages?q=${word}&since=${encodeURIComponent(stamp)}`, 5, "&");
    assert.deepEqual(recent.map((m) => m.id), [...newer].reverse());
    const before = await allPages(srv, `/api/v1/messages?q=${word}&until=${encodeURIComponent(stamp)}&order=oldest`, 5, "&");
    assert.deepEqual(before.map((m) => m.id), older);
});

test("filters are checked: peer needs user, room is a uuid, order is newest or oldest", T, async () => {
    assertProblem(await api(srv, "GET", "/api/v1/messages?peer=bob"), 400, "peer");
    assertProblem(await api(srv, "GET", "/api/v1/messages?room=general"), 400, "room");
    assertProblem(await api(srv, "GET", "/api/v1/messages?order=random"), 400, "order");
    assertProblem(await api(srv, "GET", "/api/v1/messages?cursor=abc"), 400, "cursor");
    assertProblem(await api(srv, "GET", "/api/v1/messages?user=Bob"), 400, "user");
    const room = await api(srv, "GET", "/api/v1/messages?room=0b7e8d4e-0000-4000-8000-000000000000");
    assert.equal(room.status, 200);
    assert.deepEqual(room.json.items, []);
});

test("SQL metacharacters in every parameter are data, never SQL", SLOW, async () => {
    const [[before]] = await sql("SELECT count(*) FROM users");
    const evil = ["' OR '1'='1", "'; DROP TABLE users; --", "\" OR 1=1 --", "%", "_", "\\", "$1", "a'||'b", "1; SELECT pg_sleep(5)"];
    for (const e of evil) {
        const v = encodeURIComponent(e);
        const users = await api(srv, "GET", `/api/v1/users?q=${v}`);
        assert.equal(users.status, 200);
        assert.equal(users.json.items.length, 0, `q=${e} matched: ${users.text}`);
        const cur = await api(srv, "GET", `/api/v1/users?cursor=${v}&limit=1`);
        assert.equal(cur.status, 200);
        for (const p of ["user", "peer", "room", "since", "until", "order", "cursor", "limit"]) {
            const extra = p === "peer" ? "&user=x" : "";
            const r = await api(srv, "GET", `/api/v1/messages?${p}=${v}${extra}`);
            assert.ok(r.status === 400 || r.status === 200, `${p}=${e}: ${r.status} ${r.text}`);
            if (r.status === 200) assert.equal(r.json.items.length, 0, `${p}=${e}`);
        }
        const q = await api(srv, "GET", `/api/v1/messages?q=${v}`);
        assert.ok(q.status === 200, `q=${e}: ${q.text}`);
        for (const p of ["user", "peer", "room", "since", "until", "format"]) {
            const extra = p === "peer" || p === "since" || p === "until" || p === "format" ? "&user=x" : "";
            const r = await api(srv, "GET", `/api/v1/export?${p}=${v}${extra}`);
            assert.ok(r.status === 400 || r.status === 200, `export ${p}=${e}: ${r.status}`);
        }
        const sessions = await api(srv, "GET", `/api/v1/sessions?cursor=${v}`);
        assert.equal(sessions.status, 200);
        const path = await rawGet(srv, `/api/v1/users/${v}`, adminToken(srv));
        assert.ok([400, 404].includes(path.status), `path ${e}: ${path.status}`);
        const body = await api(srv, "POST", "/api/v1/messages", { body: { to: e, body: e } });
        assert.ok([400, 404].includes(body.status), `body ${e}: ${body.text}`);
        const patch = await api(srv, "PATCH", `/api/v1/users/${v}`, { body: { display_name: e } });
        assert.ok([400, 404].includes(patch.status));
    }
    const created = await api(srv, "POST", "/api/v1/users", { body: { username: uniqueUser("q"), display_name: evil[1] } });
    assert.equal(created.json.display_name, evil[1], "stored as given");
    const [[after]] = await sql("SELECT count(*) FROM users");
    assert.equal(Number(after), Number(before) + 1, "the users table is still there, one row more");
});

stopsCleanly(srv);
