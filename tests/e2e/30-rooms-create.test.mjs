// Rooms (XEP-0045): the room service's disco, creating a room by joining a
// new name (status 201, the creator its owner), the owner's configuration
// form (section 10.1-10.2), and rooms that survive a parleyd restart with
// their members and history.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
    T,
    SLOW,
    NS,
    xml,
    Server,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    sql,
    stopAll,
} from "./lib/harness.mjs";
import {
    MUC,
    RNS,
    newRoom,
    codes,
    item,
    join,
    joinFully,
    collect,
    say,
    iq,
    condition,
    submitForm,
} from "./lib/rooms.mjs";

const srv = useServer();

function features(res) {
    return res
        .getChild("query", NS.discoInfo)
        .getChildren("feature")
        .map((f) => f.attrs.var);
}

test("the room service answers disco#info as conference/text with the MUC features", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    try {
        const res = await a.iq(
            xml("iq", { type: "get", to: MUC }, xml("query", { xmlns: NS.discoInfo })),
        );
        const id = res.getChild("query", NS.discoInfo).getChild("identity");
        assert.equal(id.attrs.category, "conference");
        assert.equal(id.attrs.type, "text");
        for (const f of [RNS.muc, RNS.mam, RNS.occupantId, NS.discoInfo])
            assert.ok(features(res).includes(f), `feature ${f}`);
    } finally {
        await stopAll(a);
    }
});

test("joining a new name creates an instant room: 201, 110, the creator is its owner", T, async () => {
    const user = uniqueUser("alice");
    const a = await online(srv, user);
    const room = newRoom();
    try {
        const j = await joinFully(a, room);
        assert.deepEqual(j.others, [], "nobody else is in a new room");
        const c = codes(j.self);
        for (const code of [110, 201, 100]) assert.ok(c.includes(code), `status ${code} in ${c}`);
        assert.equal(j.self.attrs.from, `${room}/${user}`);
        assert.equal(item(j.self).attrs.affiliation, "owner");
        assert.equal(item(j.self).attrs.role, "moderator");
        assert.equal(j.subject.getChildText("subject"), "", "an empty subject ends the join");
        const rows = await sql(
            "SELECT r.localpart, a.username, a.affiliation FROM rooms r " +
                "JOIN room_affiliations a ON a.room_id = r.id WHERE r.jid = :'jid'",
            { jid: room },
        );
        assert.deepEqual(rows, [[room.split("@")[0], user, "owner"]]);

        // disco#info of the room itself
        const info = await a.iq(
            xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS.discoInfo })),
        );
        for (const f of [RNS.muc, "muc_persistent", "muc_open", RNS.mam, RNS.occupantId])
            assert.ok(features(info).includes(f), `room feature ${f}`);
    } finally {
        await stopAll(a);
    }
});

test("a room name that is not of the group-{uuid} form works too", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const room = `team-${uniqueUser("x").replace("_", "-")}@${MUC}`;
    try {
        const j = await joinFully(a, room);
        assert.ok(codes(j.self).includes(201));
        const r = await say(a, room, "hello team");
        assert.equal(r.attrs.from, `${room}/${a.username}`);
    } finally {
        await stopAll(a);
    }
});

function formField(form, name) {
    return form.getChildren("field").find((f) => f.attrs.var === name);
}

