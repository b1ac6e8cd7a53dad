// A recipient that stops reading while its offline backlog is being sent:
// live messages sent to it meanwhile used to be held in the server's memory
// with no bound (5,000 x 10 KB grew parleyd by tens of MB). Now what one
// session holds is bounded; the rest stays in the database, and once the
// reader reads again everything arrives, in order, once.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import {
    xml,
    useServer,
    stopsCleanly,
    online,
    rawConnect,
    uniqueUser,
    bareJid,
    waitForSql,
    stopAll,
} from "./lib/harness.mjs";

// No ASan quarantine for this server, so that its RSS follows the memory it
// really holds rather than what it freed lately.
const srv = useServer({
    env: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ""}:quarantine_size_mb=0` },
});

function rssKb(pid) {
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return Number(m[1]);
}

const stored = (from, to) => ({
    q:
        "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id " +
        "WHERE m.sender = :'s' AND d.recipient = :'r'",
    vars: { s: from, r: to },
});

test("live messages to a reader stalled in its backlog do not grow the server", { timeout: 120_000 }, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = uniqueUser("bob");
    const filler = "x".repeat(10_000);
    const backlog = 1500; // 15 MB: more than the kernel's socket buffers
    const live = 4000; // 40 MB sent while bob does not read
    let conn;
    try {
        for (let i = 0; i < backlog; i++) {
            alice.send(xml("message", { type: "chat", to: bareJid(bob), id: `b${i}` }, xml("body", {}, `${i} ${filler}`)));
        }
        await alice.sync(30_000);
        const q = stored(alice.bare, bareJid(bob));
        await waitForSql(q.q, q.vars, (rows) => rows[0]?.[0] === String(backlog), "the backlog stored", 30_000);

        conn = await rawConnect(srv, bob);
        await conn.login(bob, srv.token(bob));
        conn.send(`<presence xmlns='jabber:client'/>`);
        conn.ws._socket.pause(); // the backlog stalls once the socket buffers are full
        await new Promise((r) => setTimeout(r, 1000));

        const pid = srv.child.pid;
        const before = rssKb(pid);
        for (let i = 0; i < live; i++) {
            alice.send(
                xml("message", { type: "chat", to: bareJid(bob), id: `l${i}` }, xml("body", {}, `${backlog + i} ${filler}`)),
            );
            // Paced by the store, so that what is measured is what the
            // server holds for bob, not the messages queued to the store.
            if (i % 100 === 99) {
                await waitForSql(q.q, q.vars, (rows) => Number(rows[0]?.[0]) >= backlog + i + 1, "a chunk stored", 30_000);
            }
        }
        await alice.sync(30_000);
        await waitForSql(q.q, q.vars, (rows) => rows[0]?.[0] === String(backlog + live), "the live ones stored", 30_000);
        await new Promise((r) => setTimeout(r, 500));
        // Held without a bound, all 40 MB would be in parleyd; what it may
        // grow by (store buffers, allocator) does not scale with it.
        const grown = rssKb(pid) - before;
        console.log(`# parleyd grew by ${grown} KB`);
        assert.ok(grown < 20_000, `parleyd grew by ${grown} KB while 40 MB waited for a stalled reader`);

        // Reading again, bob gets all of it, backlog first, in order, once.
        conn.ws._socket.resume();
        let next = 0;
        while (next < backlog + live) {
            const item = await conn.next(`message ${next}`, 20_000);
            if (item.kind !== "element" || item.el.name !== "message") continue;
            const seq = Number(item.el.getChildText("body").split(" ")[0]);
            assert.equal(seq, next, "in order, nothing twice, nothing missing");
            next++;
        }
    } finally {
        conn?.ws.terminate();
        await stopAll(alice);
    }
});

stopsCleanly(srv);
