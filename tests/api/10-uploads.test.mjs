// Admin API: uploads (XEP-0363). Files are shared the way a client shares
// them (a slot over XMPP, a PUT to its URL); the API lists them per user
// and per room with their sizes and total, and deletes one with its file,
// audited. Every response is validated against api/openapi.yaml.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { T, SLOW, useServer, stopsCleanly, uniqueUser, api, assertProblem, sql, online, stopAll, xml, DOMAIN } from "./lib/api.mjs";

const UP = "urn:xmpp:http:upload:0";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-api-uploads-"));
const srv = useServer({ env: { PARLEY_UPLOAD_DIR: dir } });

async function share(c, name, body, type, { upload = true } = {}) {
    const res = await c.iq(
        xml("iq", { type: "get", to: DOMAIN }, xml("request", { xmlns: UP, filename: name, size: String(body.length), "content-type": type })),
    );
    const slot = res.getChild("slot", UP);
    const put = slot.getChild("put").attrs.url;
    const get = slot.getChild("get").attrs.url;
    if (upload) {
        const r = await fetch(put, { method: "PUT", headers: { "Content-Type": type }, body });
        assert.equal(r.status, 201, await r.text());
    }
    return { put, get, key: new URL(get).pathname.split("/")[2] };
}

test("a user's uploads with sizes, the stored total and paging; open slots listed as not stored", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await share(alice, "one.txt", Buffer.from("12345"), "text/plain");
        await share(alice, "two.png", Buffer.alloc(300, 1), "image/png");
        await share(alice, "open.bin", Buffer.alloc(70), "application/octet-stream", { upload: false });
        await share(bob, "bob.txt", Buffer.from("b"), "text/plain");

        const mine = await api(srv, "GET", `/api/v1/uploads?user=${alice.username}`);
        assert.equal(mine.status, 200, mine.text);
        assert.deepEqual(mine.json.items.map((u) => [u.name, u.size, u.stored]), [
            ["open.bin", 70, false],
            ["two.png", 300, true],
            ["one.txt", 5, true],
        ]);
        assert.equal(mine.json.total_bytes, 305);
        assert.equal(mine.json.next_cursor, null);
        assert.ok(mine.json.items.every((u) => u.owner === alice.username && u.room === null));
        assert.equal(mine.json.items[1].content_type, "image/png");

        const p1 = await api(srv, "GET", `/api/v1/uploads?user=${alice.username}&limit=2`);
        assert.equal(p1.json.items.length, 2);
        assert.ok(p1.json.next_cursor);
        const p2 = await api(srv, "GET", `/api/v1/uploads?user=${alice.username}&limit=2&cursor=${p1.json.next_cursor}`);
        assert.deepEqual(p2.json.items.map((u) => u.name), ["one.txt"]);
        assert.equal(p2.json.next_cursor, null);

        const all = await api(srv, "GET", "/api/v1/uploads?limit=500");
        assert.ok(all.json.items.some((u) => u.owner === bob.username));
    } finally {
        await stopAll(alice, bob);
    }
});

test("a room's uploads: the files whose links were posted to it", T, async () => {
    const carol = await online(srv, uniqueUser("carol"));
    try {
        const lp = uniqueUser("room");
        const [[id]] = await sql(
            "INSERT INTO rooms (jid, localpart) VALUES (:'lp' || '@conference.localhost', :'lp') RETURNING id",
            { lp },
        );
        const posted = await share(carol, "plan.pdf", Buffer.alloc(40, 2), "application/pdf");
        await share(carol, "elsewhere.pdf", Buffer.alloc(9, 2), "application/pdf");
        await sql(
            "SELECT parley_room_store_message(:'s', :'r', NULL, :'b', '<message/>')",
            { s: `${carol.username}@localhost`, r: `${lp}@conference.localhost`, b: posted.get },
        );
        const res = await api(srv, "GET", `/api/v1/uploads?room=${id}`);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json.items.map((u) => [u.name, u.size, u.room_id, u.room]), [
            ["plan.pdf", 40, id, `${lp}@conference.localhost`],
        ]);
        assert.equal(res.json.total_bytes, 40);
    } finally {
        await stopAll(carol);
    }
});

test("deleting an upload removes its file and its URL, and the audit log says so", T, async () => {
    const dave = await online(srv, uniqueUser("dave"));
    try {
        const s = await share(dave, "gone.txt", Buffer.from("bye"), "text/plain");
        assert.equal((await fetch(s.get)).status, 200);
        const list = await api(srv, "GET", `/api/v1/uploads?user=${dave.username}`);
        const id = list.json.items[0].id;
        assert.ok(fs.existsSync(path.join(dir, s.key)));

        const del = await api(srv, "DELETE", `/api/v1/uploads/${id}`);
        assert.equal(del.status, 204, del.text);
        assert.equal(fs.existsSync(path.join(dir, s.key)), false);
        assert.equal((await fetch(s.get)).status, 404);
        assertProblem(await api(srv, "DELETE", `/api/v1/uploads/${id}`), 404);
        const after = await api(srv, "GET", `/api/v1/uploads?user=${dave.username}`);
        assert.deepEqual(after.json.items, []);

        const audit = await api(srv, "GET", "/api/v1/audit?limit=20");
        const entry = audit.json.items.find((e) => e.action === "upload.delete" && e.target === dave.username);
        assert.ok(entry, audit.text);
        assert.equal(entry.actor, "root");
        assert.equal(entry.details.name, "gone.txt");
        assert.equal(entry.details.size, 3);
    } finally {
        await stopAll(dave);
    }
});

test("bad parameters, ids and tokens", T, async () => {
    assertProblem(await api(srv, "GET", "/api/v1/uploads?user=Not%20A%20User"), 400, "user");
    assertProblem(await api(srv, "GET", "/api/v1/uploads?room=nope"), 400, "room");
    assertProblem(await api(srv, "GET", "/api/v1/uploads?cursor=x"), 400, "cursor");
    assertProblem(await api(srv, "GET", "/api/v1/uploads?limit=0"), 400, "limit");
    assertProblem(await api(srv, "GET", "/api/v1/uploads?owner=a"), 400, "owner");
    assertProblem(await api(srv, "DELETE", "/api/v1/uploads/abc"), 404);
    assertProblem(await api(srv, "DELETE", "/api/v1/uploads/999999999"), 404);
    assertProblem(await api(srv, "GET", "/api/v1/uploads", { token: null }), 401);
    assertProblem(await api(srv, "GET", "/api/v1/uploads", { token: srv.token("plain") }), 403);
    const nothing = await api(srv, "GET", `/api/v1/uploads?user=${uniqueUser("nobody")}`);
    assert.deepEqual(nothing.json, { items: [], next_cursor: null, total_bytes: 0 });
});

stopsCleanly(srv);
