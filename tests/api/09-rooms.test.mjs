// Admin API: rooms. The list (paged by JID) and one room with its members,
// message count and last activity, read from what PostgreSQL holds.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, useServer, stopsCleanly, uniqueUser, api, assertProblem, allPages, sql } from "./lib/api.mjs";

const srv = useServer();
const MUC = "conference.localhost";

/** Rooms straight into the table; resolves their ids in the order given. */
async function insertRooms(localparts, opts = {}) {
    const rows = await sql(
        `INSERT INTO rooms (jid, localpart, name, members_only)
         SELECT l || '@' || :'muc', l, 'Room ' || l, :'mo'::boolean
         FROM unnest(string_to_array(:'ls', ',')) WITH ORDINALITY AS t(l, o) ORDER BY o RETURNING id`,
        { muc: MUC, ls: localparts.join(","), mo: opts.membersOnly ? "true" : "false" },
    );
    return rows.map((r) => r[0]);
}

test("one room: configuration, members with affiliations, message count, last activity", T, async () => {
    const lp = uniqueUser("rm");
    const [id] = await insertRooms([lp], { membersOnly: true });
    const jid = `${lp}@${MUC}`;
    const empty = await api(srv, "GET", `/api/v1/rooms/${id}`);
    assert.equal(empty.status, 200, empty.text);
    assert.equal(empty.json.id, id);
    assert.equal(empty.json.jid, jid);
    assert.equal(empty.json.members_only, true);
    assert.equal(empty.json.message_count, 0);
    assert.equal(empty.json.last_activity_at, null);
    assert.deepEqual(empty.json.members, []);
    assert.deepEqual(empty.json.occupants, [], "nobody is in it (10-rooms-occupants has them)");
    assert.equal(empty.json.occupant_count, 0);

    await sql(
        `INSERT INTO room_affiliations (room_id, username, affiliation)
         VALUES (:'id', 'zed', 'member'), (:'id', 'ann', 'owner'), (:'id', 'bad', 'outcast')`,
        { id },
    );
    await sql(
        `INSERT INTO messages (kind, sender, room, body, stanza, created_at)
         SELECT 'groupchat', 'ann@localhost', :'jid', 'hi ' || g, '<message/>',
                '2026-03-01T10:00:00Z'::timestamptz + g * interval '1 minute'
         FROM generate_series(1, 3) g ORDER BY g`,
        { jid },
    );
    const got = await api(srv, "GET", `/api/v1/rooms/${id}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.message_count, 3);
    assert.equal(new Date(got.json.last_activity_at).toISOString(), "2026-03-01T10:03:00.000Z");
    assert.deepEqual(
        got.json.members.map((m) => [m.username, m.affiliation]),
        [["ann", "owner"], ["bad", "outcast"], ["zed", "member"]],
    );
    // The list shows the same counts.
    const listed = (await allPages(srv, "/api/v1/rooms", 500)).find((r) => r.id === id);
    assert.equal(listed.message_count, 3);
    assert.equal(listed.jid, jid);
    assert.equal(listed.member_count, 2, "the owner and the member; the outcast is not counted");
});

test("list: pages by JID without gaps or duplicates", SLOW, async () => {
    const prefix = uniqueUser("rl");
    const lps = Array.from({ length: 23 }, (_, i) => `${prefix}_${i}`);
    await insertRooms(lps);
    const items = await allPages(srv, "/api/v1/rooms", 4);
    const jids = items.map((r) => r.jid);
    assert.equal(new Set(jids).size, jids.length, "no duplicates");
    assert.deepEqual([...jids].sort(), jids, "ordered by JID");
    for (const lp of lps) assert.ok(jids.includes(`${lp}@${MUC}`), `${lp} listed`);
});

test("rooms: unknown ids and bad parameters are problems", T, async () => {
    assertProblem(await api(srv, "GET", "/api/v1/rooms/00000000-0000-0000-0000-000000000000"), 404);
    assertProblem(await api(srv, "GET", "/api/v1/rooms/not-a-uuid"), 404);
    assertProblem(await api(srv, "GET", "/api/v1/rooms/x'%20OR%20'1'='1"), 404);
    assertProblem(await api(srv, "GET", "/api/v1/rooms?limit=0"), 400, "limit");
    assertProblem(await api(srv, "GET", "/api/v1/rooms?bogus=1"), 400, "bogus");
    // SQL metacharacters in the cursor are only text compared with JIDs.
    const meta = await api(srv, "GET", `/api/v1/rooms?cursor=${encodeURIComponent("x';--")}`);
    assert.equal(meta.status, 200, meta.text);
});

test("create a room: 201 with its uuid and group-{uuid} JID, members, an audit row", T, async () => {
    const m1 = uniqueUser("m1");
    const created = await api(srv, "POST", "/api/v1/rooms", {
        body: { name: "Team", description: "our room", members_only: true, members: [m1, "zoe", m1] },
    });
    assert.equal(created.status, 201, created.text);
    const { id, jid } = created.json;
    assert.equal(jid, `group-${id}@${MUC}`);
    assert.deepEqual(created.json.members, [m1, "zoe"].sort());
    const got = await api(srv, "GET", `/api/v1/rooms/${id}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.name, "Team");
    assert.equal(got.json.description, "our room");
    assert.equal(got.json.members_only, true);
    assert.deepEqual(
        got.json.members.map((m) => m.affiliation),
        got.json.members.map(() => "member"),
    );
    const [[n]] = await sql(`SELECT count(*) FROM admin_audit WHERE target = :'jid' AND action = 'room.create'`, { jid });
    assert.equal(n, "1");
    const bare = await api(srv, "POST", "/api/v1/rooms", { body: {} });
    assert.equal(bare.status, 201, bare.text);
    assert.equal(bare.json.members_only, false);
    assert.deepEqual(bare.json.members, []);
});

