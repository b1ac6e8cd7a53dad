// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// SIGTERM while a member who was away gets a room's catch-up. The member's
// delivered position never passes what reached them; after a start with
// the same node name the member joins again and gets the rest, in order.
import { test } from "node:test";
import assert from "node:assert/strict";

import { online, uniqueUser, sql, sleep, stopAll, waitForSql, withTimeout } from "./lib/harness.mjs";
import { newRoom, join, joinFully, leave, groupchat } from "./lib/rooms.mjs";
import { recordRoom, restartPair } from "./lib/faults.mjs";

const { first, second } = restartPair("froom", { PARLEY_LIMIT_ROOM_MESSAGE_RATE: "0", PARLEY_ROOM_CATCHUP_MAX: "10000" });

const N = 3000;

test("SIGTERM during a room catch-up: the position never passes what was received; the rest after the restart", { timeout: 120_000 }, async () => {
    await first.start();
    const room = newRoom();
    const poster = await online(first, uniqueUser("rp"));
    const member = uniqueUser("rm");
    await joinFully(poster, room);
    const m1 = await online(first, member);
    await joinFully(m1, room);
    await leave(m1, room);
    await stopAll(m1);
    for (let i = 0; i < N; i++) {
        poster.send(groupchat(room, `m${i}`, { id: `g${i}` })).catch(() => {});
        if (i % 50 === 49) await sleep(5);
    }
    await waitForSql("SELECT count(*) FROM messages WHERE kind = 'groupchat' AND room = :'r'",
        { r: room }, (rows) => rows[0]?.[0] === String(N), `${N} stored`, 60_000);
    await stopAll(poster);

    const got1 = [];
    const m2 = await online(first, member);
    recordRoom(m2, room, got1);
    await join(m2, room);
    await withTimeout((async () => { while (got1.length < 20) await sleep(1); })(), 30_000, "the catch-up under way");
    first.child.kill("SIGTERM");
    const exit = await withTimeout(first.exited, 15_000, "the first parleyd's end");
    assert.equal(exit.code, 0, "a clean stop");
    await withTimeout((async () => { while (!m2.closed) await sleep(10); })(), 5_000, "the member's stream closed");
    await stopAll(m2);
    assert.ok(got1.length < N, `the catch-up was cut short (${got1.length} of ${N})`);

    const pos = await sql(
        `SELECT p.delivered_id FROM room_positions p JOIN rooms r ON r.id = p.room_id
         WHERE r.jid = :'room' AND p.username = :'u'`,
        { room, u: member },
    );
    const delivered = Number(pos[0]?.[0] ?? 0);
    const highest = Math.max(0, ...got1.map((g) => g.id));
    assert.ok(delivered <= highest, `position ${delivered} not past what was received (${highest})`);

    await second.start();
    const got2 = [];
    const m3 = await online(second, member);
    recordRoom(m3, room, got2);
    await join(m3, room);
    const want = Array.from({ length: N }, (_, i) => `m${i}`);
    let missing;
    const deadline = Date.now() + 60_000;
    for (;;) {
        const all = new Set([...got1, ...got2].map((g) => g.body));
        missing = want.filter((b) => !all.has(b));
        if (!missing.length || Date.now() > deadline) break;
        await sleep(100);
    }
    assert.deepEqual(missing, [], "every message reached the member");
    const seq = got2.map((g) => g.id);
    assert.deepEqual(seq, [...seq].sort((a, b) => a - b), "the rest in order");
    console.log(`${got1.length} before the stop (position ${delivered}), ${got2.length} after the restart`);
    await stopAll(m3);
    await second.stop();
});
