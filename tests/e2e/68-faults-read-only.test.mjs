// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// the database turns read-only (as a standby does after a failover; here
// default_transaction_read_only on the test database, and the server's
// connections cut so that they come back read-only). Nothing is
// acknowledged: the sender is told each message failed, the recipient gets
// nothing, nothing is stored; the log and /readyz say why; once the
// database takes writes again, messages flow again.
import { test } from "node:test";
import assert from "node:assert/strict";

import { NS, useServer, stopsCleanly, online, uniqueUser, bareJid, sql, stopAll, xml } from "./lib/harness.mjs";
import { readyz, until } from "./lib/faults.mjs";

const srv = useServer();

async function cutConnections() {
    await sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :'app'",
        { app: srv.appName });
}

/** Sets the test database read-only or not; the session turns it off for
 * itself first, so that it can always turn it back. */
async function setReadOnly(on) {
    await sql(`SET default_transaction_read_only = off;
               SELECT set_config('parley.db', current_database(), false);
               DO $$ BEGIN EXECUTE format('ALTER DATABASE %I ${on ? "SET default_transaction_read_only = on" : "RESET default_transaction_read_only"}',
                                          current_setting('parley.db')); END $$;`);
}

test("read-only database: nothing acknowledged, the log and /readyz say so; writes again after it clears", { timeout: 60_000 }, async () => {
    const alice = await online(srv, uniqueUser("ro"));
    const bob = await online(srv, uniqueUser("ror"));
    const send = (id) => alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id },
        xml("body", {}, id)));
    await send("before");
    await bob.next((el) => el.is("message") && el.attrs.id === "before", "the message before");
    assert.equal((await readyz(srv)).status, 200);
    try {
        await setReadOnly(true);
        await cutConnections();
        const ready = await until("/readyz says read-only", async () => {
            const r = await readyz(srv);
            return r.status === 503 && r;
        });
        assert.match(ready.text, /read-only/);
        for (const id of ["ro1", "ro2", "ro3"]) await send(id);
        for (const id of ["ro1", "ro2", "ro3"]) {
            const err = await alice.next((el) => el.is("message") && el.attrs.type === "error" && el.attrs.id === id,
                `the error for ${id}`, 15_000);
            assert.equal(err.getChild("error").attrs.type, "wait");
        }
        await bob.expectNone((el) => el.is("message") && /^ro\d$/.test(el.attrs.id ?? ""), "a message not stored");
        assert.match(srv.output, /storing a message failed/);
    } finally {
        await setReadOnly(false);
        await cutConnections();
    }
    await until("/readyz ready again", async () => (await readyz(srv)).status === 200);
    const rows = await sql("SELECT count(*) FROM messages WHERE sender = :'s' AND stanza_id LIKE 'ro%'",
        { s: alice.bare });
    assert.equal(rows[0][0], "0", "nothing stored while read-only");
    // Writes again: a new message is stored and delivered (the store may
    // still be reconnecting: the sender resends on a wait error, as a client does).
    await until("a message after it cleared", async () => {
        const id = `after-${Date.now()}`;
        await send(id);
        const el = await Promise.race([
            bob.next((m) => m.is("message") && m.attrs.id === id, "after", 3_000).catch(() => null),
            alice.next((m) => m.attrs.type === "error" && m.attrs.id === id, "error", 3_000).then(() => null, () => null),
        ]);
        return el && el.getChild("stanza-id", NS.sid);
    }, 20_000);
    await stopAll(alice, bob);
});

stopsCleanly(srv);
