// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// PostgreSQL out of disk space. The tables a message's store writes
// (messages, deliveries, deliveries_unsettled, direct_read_positions, and
// their indexes) live in a tablespace on a small tmpfs, in a database of
// this test's own (so no other test's data moves, and its tables start
// empty: the first insert must take a new page, so no message slips into
// a page that had room); a filler file then takes the tmpfs's last byte.
// Messages sent with receipt requests over a stream with XEP-0198 are not
// acknowledged (no <a/>, no receipt, no error: the store keeps retrying,
// with back-off), nothing is stored or delivered, the log shows the error
// and /readyz says not ready. Once the filler is gone, each message is
// stored once and delivered once, in order, its receipt comes back, <a/>
// counts them and /readyz is ready again.
//
// Needs root (mount); skipped otherwise, or when the tmpfs cannot be mounted.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { NS, Server, online, uniqueUser, bareJid, runParleyd, sql, sleep, stopAll, xml } from "./lib/harness.mjs";
import { admin, databaseUrl, readyz, sqlIn, until } from "./lib/faults.mjs";
import { smClient, SM } from "./lib/sm.mjs";

const N = 5;
const TABLES = ["messages", "deliveries", "deliveries_unsettled", "direct_read_positions"];
const tag = crypto.randomBytes(4).toString("hex");
const dbName = `parley_e2e_disk_${tag}`;
const space = `parley_disk_${tag}`;

// A 16 MiB tmpfs owned by the OS user that runs the cluster (the owner of
// its data directory); `skip` says why not when it cannot be mounted.
let skip = false;
let mnt = null;
if (process.getuid?.() !== 0) {
    skip = "needs root, to mount a small tmpfs";
} else {
    const dataDir = (await sql("SHOW data_directory"))[0][0];
    const owner = fs.statSync(dataDir);
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), "parley-disk-"));
    try {
        execFileSync("mount", ["-t", "tmpfs", "-o", `size=16m,mode=0755,uid=${owner.uid},gid=${owner.gid}`,
            "tmpfs", mnt], { stdio: "pipe" });
        fs.mkdirSync(path.join(mnt, "ts"));
        fs.chownSync(path.join(mnt, "ts"), owner.uid, owner.gid);
    } catch (err) {
        skip = `cannot mount a tmpfs: ${String(err.stderr || err.message).trim()}`;
        fs.rmdirSync(mnt);
        mnt = null;
    }
}
const filler = mnt && path.join(mnt, "filler");

const srv = new Server({ name: "disk", env: { DATABASE_URL: databaseUrl(dbName) } });

after(async () => {
    if (mnt) fs.rmSync(filler, { force: true });
    try {
        await srv.stop().catch(() => {}); // the named test below checks its stop
    } finally {
        if (mnt) {
            await admin(`DROP DATABASE IF EXISTS :"name" WITH (FORCE)`, { name: dbName }).catch((e) => console.log(e.message));
            await admin(`DROP TABLESPACE IF EXISTS :"space"`, { space }).catch((e) => console.log(e.message));
            try {
                execFileSync("umount", [mnt], { stdio: "pipe" });
            } catch {
                execFileSync("umount", ["-l", mnt], { stdio: "pipe" });
            }
            fs.rmdirSync(mnt);
        }
    }
}, { timeout: 30_000 });

/** Writes the filler until the tmpfs refuses a byte more; its size. */
function fill() {
    const fd = fs.openSync(filler, "w");
    let size = 0;
    try {
        for (let chunk = 1 << 20; ;) {
            try {
                size += fs.writeSync(fd, Buffer.alloc(chunk));
            } catch (err) {
                if (err.code !== "ENOSPC") throw err;
                if (chunk === 4096) break;
                chunk = 4096;
            }
        }
    } finally {
        fs.closeSync(fd);
    }
    return size;
}

/** A database of its own, migrated, its message tables on the tmpfs. */
async function setUp() {
    await admin(`CREATE DATABASE :"name"`, { name: dbName });
    const r = await runParleyd(["migrate"], {
        DATABASE_URL: databaseUrl(dbName),
        PARLEY_JWT_SECRET: crypto.randomBytes(32).toString("hex"),
    });
    assert.equal(r.code, 0, `migrate: ${r.out}`);
    await admin(`CREATE TABLESPACE :"space" LOCATION :'loc'`, { space, loc: path.join(mnt, "ts") });
    await sqlIn(dbName, `SELECT set_config('parley.space', :'space', false);
        DO $$ DECLARE r record; BEGIN
            FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c
                     WHERE c.oid = ANY (ARRAY[${TABLES.map((t) => `'${t}'::regclass`).join(", ")}])
                        OR c.oid IN (SELECT indexrelid FROM pg_index
                                     WHERE indrelid = ANY (ARRAY[${TABLES.map((t) => `'${t}'::regclass`).join(", ")}]))
            LOOP
                EXECUTE format('ALTER %s %s SET TABLESPACE %I',
                               CASE WHEN r.relkind = 'i' THEN 'INDEX' ELSE 'TABLE' END, r.rel,
                               current_setting('parley.space'));
            END LOOP;
        END $$;`, { space });
    const moved = await sqlIn(dbName, `SELECT count(*) FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace
        WHERE t.spcname = :'space' AND c.relkind IN ('r', 'i')`, { space });
    return Number(moved[0][0]);
}