test("create a room: bad fields are 400 naming the field", T, async () => {
    assertProblem(await api(srv, "POST", "/api/v1/rooms", { body: { members: ["Not A User"] } }), 400, "members");
    assertProblem(await api(srv, "POST", "/api/v1/rooms", { body: { members: [7] } }), 400, "members");
    assertProblem(await api(srv, "POST", "/api/v1/rooms", { body: { members: "x" } }), 400, "members");
    assertProblem(await api(srv, "POST", "/api/v1/rooms", { body: { members_only: "yes" } }), 400, "members_only");
    assertProblem(await api(srv, "POST", "/api/v1/rooms", { body: { name: "x".repeat(1025) } }), 400, "name");
    assertProblem(await api(srv, "POST", "/api/v1/rooms", { body: { owner: "x" } }), 400, "owner");
});

test("update and delete a room, audited; unknown rooms are 404", T, async () => {
    const made = await api(srv, "POST", "/api/v1/rooms", { body: { name: "Old", description: "d" } });
    assert.equal(made.status, 201, made.text);
    const { id, jid } = made.json;
    const upd = await api(srv, "PATCH", `/api/v1/rooms/${id}`, {
        body: { name: "New", description: null, members_only: true, public: false },
    });
    assert.equal(upd.status, 200, upd.text);
    assert.equal(upd.json.name, "New");
    assert.equal(upd.json.description, null);
    assert.equal(upd.json.members_only, true);
    assert.equal(upd.json.public, false);
    const only = await api(srv, "PATCH", `/api/v1/rooms/${id}`, { body: { public: true } });
    assert.equal(only.json.name, "New", "what is not given stays");
    assert.equal(only.json.public, true);
    assertProblem(await api(srv, "PATCH", `/api/v1/rooms/${id}`, { body: {} }), 400);
    assertProblem(await api(srv, "PATCH", `/api/v1/rooms/${id}`, { body: { public: 1 } }), 400, "public");
    assertProblem(await api(srv, "PATCH", `/api/v1/rooms/${id}`, { body: { jid: "x" } }), 400, "jid");
    const none = "00000000-0000-0000-0000-000000000000";
    assertProblem(await api(srv, "PATCH", `/api/v1/rooms/${none}`, { body: { public: true } }), 404);
    const [[n]] = await sql(`SELECT count(*) FROM admin_audit WHERE target = :'jid' AND action = 'room.update'`, { jid });
    assert.equal(n, "2");
    const del = await api(srv, "DELETE", `/api/v1/rooms/${id}`);
    assert.equal(del.status, 204, del.text);
    assertProblem(await api(srv, "GET", `/api/v1/rooms/${id}`), 404);
    assertProblem(await api(srv, "DELETE", `/api/v1/rooms/${id}`), 404);
    const [[d]] = await sql(`SELECT count(*) FROM admin_audit WHERE target = :'jid' AND action = 'room.delete'`, { jid });
    assert.equal(d, "1");
});

