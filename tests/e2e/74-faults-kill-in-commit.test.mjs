// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// the store's database connection killed at a chosen point, inside COMMIT.
// A deferred constraint trigger (created by this test, dropped after) makes
// the commit of one marked message sleep the first time it runs; while the
// COMMIT waits there, its backend is terminated from SQL. The store
// reconnects and runs the batch again: the marked message and the ones
// around it are each stored exactly once and delivered once, in order, and
// the sender is told of no failure.
import { test, after } from "node:test";
import assert from "node:assert/strict";

import { useServer, stopsCleanly, online, uniqueUser, bareJid, sql, sleep, stopAll, xml, waitForSql } from "./lib/harness.mjs";

const srv = useServer();

const SETUP = `
CREATE SEQUENCE IF NOT EXISTS e2e_slow_commit_seq;
CREATE OR REPLACE FUNCTION e2e_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- nextval is not rolled back: only the first attempt sleeps.
    IF NEW.body = 'slow-commit' AND nextval('e2e_slow_commit_seq') = 1 THEN
        PERFORM pg_sleep(30);
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS e2e_slow_commit ON messages;
CREATE CONSTRAINT TRIGGER e2e_slow_commit AFTER INSERT ON messages
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION e2e_slow_commit();
`;
const TEARDOWN = `
DROP TRIGGER IF EXISTS e2e_slow_commit ON messages;
DROP FUNCTION IF EXISTS e2e_slow_commit();
DROP SEQUENCE IF EXISTS e2e_slow_commit_seq;
`;
after(() => sql(TEARDOWN).catch(() => {}));

test("the store's backend killed inside COMMIT: each message stored exactly once and delivered once, in order", { timeout: 60_000 }, async () => {
    await sql(SETUP);
    const alice = await online(srv, uniqueUser("kc"));
    const bob = await online(srv, uniqueUser("kcr"));
    const got = [];
    const errors = [];
    bob.xmpp.on("stanza", (el) => {
        if (el.is("message") && el.getChild("body")) got.push(el.getChildText("body"));
    });
    alice.xmpp.on("stanza", (el) => {
        if (el.is("message") && el.attrs.type === "error") errors.push(el.attrs.id);
    });
    const bodies = ["before-1", "before-2", "slow-commit", "after-1", "after-2"];
    for (const [i, body] of bodies.entries()) {
        await alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: `kc${i}` }, xml("body", {}, body)));
        if (body === "slow-commit") {
            // Its transaction is now inside COMMIT, in the trigger's sleep.
            const rows = await waitForSql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep' AND query = 'COMMIT'",
                {}, (r) => r.length === 1, "a COMMIT waiting in the trigger", 10_000);
            const killed = await sql("SELECT pg_terminate_backend(:'pid')", { pid: rows[0][0] });
            assert.deepEqual(killed, [["t"]], "the backend was terminated in the middle of its COMMIT");
        }
    }
    const deadline = Date.now() + 30_000;
    while (got.length < bodies.length && Date.now() < deadline) await sleep(50);
    await sleep(300); // a duplicate would come right behind
    assert.deepEqual(got, bodies, "each message delivered once, in order");
    const rows = await sql("SELECT body, count(*) FROM messages WHERE sender = :'s' AND recipient = :'r' GROUP BY 1 ORDER BY min(id)",
        { s: alice.bare, r: bob.bare });
    assert.deepEqual(rows, bodies.map((b) => [b, "1"]), "each message stored exactly once");
    assert.deepEqual(errors, [], "the sender was told of no failure");
    assert.match(srv.output, /reconnected/, "the store reconnected after the kill");
    await stopAll(alice, bob);
});

stopsCleanly(srv);
