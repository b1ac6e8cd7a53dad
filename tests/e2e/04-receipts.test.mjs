// XEP-0184 delivery receipts and the 'received' state.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    NS,
    xml,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    sql,
    waitForSql,
    sleep,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer();

const stateQuery =
    "SELECT d.state FROM deliveries d JOIN messages m ON m.id = d.message_id " +
    "WHERE m.sender = :'s' AND m.stanza_id = :'id' AND d.recipient = :'r'";

function request(to, body, id) {
    return xml(
        "message",
        { type: "chat", to, id },
        xml("body", {}, body),
        xml("request", { xmlns: NS.receipts }),
    );
}

function receipt(to, id) {
    return xml("message", { to, id: `r-${id}` }, xml("received", { xmlns: NS.receipts, id }));
}

test("a receipt request passes through and the receipt marks the message received", T, async () => {
    const ca = await online(srv, uniqueUser("alice"));
    const cb = await online(srv, uniqueUser("bob"));
    try {
        await ca.send(request(cb.bare, "please confirm", "rq1"));
        const m = await cb.nextMessage("please confirm");
        assert.ok(m.getChild("request", NS.receipts), `request lost: ${m.toString()}`);
        await waitForSql(
            stateQuery,
            { s: ca.bare, id: "rq1", r: cb.bare },
            (r) => r[0]?.[0] === "delivered",
            "state 'delivered'",
        );

        await cb.send(receipt(m.attrs.from, m.attrs.id));
        const r = await ca.next(
            (el) => el.is("message") && el.getChild("received", NS.receipts),
            "receipt",
        );
        assert.equal(r.getChild("received", NS.receipts).attrs.id, "rq1");
        assert.equal(r.attrs.from, cb.jid.toString(), "the receipt comes from bob's full JID");
        await waitForSql(
            stateQuery,
            { s: ca.bare, id: "rq1", r: cb.bare },
            (rows) => rows[0]?.[0] === "received",
            "state 'received'",
        );
        const at = await sql(
            "SELECT d.delivered_at IS NOT NULL, d.received_at IS NOT NULL FROM deliveries d " +
                "JOIN messages m ON m.id = d.message_id WHERE m.sender = :'s' AND m.stanza_id = 'rq1'",
            { s: ca.bare },
        );
        assert.deepEqual(at, [["t", "t"]], "delivered_at and received_at are set");
    } finally {
        await stopAll(ca, cb);
    }
});

test("a receipt from a third user changes nothing", T, async () => {
    const ca = await online(srv, uniqueUser("alice"));
    const cb = await online(srv, uniqueUser("bob"));
    const cc = await online(srv, uniqueUser("carol"));
    try {
        await ca.send(request(cb.bare, "for bob only", "rq2"));
        await cb.nextMessage("for bob only");
        await waitForSql(
            stateQuery,
            { s: ca.bare, id: "rq2", r: cb.bare },
            (r) => r[0]?.[0] === "delivered",
            "state 'delivered'",
        );
        await cc.send(receipt(ca.jid.toString(), "rq2"));
        await cc.sync();
        await sleep(500);
        const rows = await sql(stateQuery, { s: ca.bare, id: "rq2", r: cb.bare });
        assert.deepEqual(rows, [["delivered"]], "bob's state is unchanged");
        const carol = await sql(stateQuery, { s: ca.bare, id: "rq2", r: cc.bare });
        assert.deepEqual(carol, [], "no delivery row for carol");
    } finally {
        await stopAll(ca, cb, cc);
    }
});

test("a receipt for an unknown id changes nothing and does not break the stream", T, async () => {
    const ca = await online(srv, uniqueUser("alice"));
    const cb = await online(srv, uniqueUser("bob"));
    try {
        // A message of alice's that bob has, so that "nothing" is visible:
        // the stray receipt must not mark it received.
        await ca.send(request(cb.bare, "already here", "rq3a"));
        await cb.nextMessage("already here");
        await waitForSql(
            stateQuery,
            { s: ca.bare, id: "rq3a", r: cb.bare },
            (r) => r[0]?.[0] === "delivered",
            "state 'delivered'",
        );
        await cb.send(receipt(ca.jid.toString(), "no-such-id"));
        await cb.sync();
        await sleep(500);
        const rows = await sql(stateQuery, { s: ca.bare, id: "rq3a", r: cb.bare });
        assert.deepEqual(rows, [["delivered"]], "bob's other message is still only delivered");
        await ca.send(request(cb.bare, "still fine", "rq3"));
        await cb.nextMessage("still fine");
    } finally {
        await stopAll(ca, cb);
    }
});

test("a receipt for a message delivered offline marks it received", T, async () => {
    const bob = uniqueUser("bob");
    const ca = await online(srv, uniqueUser("alice"));
    let cb;
    try {
        await ca.send(request(`${bob}@localhost`, "while away", "rq4"));
        await waitForSql(
            stateQuery,
            { s: ca.bare, id: "rq4", r: `${bob}@localhost` },
            (r) => r[0]?.[0] === "stored",
            "state 'stored'",
        );
        cb = await online(srv, bob);
        const m = await cb.nextMessage("while away");
        assert.ok(m.getChild("request", NS.receipts), "the request is kept while stored");
        await cb.send(receipt(ca.bare, "rq4"));
        await waitForSql(
            stateQuery,
            { s: ca.bare, id: "rq4", r: cb.bare },
            (rows) => rows[0]?.[0] === "received",
            "state 'received'",
        );
    } finally {
        await stopAll(ca, cb);
    }
});

stopsCleanly(srv);
