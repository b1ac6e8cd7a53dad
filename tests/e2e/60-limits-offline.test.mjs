// PARLEY_LIMIT_OFFLINE_QUEUE: what waits for one offline recipient is
// bounded. Past it the sender gets a `wait` resource-constraint error and
// nothing is stored (nothing is dropped silently); a recipient that does
// not exist gets exactly the same (accounts cannot be probed); once the
// recipient has taken their messages there is room again. Refusals are
// counted in /metrics.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    SLOW,
    NS,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    bareJid,
    sql,
    waitForSql,
    stopAll,
    xml,
} from "./lib/harness.mjs";

const LIMIT = 5;
const srv = useServer({ env: { PARLEY_LIMIT_OFFLINE_QUEUE: String(LIMIT) } });

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

async function refusals() {
    const text = await metricsText(srv);
    return Number(text.match(/^parley_limit_refusals_total\{limit="offline_queue"\} (\d+)$/m)[1]);
}

/** Sends n chat messages to `to` with ids prefix0, prefix1, …; returns the ids. */
function sendMany(c, to, n, prefix) {
    const ids = [];
    for (let i = 0; i < n; i++) {
        const id = `${prefix}${i}`;
        ids.push(id);
        c.send(xml("message", { to, type: "chat", id }, xml("body", {}, `${prefix} ${i}`)));
    }
    return ids;
}

function errorOf(el) {
    const e = el.getChild("error");
    const cond = e?.children.find((x) => typeof x !== "string" && x.getNS() === NS.stanzas);
    return { type: e?.attrs.type, condition: cond?.getName() };
}

test("past the bound the sender gets resource-constraint, for an offline user and for one that does not exist alike", SLOW, async () => {
    const before = await refusals();
    const sender = await online(srv, uniqueUser("snd"));
    const away = uniqueUser("away");
    // `away` has logged in once (an account the server knows); `ghost` never.
    const once = await online(srv, away);
    await stopAll(once);
    const ghost = uniqueUser("ghost");
    for (const [to, prefix] of [
        [bareJid(away), "a"],
        [bareJid(ghost), "g"],
    ]) {
        const ids = sendMany(sender, to, LIMIT + 2, prefix);
        for (const i of [LIMIT, LIMIT + 1]) {
            const el = await sender.next(
                (s) => s.is("message") && s.attrs.type === "error" && s.attrs.id === `${prefix}${i}`,
                `the error for ${prefix}${i}`,
            );
            assert.deepEqual(errorOf(el), { type: "wait", condition: "resource-constraint" });
        }
        // The ones before the bound were stored, and not refused.
        const rows = await sql(
            `SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id
             WHERE m.sender = :'s' AND d.recipient = :'r' AND d.state = 'stored'`,
            { s: sender.bare, r: to },
        );
        assert.equal(Number(rows[0][0]), LIMIT, `${LIMIT} wait for ${to}`);
        const stored = ids.slice(0, LIMIT);
        assert.ok(
            !sender.inbox.some((s) => s.attrs.type === "error" && stored.includes(s.attrs.id)),
            "no error for a stored message",
        );
    }
    assert.ok((await refusals()) >= before + 4);

    // The recipient comes back: exactly the stored ones arrive; then there
    // is room again and new messages are stored and delivered.
    const back = await online(srv, away);
    for (let i = 0; i < LIMIT; i++) {
        await back.next((s) => s.is("message") && s.attrs.id === `a${i}`, `a${i}`);
    }
    await waitForSql(
        `SELECT count(*) FROM deliveries WHERE recipient = :'r' AND state = 'stored'`,
        { r: bareJid(away) },
        (rows) => Number(rows[0][0]) === 0,
        "the backlog delivered",
    );
    await stopAll(back);
    sendMany(sender, bareJid(away), 1, "z");
    await waitForSql(
        `SELECT count(*) FROM messages WHERE sender = :'s' AND recipient = :'r' AND stanza_id = 'z0'`,
        { s: sender.bare, r: bareJid(away) },
        (rows) => Number(rows[0][0]) === 1,
        "a new message stored",
    );
    await stopAll(sender);
});

test("an online recipient is not bounded: more than the bound is delivered live", SLOW, async () => {
    const sender = await online(srv, uniqueUser("snd"));
    const here = await online(srv, uniqueUser("here"));
    sendMany(sender, here.bare, LIMIT * 3, "o");
    for (let i = 0; i < LIMIT * 3; i++) {
        await here.next((s) => s.is("message") && s.attrs.id === `o${i}`, `o${i}`);
    }
    assert.ok(!sender.inbox.some((s) => s.attrs.type === "error"), "no error");
    await stopAll(sender, here);
});

stopsCleanly(srv);