test("the owner gets the configuration form and submits it; occupants see 104", T, async () => {
    const owner = uniqueUser("alice");
    const a = await online(srv, owner);
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        const res = await a.iq(
            xml("iq", { type: "get", to: room }, xml("query", { xmlns: RNS.owner })),
        );
        const form = res.getChild("query", RNS.owner).getChild("x", RNS.data);
        assert.equal(form.attrs.type, "form");
        for (const f of [
            "muc#roomconfig_roomname",
            "muc#roomconfig_roomdesc",
            "muc#roomconfig_membersonly",
            "muc#roomconfig_publicroom",
            "muc#roomconfig_changesubject",
        ])
            assert.ok(formField(form, f), `field ${f}`);
        assert.equal(formField(form, "muc#roomconfig_membersonly").attrs.type, "boolean");

        const done = await a.iq(
            xml(
                "iq",
                { type: "set", to: room },
                xml(
                    "query",
                    { xmlns: RNS.owner },
                    submitForm(RNS.config, {
                        "muc#roomconfig_roomname": "Planning",
                        "muc#roomconfig_roomdesc": "Where we plan",
                        "muc#roomconfig_membersonly": "1",
                        "muc#roomconfig_publicroom": "0",
                        "muc#roomconfig_changesubject": "false",
                    }),
                ),
            ),
        );
        assert.equal(done.attrs.type, "result");
        const note = await b.next(
            (el) => el.is("message") && el.attrs.from === room && codes(el).includes(104),
            "status 104",
        );
        assert.ok(note);
        const rows = await sql(
            "SELECT name, description, members_only, public, change_subject FROM rooms WHERE jid = :'jid'",
            { jid: room },
        );
        assert.deepEqual(rows, [["Planning", "Where we plan", "t", "f", "f"]]);
        const info = await b.iq(
            xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS.discoInfo })),
        );
        assert.equal(info.getChild("query", NS.discoInfo).getChild("identity").attrs.name, "Planning");
        assert.ok(features(info).includes("muc_membersonly"));
        assert.ok(features(info).includes("muc_hidden"));

        // an instant-room submission (empty form) is accepted and changes nothing
        const instant = await a.iq(
            xml(
                "iq",
                { type: "set", to: room },
                xml("query", { xmlns: RNS.owner }, xml("x", { xmlns: RNS.data, type: "submit" })),
            ),
        );
        assert.equal(instant.attrs.type, "result");
        // with changesubject off, a participant may not set the subject
        await b.send(xml("message", { type: "groupchat", to: room, id: "s1" }, xml("subject", {}, "mine")));
        const refused = await b.next((el) => el.is("message") && el.attrs.type === "error", "subject refusal");
        assert.equal(condition(refused), "forbidden");
        // the owner (a moderator) may
        await a.send(xml("message", { type: "groupchat", to: room }, xml("subject", {}, "Q3 plans")));
        const subj = await b.next(
            (el) => el.is("message") && el.getChildText("subject") === "Q3 plans",
            "new subject",
        );
        assert.equal(subj.attrs.from, `${room}/${owner}`);
    } finally {
        await stopAll(a, b);
    }
});

test("only the owner may read or submit the configuration form (forbidden)", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    const room = newRoom();
    try {
        await joinFully(a, room);
        await joinFully(b, room);
        const get = await iq(b, xml("iq", { type: "get", to: room }, xml("query", { xmlns: RNS.owner })));
        assert.equal(condition(get), "forbidden");
        const set = await iq(
            b,
            xml(
                "iq",
                { type: "set", to: room },
                xml("query", { xmlns: RNS.owner }, submitForm(RNS.config, { "muc#roomconfig_roomname": "x" })),
            ),
        );
        assert.equal(condition(set), "forbidden");
        const rows = await sql("SELECT coalesce(name, '-') FROM rooms WHERE jid = :'jid'", {
            jid: room,
        });
        assert.deepEqual(rows, [["-"]], "nothing changed");
    } finally {
        await stopAll(a, b);
    }
});

