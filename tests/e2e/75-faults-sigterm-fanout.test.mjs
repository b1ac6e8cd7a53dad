// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// SIGTERM during a live room fan-out: a poster sends a burst to a room with
// several occupants present and the server is stopped while the burst is
// being fanned out. No member's delivered position passes what reached
// them; after a start with the same node name each member joins again and
// gets the rest, in order; every message stored reaches every member.
import { test } from "node:test";
import assert from "node:assert/strict";

import { online, uniqueUser, sql, sleep, stopAll, waitForSql, withTimeout } from "./lib/harness.mjs";
import { newRoom, join, joinFully, leave, groupchat } from "./lib/rooms.mjs";
import { recordRoom, restartPair } from "./lib/faults.mjs";

const { first, second } = restartPair("ffan", { PARLEY_LIMIT_ROOM_MESSAGE_RATE: "0", PARLEY_ROOM_CATCHUP_MAX: "10000" });

const N = 6000;
const MEMBERS = 6;

test("SIGTERM during a live room fan-out: no position passes what was received; the rest after the restart", { timeout: 120_000 }, async () => {
    await first.start();
    const room = newRoom();
    const poster = await online(first, uniqueUser("fp"));
    await joinFully(poster, room);
    const members = [];
    for (let k = 0; k < MEMBERS; k++) {
        const username = uniqueUser(`fm${k}`);
        const c = await online(first, username);
        await joinFully(c, room);
        const got1 = [];
        recordRoom(c, room, got1);
        members.push({ username, c, got1, got2: [] });
    }
    // The poster goes on sending while the stop comes: a burst sent in full
    // before the stop could be stored and fanned out already on a busy machine.
    const sending = (async () => {
        for (let i = 0; i < N && !poster.closed; i++) {
            poster.send(groupchat(room, `m${i}`, { id: `f${i}` })).catch(() => {});
            if (i % 10 === 9) await sleep(1);
        }
    })();
    await withTimeout((async () => { while (members[0].got1.length < N / 4) await sleep(1); })(), 30_000, "the fan-out under way");
    first.child.kill("SIGTERM");
    await sending;
    const exit = await withTimeout(first.exited, 15_000, "the first parleyd's end");
    assert.equal(exit.code, 0, "a clean stop");
    for (const m of members) await withTimeout((async () => { while (!m.c.closed) await sleep(10); })(), 5_000, "a member's stream closed");
    await stopAll(poster, ...members.map((m) => m.c));

    const stored = (await sql("SELECT id, body FROM messages WHERE kind = 'groupchat' AND room = :'r' ORDER BY id", { r: room }))
        .map(([id, body]) => ({ id: Number(id), body }));
    const cut = members.filter((m) => m.got1.length < stored.length).length;
    console.log(`# ${stored.length} of ${N} stored before the stop; ${cut} of ${MEMBERS} members had not got them all; ` +
        `received before the stop: ${members.map((m) => m.got1.length).join(", ")}`);
    assert.ok(stored.length < N || cut > 0, "the stop came during the burst");
    for (const m of members) {
        const pos = await sql(
            `SELECT p.delivered_id FROM room_positions p JOIN rooms r ON r.id = p.room_id
             WHERE r.jid = :'room' AND p.username = :'u'`,
            { room, u: m.username },
        );
        const delivered = Number(pos[0]?.[0] ?? 0);
        const highest = Math.max(0, ...m.got1.map((g) => g.id));
        assert.ok(delivered <= highest, `${m.username}: position ${delivered} not past what was received (${highest})`);
    }

    await second.start();
    for (const m of members) {
        m.c = await online(second, m.username);
        recordRoom(m.c, room, m.got2);
        await join(m.c, room);
    }
    for (const m of members) {
        let missing;
        const deadline = Date.now() + 60_000;
        for (;;) {
            const all = new Set([...m.got1, ...m.got2].map((g) => g.body));
            missing = stored.filter((s) => !all.has(s.body));
            if (!missing.length || Date.now() > deadline) break;
            await sleep(100);
        }
        assert.deepEqual(missing, [], `every stored message reached ${m.username}`);
        const seq = m.got2.map((g) => g.id);
        assert.deepEqual(seq, [...seq].sort((a, b) => a - b), "the rest in order");
        const all = [...m.got1, ...m.got2].map((g) => g.body);
        assert.deepEqual(all.filter((b) => !stored.some((s) => s.body === b)), [], "nothing received that was not stored");
    }
    await stopAll(...members.map((m) => m.c));
    await second.stop();
});
