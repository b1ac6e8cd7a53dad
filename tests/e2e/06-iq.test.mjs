// Server iqs (disco#info, ping, service-unavailable) and presence tracking.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    NS,
    DOMAIN,
    xml,
    useServer,
    stopsCleanly,
    connect,
    uniqueUser,
    sql,
    waitForSql,
} from "./lib/harness.mjs";

const srv = useServer();

test("disco#info on the server: identity server/im and the features", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const res = await c.iq(
            xml("iq", { type: "get", to: DOMAIN }, xml("query", { xmlns: NS.discoInfo })),
        );
        const q = res.getChild("query", NS.discoInfo);
        assert.ok(q, `no disco#info query in ${res.toString()}`);
        const ids = q.getChildren("identity").map((i) => `${i.attrs.category}/${i.attrs.type}`);
        assert.ok(ids.includes("server/im"), `identities: ${ids.join(", ")}`);
        const features = q.getChildren("feature").map((f) => f.attrs.var);
        for (const f of [NS.discoInfo, NS.ping, NS.receipts, NS.sid]) {
            assert.ok(features.includes(f), `feature ${f} missing from: ${features.join(", ")}`);
        }
    } finally {
        await c.stop();
    }
});

test("XEP-0199 ping to the server is answered with a result", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const res = await c.iq(xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: NS.ping })));
        assert.equal(res.attrs.type, "result");
        assert.equal(res.attrs.from ?? DOMAIN, DOMAIN);
    } finally {
        await c.stop();
    }
});

test("an iq without 'to' is handled by the server (ping)", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const res = await c.iq(xml("iq", { type: "get" }, xml("ping", { xmlns: NS.ping })));
        assert.equal(res.attrs.type, "result");
    } finally {
        await c.stop();
    }
});

for (const [what, to] of [
    ["the server", () => DOMAIN],
    ["the user's own bare JID", (c) => c.bare],
]) {
    test(`an iq with an unknown namespace to ${what} gets service-unavailable`, T, async () => {
        const c = await connect(srv, uniqueUser("alice"));
        const child = xml("query", { xmlns: "urn:example:nothing-here" });
        try {
            await assert.rejects(c.iq(xml("iq", { type: "get", to: to(c) }, child)), (err) => {
                assert.equal(err.condition, "service-unavailable", `error: ${err.message}`);
                assert.equal(err.type, "cancel", "error type");
                return true;
            });
        } finally {
            await c.stop();
        }
    });
}

test("an iq set with an unknown payload gets service-unavailable", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        await assert.rejects(
            c.iq(xml("iq", { type: "set", to: DOMAIN }, xml("thing", { xmlns: "urn:example:x" }))),
            (err) => {
                assert.equal(err.condition, "service-unavailable", `error: ${err.message}`);
                return true;
            },
        );
    } finally {
        await c.stop();
    }
});

test("the legacy session iq is answered with a result", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const res = await c.iq(
            xml(
                "iq",
                { type: "set", to: DOMAIN },
                xml("session", { xmlns: "urn:ietf:params:xml:ns:xmpp-session" }),
            ),
        );
        assert.equal(res.attrs.type, "result");
    } finally {
        await c.stop();
    }
});

const sessionQuery =
    "SELECT full_jid, username, resource, available, coalesce(show, ''), coalesce(status, ''), " +
    "coalesce(address, '') FROM sessions WHERE username = :'u'";

test("presence is tracked in sessions: initial, show/status, unavailable", T, async () => {
    const alice = uniqueUser("alice");
    const c = await connect(srv, alice, { resource: "desk" });
    const full = `${alice}@${DOMAIN}/desk`;
    try {
        await c.sync();
        await waitForSql(
            sessionQuery,
            { u: alice },
            (rows) =>
                rows.length === 1 &&
                rows[0].join("|") === [full, alice, "desk", "f", "", "", "127.0.0.1"].join("|"),
            "a bound session has a row, not available yet, with the client's address",
        );
        await c.presence([xml("show", {}, "away"), xml("status", {}, "Be right back")]);
        await c.sync();
        await waitForSql(
            sessionQuery,
            { u: alice },
            (rows) =>
                rows.length === 1 &&
                rows[0].slice(0, 6).join("|") ===
                    [full, alice, "desk", "t", "away", "Be right back"].join("|"),
            "sessions row available/away/'Be right back'",
        );

        await c.presence();
        await waitForSql(
            sessionQuery,
            { u: alice },
            (rows) => rows.length === 1 && rows[0][3] === "t" && rows[0][4] === "" && rows[0][5] === "",
            "sessions row available with no show/status",
        );

        await c.presence([], { type: "unavailable" });
        await waitForSql(
            sessionQuery,
            { u: alice },
            (rows) => rows.length === 1 && rows[0][3] === "f" && rows[0][4] === "",
            "the still-connected session's row says unavailable",
        );
    } finally {
        await c.stop();
    }
});

test("closing the connection removes the session row", T, async () => {
    const alice = uniqueUser("alice");
    const c = await connect(srv, alice, { resource: "tab" });
    await c.presence();
    await c.sync();
    await waitForSql(sessionQuery, { u: alice }, (rows) => rows.length === 1, "sessions row");
    await c.stop();
    await waitForSql(
        sessionQuery,
        { u: alice },
        (rows) => rows.length === 0,
        "sessions row gone after disconnect",
    );
});

stopsCleanly(srv);