test("disco#items lists public rooms to everyone and hidden ones to their members", T, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const stranger = await online(srv, uniqueUser("carol"));
    const open = newRoom();
    const hidden = newRoom();
    try {
        await joinFully(a, open);
        await joinFully(a, hidden);
        await a.iq(
            xml(
                "iq",
                { type: "set", to: hidden },
                xml(
                    "query",
                    { xmlns: RNS.owner },
                    submitForm(RNS.config, { "muc#roomconfig_publicroom": "0" }),
                ),
            ),
        );
        const list = async (c) =>
            (await c.iq(xml("iq", { type: "get", to: MUC }, xml("query", { xmlns: RNS.discoItems }))))
                .getChild("query", RNS.discoItems)
                .getChildren("item")
                .map((i) => i.attrs.jid);
        const mine = await list(a);
        assert.ok(mine.includes(open) && mine.includes(hidden), "a member sees both");
        const theirs = await list(stranger);
        assert.ok(theirs.includes(open), "a public room is listed for everyone");
        assert.ok(!theirs.includes(hidden), "a hidden room is not");
    } finally {
        await stopAll(a, stranger);
    }
});

test("a room, its members and its history survive a parleyd restart", SLOW, async () => {
    const first = new Server({ name: "parleyd-a" });
    await first.start();
    const second = new Server({ name: "parleyd-b" });
    second.secret = first.secret;
    const owner = uniqueUser("alice");
    const member = uniqueUser("bob");
    const room = newRoom();
    let a, b;
    try {
        a = await online(first, owner);
        b = await online(first, member);
        await joinFully(a, room);
        await a.iq(
            xml(
                "iq",
                { type: "set", to: room },
                xml(
                    "query",
                    { xmlns: RNS.owner },
                    submitForm(RNS.config, { "muc#roomconfig_roomname": "Kept" }),
                ),
            ),
        );
        await joinFully(b, room);
        await say(a, room, "before the restart 1");
        await say(a, room, "before the restart 2");
        await stopAll(a, b);
        await first.stop();

        await second.start();
        a = await online(second, owner);
        b = await online(second, member);
        const ja = await joinFully(a, room);
        assert.ok(!codes(ja.self).includes(201), "not created again");
        assert.equal(item(ja.self).attrs.affiliation, "owner");
        const jb = await joinFully(b, room, { history: { maxstanzas: 20 } });
        assert.equal(item(jb.self).attrs.affiliation, "member", "still a member");
        const info = await b.iq(
            xml("iq", { type: "get", to: room }, xml("query", { xmlns: NS.discoInfo })),
        );
        assert.equal(info.getChild("query", NS.discoInfo).getChild("identity").attrs.name, "Kept");
        // history of a room whose messages bob had all seen: nothing to catch up
        assert.deepEqual(jb.history.map((m) => m.getChildText("body")), []);
        // a second session of bob gets the recent history
        const b2 = await online(second, member, { resource: "second" });
        const j2 = await joinFully(b2, room);
        assert.deepEqual(
            j2.history.map((m) => m.getChildText("body")),
            ["before the restart 1", "before the restart 2"],
        );
        await stopAll(b2);
        await say(a, room, "after the restart");
        const [m] = await collect(b, room, 1);
        assert.equal(m.getChildText("body"), "after the restart");
    } finally {
        await stopAll(a, b);
        await first.stop().catch(() => {});
        if (second.child) await second.stop();
    }
});

test("with PARLEY_ROOM_CREATION=admins a join to a new name is not-allowed", T, async () => {
    const admins = new Server({ env: { PARLEY_ROOM_CREATION: "admins" } });
    await admins.start();
    let a;
    try {
        a = await online(admins, uniqueUser("alice"));
        const j = await join(a, newRoom());
        assert.ok(j.error, "refused");
        assert.equal(condition(j.error), "not-allowed");
        // a room that exists (made by someone else) may still be joined
        const existing = newRoom();
        await sql(
            "INSERT INTO rooms (jid, localpart) VALUES (:'jid', :'lp')",
            { jid: existing, lp: existing.split("@")[0] },
        );
        const ok = await joinFully(a, existing);
        assert.equal(item(ok.self).attrs.affiliation, "member");
    } finally {
        await stopAll(a);
        await admins.stop();
    }
});

stopsCleanly(srv);
