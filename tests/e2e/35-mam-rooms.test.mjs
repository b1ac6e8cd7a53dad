// A room's archive (XEP-0313 at the room's JID): its members page through
// it (25 messages, 10 a page: 10, 10, 5), filter by occupant, time and full
// text; anyone else is refused with forbidden.
import { test } from "node:test";
import assert from "node:assert/strict";

import { SLOW, T, xml, useServer, stopsCleanly, online, uniqueUser, stopAll } from "./lib/harness.mjs";
import { RNS, newRoom, stanzaId, joinFully, leave, say, mam, iq, condition } from "./lib/rooms.mjs";

const srv = useServer();
const bodies = (page) => page.results.map((r) => r.message.getChildText("body"));

test("a member pages through a room's 25 messages, 10 a page: 10, 10, 5", SLOW, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        const sent = [];
        for (let i = 1; i <= 25; i++) sent.push(await say(i % 5 ? a : b, room, `r${i}`));
        const p1 = await mam(a, { to: room, rsm: { max: 10 } });
        assert.deepEqual(bodies(p1), Array.from({ length: 10 }, (_, i) => `r${i + 1}`));
        assert.equal(p1.complete, false);
        const p2 = await mam(a, { to: room, rsm: { max: 10, after: p1.last } });
        assert.equal(p2.results.length, 10);
        assert.equal(p2.complete, false);
        const p3 = await mam(a, { to: room, rsm: { max: 10, after: p2.last } });
        assert.deepEqual(bodies(p3), Array.from({ length: 5 }, (_, i) => `r${i + 21}`));
        assert.equal(p3.complete, true);
        // the archive ids are the stanza ids the occupants got
        assert.deepEqual(
            [...p1.results, ...p2.results, ...p3.results].map((r) => r.id),
            sent.map((m) => stanzaId(m).attrs.id),
        );
        const r = p1.results[0];
        assert.equal(r.from, room, "results come from the room");
        assert.equal(r.message.attrs.from, `${room}/${a.username}`);
        // the last page backward
        const last = await mam(b, { to: room, rsm: { max: 10, before: "" } });
        assert.deepEqual(bodies(last), Array.from({ length: 10 }, (_, i) => `r${i + 16}`));
        // one occupant's messages
        const bobs = await mam(a, { to: room, fields: { with: `${room}/${b.username}` } });
        assert.deepEqual(bodies(bobs), ["r5", "r10", "r15", "r20", "r25"]);
        const bare = await mam(a, { to: room, fields: { with: b.bare } });
        assert.deepEqual(bodies(bare), bodies(bobs));
    } finally {
        await stopAll(a, b);
    }
});

test("a member who left still reads the archive; full text works in rooms", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        await say(a, room, "the release candidate is tagged");
        await say(a, room, "coffee anyone");
        await leave(b, room);
        const hits = await mam(b, { to: room, fields: { [RNS.fulltext]: "release" } });
        assert.deepEqual(bodies(hits), ["the release candidate is tagged"]);
    } finally {
        await stopAll(a, b);
    }
});

test("anyone but a member gets forbidden for a room's archive", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const stranger = await online(srv, uniqueUser("eve"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await say(a, room, "members only");
        const res = await mam(stranger, { to: room });
        assert.equal(res.error, "forbidden");
        assert.deepEqual(res.results, [], "nothing was sent");
        const got = await iq(
            stranger,
            xml("iq", { type: "set", to: room }, xml("query", { xmlns: RNS.mam })),
        );
        assert.equal(condition(got), "forbidden");
    } finally {
        await stopAll(a, stranger);
    }
});

stopsCleanly(srv);