function chat(to, id) {
    return `<message xmlns='jabber:client' type='chat' to='${to}' id='${id}'><body>${id}</body>` +
        `<request xmlns='${NS.receipts}'/></message>`;
}

test("out of disk: nothing acknowledged, the log and /readyz say so; every message stored and delivered once after it clears", { skip, timeout: 60_000 }, async () => {
    const moved = await setUp();
    assert.ok(moved >= TABLES.length * 2, `the tables and their indexes are on the tmpfs (${moved})`);
    await srv.start();
    const alice = await smClient(srv, uniqueUser("disk"));
    const bob = await online(srv, uniqueUser("diskr"));
    const got = [];
    bob.xmpp.on("stanza", (el) => {
        if (!el.is("message") || !el.getChild("body")) return;
        got.push(el.getChildText("body"));
        if (el.getChild("request", NS.receipts)) {
            bob.send(xml("message", { to: el.attrs.from, id: `r-${el.attrs.id}` },
                xml("received", { xmlns: NS.receipts, id: el.attrs.id }))).catch(() => {});
        }
    });
    const h0 = await alice.request();
    assert.equal((await readyz(srv)).status, 200);
    const ids = Array.from({ length: N }, (_, i) => `d${i}`);
    try {
        const size = fill();
        console.log(`filler: ${size} bytes; the tmpfs is full`);
        for (const id of ids) alice.send(chat(bareJid(bob.username), id));
        alice.send(`<r xmlns='${SM}'/>`);
        const ready = await until("/readyz says not ready", async () => {
            const r = await readyz(srv);
            return r.status === 503 && r;
        });
        assert.match(ready.text, /refuses the store's writes/);
        await until("the log says why", () => /No space left on device/.test(srv.output));
        // Nothing acknowledged for a while: no <a/>, no receipt, no error.
        await assert.rejects(alice.nextSm((el) => el.is("a", SM), "<a/>", 3_000), /no <a\/>/);
        assert.deepEqual(alice.stanzas.filter((el) => el.is("message")).map((el) => el.toString()), [],
            "no receipt and no error while the disk is full");
        assert.deepEqual(got, [], "nothing delivered while the disk is full");
        const stored = await sqlIn(dbName, "SELECT count(*) FROM messages");
        assert.equal(stored[0][0], "0", "nothing stored while the disk is full");
        assert.equal((await readyz(srv)).status, 503, "still not ready");
    } finally {
        fs.rmSync(filler, { force: true });
    }
    // The store's next try commits: <a/> counts every message, in one answer.
    const a = await alice.nextSm((el) => el.is("a", SM), "<a/> after the disk cleared", 20_000);
    assert.equal(Number(a.attrs.h), h0 + N, "<a/> counts every message");
    const receipts = new Set();
    while (receipts.size < N) {
        const el = await alice.nextStanza((m) => m.is("message"), "a receipt", 10_000);
        const rec = el.getChild("received", NS.receipts);
        assert.ok(rec, `a receipt, not ${el.toString()}`);
        assert.ok(!receipts.has(rec.attrs.id), `one receipt for ${rec.attrs.id}`);
        receipts.add(rec.attrs.id);
    }
    assert.deepEqual([...receipts].sort(), ids);
    await sleep(500); // a duplicate would come by now
    assert.deepEqual(got, ids, "each message delivered once, in order");
    const rows = await sqlIn(dbName, "SELECT count(*), count(DISTINCT stanza_id) FROM messages WHERE sender = :'s'",
        { s: bareJid(alice.username) });
    assert.deepEqual(rows[0].map(Number), [N, N], "each stored once");
    await until("/readyz ready again", async () => (await readyz(srv)).status === 200);
    alice.ack();
    alice.send(`<close xmlns='${NS.framing}'/>`);
    await alice.conn.closed;
    await stopAll(bob);
});

test("77-faults-out-of-disk.test.mjs: parleyd stops on SIGTERM: exit 0, no sanitizer report", { skip, timeout: 30_000 }, () => srv.stop());
