// The room limits (SECURITY.md): occupants per room
// (PARLEY_LIMIT_ROOM_OCCUPANTS: XEP-0045 7.2.10's service-unavailable,
// owners and admins still let in), rooms per user
// (PARLEY_LIMIT_ROOMS_PER_USER: resource-constraint) and messages a second
// per occupant (PARLEY_LIMIT_ROOM_MESSAGE_RATE: resource-constraint,
// nothing stored, the others not affected). Each counted in /metrics.
import { test } from "node:test";
import assert from "node:assert/strict";

import { SLOW, NS, useServer, stopsCleanly, online, uniqueUser, sql, stopAll } from "./lib/harness.mjs";
import { newRoom, join, joinFully, leave, groupchat, say } from "./lib/rooms.mjs";

const srv = useServer({
    env: {
        PARLEY_LIMIT_ROOM_OCCUPANTS: "3",
        PARLEY_LIMIT_ROOMS_PER_USER: "2",
        PARLEY_LIMIT_ROOM_MESSAGE_RATE: "2", // bursts of 10
    },
});

/** GET /metrics; the API's listener comes up a moment after the XMPP one
 * that the harness waits for, so a refused connection is tried again. */
async function metricsText(srv) {
    for (let tries = 0; ; tries++) {
        try {
            return await (await fetch(`http://127.0.0.1:${srv.apiPort}/metrics`)).text();
        } catch (err) {
            if (tries >= 100) throw err;
            await new Promise((r) => setTimeout(r, 50));
        }
    }
}

async function refusals(name) {
    const text = await metricsText(srv);
    return Number(text.match(new RegExp(`^parley_limit_refusals_total\\{limit="${name}"\\} (\\d+)$`, "m"))[1]);
}

function condition(el) {
    const e = el.getChild("error");
    return {
        type: e?.attrs.type,
        name: e?.children.find((x) => typeof x !== "string" && x.getNS() === NS.stanzas)?.getName(),
    };
}

test("a full room refuses a new occupant with service-unavailable; its owner still gets in; a leave makes room", SLOW, async () => {
    const before = await refusals("room_occupants");
    const room = newRoom();
    const owner = await online(srv, uniqueUser("own"));
    await joinFully(owner, room);
    await leave(owner, room);
    const others = [];
    for (let i = 0; i < 3; i++) {
        const c = await online(srv, uniqueUser("occ"));
        await joinFully(c, room);
        others.push(c);
    }
    const late = await online(srv, uniqueUser("late"));
    const refused = await join(late, room);
    assert.ok(refused.error, "the 4th occupant is refused");
    assert.deepEqual(condition(refused.error), { type: "wait", name: "service-unavailable" });
    // The owner is let in past the limit.
    await joinFully(owner, room);
    assert.ok((await refusals("room_occupants")) >= before + 1);
    // Once one leaves, there is room for one more (the owner counts too).
    await leave(others[0], room);
    await leave(owner, room);
    await joinFully(late, room);
    await stopAll(owner, late, ...others);
});

test("a user in as many rooms as allowed gets resource-constraint for one more; leaving one lets them in", SLOW, async () => {
    const before = await refusals("rooms_per_user");
    const c = await online(srv, uniqueUser("many"));
    const [r1, r2, r3] = [newRoom(), newRoom(), newRoom()];
    await joinFully(c, r1);
    await joinFully(c, r2);
    const third = await join(c, r3);
    assert.ok(third.error, "a third room is refused");
    assert.deepEqual(condition(third.error), { type: "wait", name: "resource-constraint" });
    assert.ok((await refusals("rooms_per_user")) >= before + 1);
    await leave(c, r1);
    await joinFully(c, r3);
    await stopAll(c);
});

test("an occupant past its message rate gets resource-constraint and nothing is stored; another occupant is not slowed", SLOW, async () => {
    const before = await refusals("room_messages");
    const room = newRoom();
    const fast = await online(srv, uniqueUser("fast"));
    const calm = await online(srv, uniqueUser("calm"));
    await joinFully(fast, room);
    await joinFully(calm, room);
    const n = 20;
    for (let i = 0; i < n; i++) await fast.send(groupchat(room, `burst ${i}`, { id: `b${i}` }));
    // The burst (10) goes through; the rest of the 20 sent at once is refused.
    const errors = [];
    const reflected = [];
    while (errors.length + reflected.length < n) {
        const el = await fast.next(
            (s) => s.is("message") && /^b\d+$/.test(s.attrs.id ?? ""),
            "a reflection or an error for the burst",
        );
        (el.attrs.type === "error" ? errors : reflected).push(el);
    }
    assert.ok(reflected.length >= 10 && reflected.length <= 12, `${reflected.length} reflected`);
    for (const e of errors) assert.deepEqual(condition(e), { type: "wait", name: "resource-constraint" });
    const stored = await sql(
        `SELECT count(*) FROM messages WHERE kind = 'groupchat' AND room = :'r' AND body LIKE 'burst %'`,
        { r: room },
    );
    assert.equal(Number(stored[0][0]), reflected.length, "only what was reflected is stored");
    // The other occupant is not limited by the first one's rate.
    await say(calm, room, "calm here");
    assert.ok((await refusals("room_messages")) >= before + errors.length);
    await stopAll(fast, calm);
});

stopsCleanly(srv);
