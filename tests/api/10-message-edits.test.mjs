// Admin API: a message's edits in GET /api/v1/messages/{id} (validated
// against api/openapi.yaml like every response): its revisions after
// XEP-0308 corrections, its XEP-0424 retraction or XEP-0425 moderation,
// the latest XEP-0444 reactions per user, an XEP-0461 reply's reference
// and the thread of replies, and for an edit message what it edited; the
// audit log's entry for a moderation.
import { test } from "node:test";
import assert from "node:assert/strict";

import { SLOW, useServer, stopsCleanly, uniqueUser, api, online, stopAll, sleep } from "./lib/api.mjs";
import { chat, correction, retraction, reaction, reply, moderate, archiveId, nextEdit, ENS } from "../e2e/lib/edits.mjs";
import { newRoom, joinFully, say, iq, stanzaId } from "../e2e/lib/rooms.mjs";

const srv = useServer();

async function until(check, what, ms = 5_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        const v = await check();
        if (v) return v;
        await sleep(50);
    }
    throw new Error(`${what}: not within ${ms} ms`);
}

const get = (id) => api(srv, "GET", `/api/v1/messages/${id}`);

test("a corrected, reacted-to, replied-to, then retracted message: its history in the message view", SLOW, async () => {
    const a = await online(srv, uniqueUser("alice"));
    const b = await online(srv, uniqueUser("bob"));
    try {
        await a.send(chat(b.bare, "draft one", "v-1"));
        await b.nextMessage("draft one");
        await a.send(correction(b.bare, "draft two", "v-fix", "v-1"));
        await b.nextMessage("draft two");
        await b.send(reaction(a.bare, "v-re", "v-1", ["👍", "👀"]));
        await nextEdit(a, "reactions", ENS.reactions, "v-1");
        await b.send(reply(a.bare, "looks good", "v-reply", "v-1", a.bare));
        await a.nextMessage("looks good");
        const id = Number(await archiveId(a.bare, "v-1"));
        const fix = Number(await archiveId(a.bare, "v-fix"));
        const rep = Number(await archiveId(b.bare, "v-reply"));

        const m = await until(async () => {
            const r = await get(id);
            return r.json.replies.length === 1 && r;
        }, "the reply in the thread");
        assert.equal(m.status, 200);
        assert.equal(m.json.body, "draft two");
        assert.deepEqual(
            m.json.revisions.map((r) => [r.revision, r.body, r.correction_id]),
            [[1, "draft one", fix]],
        );
        assert.equal(m.json.retraction, null);
        assert.deepEqual(
            m.json.reactions.map((r) => [r.from, r.reactions]),
            [[b.bare, ["👍", "👀"]]],
        );
        assert.deepEqual(m.json.replies, [rep]);
        assert.equal(m.json.reply_to, null);
        assert.equal(m.json.edit_of, null);

        const f = await get(fix);
        assert.deepEqual(f.json.edit_of, { kind: "correct", id });
        const r = await get(rep);
        assert.deepEqual(r.json.reply_to, { id, ref: "v-1", jid: a.bare });

        await a.send(retraction(b.bare, "v-ret", "v-1"));
        await nextEdit(b, "retract", ENS.retract, "v-1");
        const gone = await until(async () => {
            const x = await get(id);
            return x.json.retraction && x;
        }, "the retraction");
        assert.equal(gone.json.body, null);
        assert.equal(gone.json.retraction.by, a.bare);
        assert.equal(gone.json.retraction.moderated, false);
        assert.equal(gone.json.retraction.reason, null);
        assert.equal(gone.json.retraction.retraction_id, Number(await archiveId(a.bare, "v-ret")));
        assert.deepEqual(gone.json.revisions.map((x) => x.body), [null], "no text is kept of it");
    } finally {
        await stopAll(a, b);
    }
});

test("a moderated room message: moderated, by whom, why", SLOW, async () => {
    const owner = await online(srv, uniqueUser("owner"));
    const m = await online(srv, uniqueUser("member"));
    const room = newRoom();
    try {
        await joinFully(owner, room);
        await joinFully(m, room);
        const said = await say(m, room, "off topic", "mod-api-1");
        const id = Number(stanzaId(said).attrs.id);
        await iq(owner, moderate(room, "mod-api", String(id), "please keep on topic"));
        const x = await until(async () => {
            const r = await get(id);
            return r.json.retraction && r;
        }, "the moderation");
        assert.equal(x.json.kind, "groupchat");
        assert.equal(x.json.body, null);
        assert.equal(x.json.retraction.by, owner.bare);
        assert.equal(x.json.retraction.moderated, true);
        assert.equal(x.json.retraction.reason, "please keep on topic");
        const ann = await get(x.json.retraction.retraction_id);
        assert.deepEqual(ann.json.edit_of, { kind: "moderate", id });
        // the audit log shows the moderator's action
        const audit = await api(srv, "GET", "/api/v1/audit?limit=50");
        assert.equal(audit.status, 200);
        const entry = audit.json.items.find((e) => e.action === "room.message.moderate" && e.target === String(id));
        assert.ok(entry, JSON.stringify(audit.json.items.slice(0, 3)));
        assert.equal(entry.actor, owner.bare);
        assert.equal(entry.details.room, room);
        assert.equal(entry.details.sender, m.bare);
        assert.equal(entry.details.reason, "please keep on topic");
    } finally {
        await stopAll(owner, m);
    }
});

stopsCleanly(srv);
