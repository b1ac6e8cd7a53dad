// XEP-0352 client state indication: while a client says <inactive/>,
// presence and chat states for it are held, only the latest per contact,
// and flushed on <active/>; a message with a body goes out at once.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    SLOW,
    useServer,
    stopsCleanly,
    online,
    rawConnect,
    uniqueUser,
    bareJid,
    stopAll,
    xml,
} from "./lib/harness.mjs";
import { CSI, authenticate, smClient } from "./lib/sm.mjs";

const srv = useServer({ env: { PARLEY_TEAM_ROSTER: "1" } });
const CHATSTATES = "http://jabber.org/protocol/chatstates";

test("inactive: presence and chat states held (latest per contact), bodies at once; active flushes", SLOW, async () => {
    const bob = await smClient(srv, uniqueUser("bob"));
    const alice = await online(srv, uniqueUser("alice"));
    try {
        const fromAlice = (el) => el.attrs.from?.startsWith(alice.bare);
        await bob.nextStanza((el) => el.is("presence") && fromAlice(el), "alice's first presence");
        bob.send(`<inactive xmlns='${CSI}'/>`);
        // A round trip: the server has read <inactive/> before alice speaks.
        await bob.request();
        for (const show of ["away", "dnd", "xa"]) await alice.presence([xml("show", {}, show)]);
        await alice.send(xml("message", { type: "chat", to: bareJid(bob.username) },
            xml("composing", { xmlns: CHATSTATES })));
        await alice.send(xml("message", { type: "chat", to: bareJid(bob.username) },
            xml("paused", { xmlns: CHATSTATES })));
        await alice.send(xml("message", { type: "chat", to: bareJid(bob.username), id: "csi-1" },
            xml("body", {}, "right away")));
        const m = await bob.nextStanza((el) => el.getChildText("body") === "right away", "the body");
        assert.ok(m);
        await bob.request(); // and whatever else was sent has been read
        assert.equal(bob.stanzas.filter((el) => el.is("presence") && fromAlice(el)).length, 0,
            "no presence while inactive");
        assert.equal(bob.stanzas.filter((el) => el.getChild("composing", CHATSTATES) ||
            el.getChild("paused", CHATSTATES)).length, 0, "no chat state while inactive");

        bob.send(`<active xmlns='${CSI}'/>`);
        const p = await bob.nextStanza((el) => el.is("presence") && fromAlice(el), "the held presence");
        assert.equal(p.getChildText("show"), "xa", "only the latest presence");
        const cs = await bob.nextStanza((el) => el.is("message") && fromAlice(el), "the held chat state");
        assert.ok(cs.getChild("paused", CHATSTATES), "only the latest chat state: " + cs.toString());
        await bob.request();
        assert.equal(bob.stanzas.filter((el) => fromAlice(el)).length, 0, "nothing else held");
        // Active again: presence goes straight through.
        await alice.presence([xml("show", {}, "chat")]);
        const live = await bob.nextStanza((el) => el.is("presence") && fromAlice(el), "live presence");
        assert.equal(live.getChildText("show"), "chat");
    } finally {
        bob.drop();
        await stopAll(alice);
    }
});

test("CSI before bind is refused", SLOW, async () => {
    const u = uniqueUser("early");
    const conn = await rawConnect(srv, u);
    try {
        await authenticate(conn, u, srv.token(u));
        conn.send(`<inactive xmlns='${CSI}'/>`);
        await conn.expectStreamError("not-authorized");
    } finally {
        conn.terminate();
    }
});

stopsCleanly(srv);