test("members: put sets and changes an affiliation, delete removes it, audited", T, async () => {
    const made = await api(srv, "POST", "/api/v1/rooms", { body: { members: ["kim"] } });
    const { id, jid } = made.json;
    const u = uniqueUser("mb");
    const put = await api(srv, "PUT", `/api/v1/rooms/${id}/members/${u}`, { body: { affiliation: "admin" } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.username, u);
    assert.equal(put.json.affiliation, "admin");
    const ban = await api(srv, "PUT", `/api/v1/rooms/${id}/members/kim`, { body: { affiliation: "outcast" } });
    assert.equal(ban.json.affiliation, "outcast");
    let got = await api(srv, "GET", `/api/v1/rooms/${id}`);
    assert.deepEqual(
        got.json.members.map((m) => [m.username, m.affiliation]).sort(),
        [["kim", "outcast"], [u, "admin"]].sort(),
    );
    assertProblem(await api(srv, "PUT", `/api/v1/rooms/${id}/members/${u}`, { body: { affiliation: "god" } }), 400, "affiliation");
    assertProblem(await api(srv, "PUT", `/api/v1/rooms/${id}/members/${u}`, { body: {} }), 400, "affiliation");
    assertProblem(await api(srv, "PUT", `/api/v1/rooms/${id}/members/Bad%20User`, { body: { affiliation: "member" } }), 404);
    const none = "00000000-0000-0000-0000-000000000000";
    assertProblem(await api(srv, "PUT", `/api/v1/rooms/${none}/members/${u}`, { body: { affiliation: "member" } }), 404);
    const del = await api(srv, "DELETE", `/api/v1/rooms/${id}/members/${u}`);
    assert.equal(del.status, 204, del.text);
    assertProblem(await api(srv, "DELETE", `/api/v1/rooms/${id}/members/${u}`), 404);
    assertProblem(await api(srv, "DELETE", `/api/v1/rooms/${none}/members/${u}`), 404);
    got = await api(srv, "GET", `/api/v1/rooms/${id}`);
    assert.deepEqual(got.json.members.map((m) => m.username), ["kim"]);
    const rows = await sql(
        `SELECT action, details->>'username' FROM admin_audit WHERE target = :'jid' AND action LIKE 'room.member.%' ORDER BY id`,
        { jid },
    );
    assert.deepEqual(rows, [["room.member.set", u], ["room.member.set", "kim"], ["room.member.remove", u]]);
});

test("stats count rooms; a user shows last presence and unread counts per peer and room", T, async () => {
    const before = (await api(srv, "GET", "/api/v1/stats")).json.rooms;
    const made = await api(srv, "POST", "/api/v1/rooms", { body: { name: "Counted" } });
    const { id, jid } = made.json;
    assert.equal((await api(srv, "GET", "/api/v1/stats")).json.rooms, before + 1);

    const u = uniqueUser("ur");
    const p = uniqueUser("up");
    for (const n of [u, p]) assert.equal((await api(srv, "POST", "/api/v1/users", { body: { username: n } })).status, 201);
    const fresh = await api(srv, "GET", `/api/v1/users/${u}`);
    assert.equal(fresh.status, 200, fresh.text);
    assert.equal(fresh.json.last_presence, null);
    assert.deepEqual(fresh.json.unread, { peers: [], rooms: [] });

    for (let i = 0; i < 2; i++) {
        const sent = await api(srv, "POST", "/api/v1/messages", { body: { from: p, to: u, body: `hi ${i}` } });
        assert.equal(sent.status, 201, sent.text);
    }
    await sql(
        `INSERT INTO direct_read_positions (recipient, sender) VALUES (:'u', :'p') ON CONFLICT DO NOTHING`,
        { u: `${u}@localhost`, p: `${p}@localhost` },
    );
    await sql(
        `INSERT INTO presence_last (jid, username, resource, available, show, status, priority)
         VALUES (:'j', :'u', 'phone', false, NULL, 'gone', 0)`,
        { j: `${u}@localhost`, u },
    );
    await sql(`INSERT INTO room_positions (room_id, username) VALUES (:'id', :'u')`, { id, u });
    await sql(
        `INSERT INTO messages (kind, sender, room, body, stanza)
         SELECT 'groupchat', :'p', :'jid', 'r' || g, '<message/>' FROM generate_series(1, 3) g`,
        { p: `${p}@localhost`, jid },
    );
    const got = await api(srv, "GET", `/api/v1/users/${u}`);
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.last_presence.resource, "phone");
    assert.equal(got.json.last_presence.status, "gone");
    assert.equal(got.json.last_presence.available, false);
    assert.deepEqual(got.json.unread.peers, [{ peer: `${p}@localhost`, unread: 2 }]);
    assert.deepEqual(got.json.unread.rooms, [{ room: id, jid, unread: 3 }]);
});

test("POST /messages to a room: stored in its archive, from a member or the server", T, async () => {
    const m = uniqueUser("sm");
    const o = uniqueUser("so");
    for (const n of [m, o]) assert.equal((await api(srv, "POST", "/api/v1/users", { body: { username: n } })).status, 201);
    const { id, jid } = (await api(srv, "POST", "/api/v1/rooms", { body: { members: [m] } })).json;
    const sent = await api(srv, "POST", "/api/v1/messages", { body: { from: m, room: id, body: "hello <room> & all" } });
    assert.equal(sent.status, 201, sent.text);
    const server = await api(srv, "POST", "/api/v1/messages", { body: { room: id, body: "from the server" } });
    assert.equal(server.status, 201, server.text);
    const rows = await sql(
        `SELECT sender, body FROM messages WHERE kind = 'groupchat' AND room = :'jid' ORDER BY id`,
        { jid },
    );
    assert.deepEqual(rows, [[`${m}@localhost`, "hello <room> & all"], ["localhost", "from the server"]]);
    assert.equal((await api(srv, "GET", `/api/v1/rooms/${id}`)).json.message_count, 2);
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { from: o, room: id, body: "x" } }), 400, "from");
    await api(srv, "PUT", `/api/v1/rooms/${id}/members/${m}`, { body: { affiliation: "outcast" } });
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { from: m, room: id, body: "x" } }), 400, "from");
    assertProblem(await api(srv, "POST", "/api/v1/messages", { body: { room: "nope", body: "x" } }), 400, "room");
    const [[n]] = await sql(`SELECT count(*) FROM admin_audit WHERE target = :'jid' AND action = 'message.send'`, { jid });
    assert.equal(n, "2");
});

stopsCleanly(srv);
