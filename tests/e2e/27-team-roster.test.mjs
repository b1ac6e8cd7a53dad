// PARLEY_TEAM_ROSTER: every user of the domain is in everyone's roster as
// `both`, in a group named after the domain, without any request, and
// presence flows between everyone online.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, DOMAIN, xml, useServer, stopsCleanly, connect, online, uniqueUser, stopAll, waitForSql } from "./lib/harness.mjs";
import { rosterGet, rosterItem, nextPresence } from "./lib/roster.mjs";

const srv = useServer({ env: { PARLEY_TEAM_ROSTER: "1" } });

test("everyone is in everyone's roster, both, in the domain's group", T, async () => {
    const [a, b, c] = [uniqueUser("ann"), uniqueUser("ben"), uniqueUser("cid")];
    // ben has logged in once and is offline: still listed
    const once = await connect(srv, b);
    await once.stop();
    const ann = await connect(srv, a);
    const cid = await connect(srv, c);
    try {
        // Users are provisioned by their first login's store job.
        await waitForSql("SELECT count(*) FROM users WHERE username = :'u'", { u: c }, (r) => r[0]?.[0] === "1", "cid provisioned");
        const r = await rosterGet(ann);
        for (const u of [b, c]) {
            const it = rosterItem(r, `${u}@${DOMAIN}`);
            assert.ok(it, `${u} in ann's roster`);
            assert.equal(it.subscription, "both");
            assert.deepEqual(it.groups, [DOMAIN]);
        }
        assert.equal(rosterItem(r, `${a}@${DOMAIN}`), undefined, "not oneself");
    } finally {
        await stopAll(ann, cid);
    }
});

test("presence reaches every online user without a subscription, and new sessions see who is online", T, async () => {
    const ann = await online(srv, uniqueUser("ann"));
    const ben = await online(srv, uniqueUser("ben"));
    let cid;
    try {
        await ann.presence([xml("status", {}, "team")]);
        await ben.next(
            (e) => e.is("presence") && e.attrs.from === ann.jid.toString() && e.getChildText("status") === "team",
            "ann's presence",
        );
        cid = await connect(srv, uniqueUser("cid"));
        await cid.presence();
        await nextPresence(cid, ann.jid.toString(), undefined);
        await nextPresence(cid, ben.jid.toString(), undefined);
        await nextPresence(ann, cid.jid.toString(), undefined);
        const jid = ben.jid.toString();
        await ben.stop();
        await nextPresence(ann, jid, "unavailable");
        await nextPresence(cid, jid, "unavailable");
    } finally {
        await stopAll(ann, ben, cid);
    }
});

stopsCleanly(srv);
