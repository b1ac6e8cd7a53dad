// What a client may not claim: a server's <delay/> (XEP-0203) or
// <stanza-id/> (XEP-0359). Both are removed before the message is stored,
// so neither the live copy nor the offline one carries the forgery.
import { test } from "node:test";
import assert from "node:assert/strict";

import { NS, xml, useServer, stopsCleanly, online, uniqueUser, bareJid, stopAll } from "./lib/harness.mjs";

const srv = useServer();

function forged(to, id) {
    return xml(
        "message",
        { type: "chat", to, id },
        xml("body", {}, "believe me"),
        xml("delay", { xmlns: NS.delay, from: "localhost", stamp: "2001-01-01T00:00:00Z" }),
        xml("delay", { xmlns: NS.delay, from: "conference.localhost", stamp: "2001-01-01T00:00:00Z" }),
        xml("delay", { xmlns: NS.delay, from: "example.org", stamp: "2003-03-03T00:00:00Z" }),
        xml("stanza-id", { xmlns: NS.sid, id: "forged", by: to }),
    );
}

function delays(m) {
    return m.getChildren("delay", NS.delay).map((d) => `${d.attrs.from}@${d.attrs.stamp}`);
}

test("a client's delay claiming this server is not delivered live", { timeout: 20_000 }, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await online(srv, uniqueUser("bob"));
    try {
        await alice.send(forged(bob.bare, "live-1"));
        const m = await bob.nextMessage("believe me");
        assert.deepEqual(delays(m), ["example.org@2003-03-03T00:00:00Z"], "only the other domain's delay");
        const sids = m.getChildren("stanza-id", NS.sid);
        assert.equal(sids.length, 1);
        assert.notEqual(sids[0].attrs.id, "forged");
    } finally {
        await stopAll(alice, bob);
    }
});

test("offline, the only delay from this server is the server's own", { timeout: 20_000 }, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bobName = uniqueUser("bob");
    let bob;
    try {
        await alice.send(forged(bareJid(bobName), "off-1"));
        await alice.sync();
        bob = await online(srv, bobName);
        const m = await bob.nextMessage("believe me", 10_000);
        const own = m.getChildren("delay", NS.delay).filter((d) => d.attrs.from === "localhost");
        assert.equal(own.length, 1, "one server delay");
        assert.notEqual(own[0].attrs.stamp, "2001-01-01T00:00:00Z", "and it is the server's time");
        assert.ok(delays(m).includes("example.org@2003-03-03T00:00:00Z"));
        assert.ok(!delays(m).some((d) => d.startsWith("conference.localhost")));
    } finally {
        await stopAll(alice, bob);
    }
});

stopsCleanly(srv);
