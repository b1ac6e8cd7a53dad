// Several sessions of one user: resource conflicts, priorities for bare-JID
// routing (RFC 6121 section 8.5.2), and disabling a user with live sessions.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    NS,
    xml,
    useServer,
    stopsCleanly,
    connect,
    online,
    uniqueUser,
    bareJid,
    sql,
    sleep,
    upgrade,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer();

function chat(to, body, id) {
    return xml("message", { type: "chat", to, id }, xml("body", {}, body));
}

function streamErrorOf(c, ms = 5_000) {
    // @xmpp/client reports a <stream:error/> as an error with a condition.
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no stream error")), ms);
        const check = () => {
            const err = c.errors.find((e) => e.condition);
            if (err) {
                clearTimeout(timer);
                resolve(err.condition);
                return true;
            }
            return false;
        };
        if (check()) return;
        c.xmpp.on("error", () => check());
    });
}

test("binding a resource already in use replaces the old session with a conflict", T, async () => {
    const alice = uniqueUser("alice");
    const old = await online(srv, alice, { resource: "phone" });
    let fresh;
    try {
        const kicked = streamErrorOf(old);
        fresh = await online(srv, alice, { resource: "phone" });
        assert.equal(await kicked, "conflict", "the old session gets <conflict/>");
        assert.equal(fresh.jid.toString(), `${bareJid(alice)}/phone`);
        const bob = await online(srv, uniqueUser("bob"));
        try {
            await bob.send(chat(`${bareJid(alice)}/phone`, "to the new one", "c1"));
            await fresh.nextMessage("to the new one");
        } finally {
            await bob.stop();
        }
    } finally {
        await stopAll(old, fresh);
    }
});

test("a bare-JID message goes to the highest-priority available resources only", T, async () => {
    const alice = uniqueUser("alice");
    const high = await connect(srv, alice, { resource: "high" });
    const low = await connect(srv, alice, { resource: "low" });
    const neg = await connect(srv, alice, { resource: "neg" });
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await high.presence([xml("priority", {}, "5")]);
        await low.presence([xml("priority", {}, "1")]);
        await neg.presence([xml("priority", {}, "-1")]);
        await Promise.all([high.sync(), low.sync(), neg.sync()]);
        await bob.send(chat(bareJid(alice), "to the best", "p1"));
        await high.nextMessage("to the best");
        await low.expectNone((el) => el.is("message"), "message at the lower priority", 500);
        await neg.expectNone((el) => el.is("message"), "message at a negative priority", 10);

        // A full JID reaches that resource whatever its priority.
        await bob.send(chat(neg.jid.toString(), "to you directly", "p2"));
        await neg.nextMessage("to you directly");
    } finally {
        await stopAll(high, low, neg, bob);
    }
});

test("a message to a resource that is gone falls back to the bare JID", T, async () => {
    const alice = uniqueUser("alice");
    const ca = await online(srv, alice, { resource: "desk" });
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await bob.send(chat(`${bareJid(alice)}/gone`, "find me", "g1"));
        const m = await ca.nextMessage("find me");
        assert.equal(m.attrs.from, bob.jid.toString());
    } finally {
        await stopAll(ca, bob);
    }
});

test("disabling a user closes their live sessions and refuses new ones", SLOW, async () => {
    const alice = uniqueUser("alice");
    const c = await online(srv, alice);
    try {
        const closed = streamErrorOf(c, 8_000);
        await sql("UPDATE users SET disabled = true WHERE username = :'u'", { u: alice });
        assert.equal(await closed, "not-authorized", "the live session is closed");
        const r = await upgrade(srv, { token: srv.token(alice) });
        if (r.conn) r.conn.terminate();
        assert.equal(r.status, 401, "a new upgrade is refused");

        await sql("UPDATE users SET disabled = false WHERE username = :'u'", { u: alice });
        let again;
        for (let i = 0; i < 30 && !again; i++) {
            again = await connect(srv, alice).catch(() => null);
            if (!again) await sleep(100);
        }
        assert.ok(again, "an enabled user can log in again");
        await again.stop();
    } finally {
        await c.stop();
    }
});

stopsCleanly(srv);
