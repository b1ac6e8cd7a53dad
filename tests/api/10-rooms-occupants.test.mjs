// Admin API: who is in a room now (GET /api/v1/rooms/{room} `occupants`,
// `occupant_count` there and in the list). The loop writes a row per
// session that joins (room_occupants, 0008) and deletes it when the session
// leaves or ends; a node that starts again deletes its last run's rows, so
// a crash leaves nothing behind once the node is back.
import { test } from "node:test";
import assert from "node:assert/strict";

import { SLOW, Server, useServer, stopsCleanly, online, uniqueUser, stopAll, api, allPages, sql, sleep } from "./lib/api.mjs";
import { joinFully, leave } from "../e2e/lib/rooms.mjs";

const srv = useServer();

/** Polls GET /rooms/{id} until check(json) holds. */
async function roomUntil(server, id, check, what, ms = 5_000) {
    const deadline = Date.now() + ms;
    for (;;) {
        const res = await api(server, "GET", `/api/v1/rooms/${id}`);
        assert.equal(res.status, 200, res.text);
        if (check(res.json)) return res.json;
        if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; last: ${res.text}`);
        await sleep(50);
    }
}

const names = (j) => j.occupants.map((o) => o.username);

test("occupants: who joined, with their resources; a leave and a session's end take them out; the list counts them", SLOW, async () => {
    const a = await online(srv, uniqueUser("oa"), { resource: "desk" });
    const b = await online(srv, uniqueUser("ob"), { resource: "phone" });
    let a2;
    try {
        const { id, jid } = (await api(srv, "POST", "/api/v1/rooms", { body: { members: [a.username, b.username] } })).json;
        await joinFully(a, jid);
        await joinFully(b, jid);
        a2 = await online(srv, a.username, { resource: "laptop" });
        await joinFully(a2, jid);
        const both = await roomUntil(srv, id, (j) => j.occupants.length === 2 && j.occupants.some((o) => o.resources.length === 2), "three sessions in");
        assert.deepEqual(names(both), [a.username, b.username].sort());
        assert.deepEqual(both.occupants.find((o) => o.username === a.username).resources, ["desk", "laptop"]);
        assert.equal(both.occupant_count, 2);
        const listed = (await allPages(srv, "/api/v1/rooms", 500)).find((r) => r.id === id);
        assert.equal(listed.occupant_count, 2);

        await leave(b, jid);
        await roomUntil(srv, id, (j) => j.occupant_count === 1 && names(j)[0] === a.username, "b left");
        await stopAll(a2); // a session that ends leaves its rooms
        const one = await roomUntil(srv, id, (j) => j.occupants[0]?.resources.length === 1, "laptop gone");
        assert.deepEqual(one.occupants[0].resources, ["desk"]);
        await stopAll(a);
        await roomUntil(srv, id, (j) => j.occupant_count === 0 && j.occupants.length === 0, "everyone gone");
    } finally {
        await stopAll(a, a2, b);
    }
});

test("occupants after a crash: the rows of a node killed with SIGKILL are gone when it starts again", SLOW, async () => {
    const node = uniqueUser("node");
    const first = new Server({ name: "parleyd-crash", env: { PARLEY_NODE: node } });
    await first.start();
    const c = await online(first, uniqueUser("oc"));
    const { id, jid } = (await api(first, "POST", "/api/v1/rooms", { body: { members: [c.username] } })).json;
    await joinFully(c, jid);
    await roomUntil(first, id, (j) => j.occupant_count === 1, "c in");
    first.child.kill("SIGKILL");
    await first.exited;
    await stopAll(c);
    // Nobody cleaned up: the row is still there.
    const [[n]] = await sql(`SELECT count(*) FROM room_occupants WHERE node = :'node'`, { node });
    assert.equal(n, "1");
    const again = new Server({ name: "parleyd-restart", env: { PARLEY_NODE: node } });
    await again.start();
    try {
        await roomUntil(again, id, (j) => j.occupant_count === 0, "the crashed run's occupant gone");
    } finally {
        await again.stop();
    }
});

stopsCleanly(srv);
