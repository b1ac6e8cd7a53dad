// When the server asks <r/> besides every PARLEY_SM_REQUEST_EVERY
// stanzas: after PARLEY_SM_REQUEST_SECS with something unacknowledged, and
// after half of PARLEY_IDLE_TIMEOUT of silence (before it would drop the
// connection). Here: every-N off, 1 s, an idle timeout of 4 s.
import { test } from "node:test";
import assert from "node:assert/strict";

import { SLOW, NS, useServer, stopsCleanly, online, uniqueUser, bareJid, stopAll, xml } from "./lib/harness.mjs";
import { SM, smClient } from "./lib/sm.mjs";

const srv = useServer({
    env: { PARLEY_SM_REQUEST_EVERY: "0", PARLEY_SM_REQUEST_SECS: "1", PARLEY_IDLE_TIMEOUT: "4" },
});

test("one unacknowledged stanza: <r/> after PARLEY_SM_REQUEST_SECS, not at once", SLOW, async () => {
    const alice = await online(srv, uniqueUser("alice"));
    const bob = await smClient(srv, uniqueUser("bob"));
    try {
        bob.ack(); // its presence
        await bob.request();
        const t0 = Date.now();
        await alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: "cad-1" },
            xml("body", {}, "one")));
        await bob.nextStanza((el) => el.getChildText("body") === "one", "the message");
        assert.equal(bob.sm.filter((el) => el.is("r", SM)).length, 0, "no <r/> with the stanza");
        await bob.nextSm((el) => el.is("r", SM), "<r/> for the unacknowledged stanza", 5_000);
        assert.ok(Date.now() - t0 >= 500, "asked by the clock, not by the count");
        bob.ack();
    } finally {
        bob.drop();
        await stopAll(alice);
    }
});

test("a silent session is asked <r/> before the idle drop, and answering keeps it", SLOW, async () => {
    const bob = await smClient(srv, uniqueUser("bob"), { presence: false });
    try {
        for (let i = 0; i < 2; i++) {
            await bob.nextSm((el) => el.is("r", SM), `<r/> ${i + 1} for a silent session`, 5_000);
            bob.ack();
        }
        bob.send(`<iq xmlns='jabber:client' type='get' id='alive' to='localhost'><ping xmlns='${NS.ping}'/></iq>`);
        const pong = await bob.nextStanza((el) => el.attrs.id === "alive", "the ping's answer");
        assert.equal(pong.attrs.type, "result", "still connected past the idle timeout");
    } finally {
        bob.drop();
    }
});

stopsCleanly(srv);
