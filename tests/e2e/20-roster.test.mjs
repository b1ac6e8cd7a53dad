// Rosters (RFC 6121 section 2): get, set, remove, kept in PostgreSQL,
// pushed to the resources that fetched the roster, and XEP-0237 versions.
import { test } from "node:test";
import assert from "node:assert/strict";

import { T, useServer, stopsCleanly, connect, uniqueUser, bareJid, stopAll } from "./lib/harness.mjs";
import { rosterGet, rosterItem, rosterSet, rosterRemove, nextPush, ROSTER } from "./lib/roster.mjs";

const srv = useServer();

test("a new user's roster is empty and versioned", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const r = await rosterGet(c);
        assert.deepEqual(r.items, []);
        assert.equal(r.ver, "0");
    } finally {
        await c.stop();
    }
});

test("roster set adds an item with its name and groups, kept across logins", T, async () => {
    const alice = uniqueUser("alice");
    const bob = bareJid(uniqueUser("bob"));
    let c = await connect(srv, alice);
    try {
        await rosterGet(c);
        await rosterSet(c, bob, { name: "Bob B.", groups: ["Work", "Friends & family"] });
        let r = await rosterGet(c);
        assert.deepEqual(rosterItem(r, bob), {
            jid: bob,
            name: "Bob B.",
            subscription: "none",
            ask: undefined,
            approved: undefined,
            groups: ["Work", "Friends & family"],
        });
        await c.stop();
        c = await connect(srv, alice);
        r = await rosterGet(c);
        assert.equal(rosterItem(r, bob)?.name, "Bob B.", "the roster is in the database");
        // A second set replaces name and groups.
        await rosterSet(c, bob, { groups: ["Work"] });
        r = await rosterGet(c);
        assert.equal(rosterItem(r, bob).name, undefined);
        assert.deepEqual(rosterItem(r, bob).groups, ["Work"]);
    } finally {
        await c.stop();
    }
});

test("roster pushes reach every resource that fetched the roster, and only those", T, async () => {
    const alice = uniqueUser("alice");
    const bob = bareJid(uniqueUser("bob"));
    const a1 = await connect(srv, alice, { resource: "one" });
    const a2 = await connect(srv, alice, { resource: "two" });
    const a3 = await connect(srv, alice, { resource: "three" }); // never asks
    try {
        await rosterGet(a1);
        await rosterGet(a2);
        const p1 = nextPush(a1, bob);
        const p2 = nextPush(a2, bob);
        await rosterSet(a1, bob, { name: "Bob" });
        const [x, y] = await Promise.all([p1, p2]);
        assert.equal(x.item.name, "Bob");
        assert.equal(x.item.subscription, "none");
        assert.ok(x.ver, "a push carries the new version");
        assert.equal(x.ver, y.ver);
        assert.ok(!x.from || x.from === `${alice}@localhost`, "a push comes from the account");
        await a3.expectNone((e) => e.is("iq") && e.getChild("query", ROSTER), "push to a resource that never fetched", 400);

        const gone = nextPush(a2, bob);
        await rosterRemove(a1, bob);
        const rm = await gone;
        assert.equal(rm.item.subscription, "remove");
        assert.equal(rosterItem(await rosterGet(a1), bob), undefined);
    } finally {
        await stopAll(a1, a2, a3);
    }
});

test("XEP-0237: the current version gets an empty result, an older one the roster", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        const bob = bareJid(uniqueUser("bob"));
        const first = await rosterGet(c, "");
        assert.ok(first.ver !== undefined, "a versioned roster answers with a ver");
        const same = await rosterGet(c, first.ver);
        assert.ok(same.empty, "an unchanged roster is an empty result");
        const pushed = nextPush(c, bob);
        await rosterSet(c, bob);
        const push = await pushed;
        assert.notEqual(push.ver, first.ver, "the version moves with a change");
        const after = await rosterGet(c, first.ver);
        assert.equal(after.ver, push.ver);
        assert.ok(rosterItem(after, bob));
        assert.ok((await rosterGet(c, push.ver)).empty);
    } finally {
        await c.stop();
    }
});

test("removing an item that is not in the roster is item-not-found", T, async () => {
    const c = await connect(srv, uniqueUser("alice"));
    try {
        await assert.rejects(rosterRemove(c, bareJid(uniqueUser("nobody"))), (err) => {
            assert.equal(err.condition, "item-not-found");
            return true;
        });
        await c.sync();
    } finally {
        await c.stop();
    }
});

stopsCleanly(srv);
