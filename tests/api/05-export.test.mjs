// Admin API: export as NDJSON, CSV (RFC 4180) and XML, streamed; its audit
// entry; and the server's memory staying flat over a 200,000-message export.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";

import {
    T,
    useServer,
    stopsCleanly,
    uniqueUser,
    api,
    adminToken,
    assertProblem,
    sql,
} from "./lib/api.mjs";

// Under AddressSanitizer (scripts/test's build) freed memory sits in a
// quarantine of up to 256 MB before it is reused, which would show as growth
// however constant the export's own memory is: this server reuses it at once.
// (A build without ASan ignores the variable.)
const asan = [process.env.ASAN_OPTIONS, "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"]
    .filter(Boolean)
    .join(":");
const srv = useServer({ env: { ASAN_OPTIONS: asan } });

async function conversation(a, b, bodies) {
    await sql(
        `INSERT INTO messages (kind, sender, recipient, body, stanza, stanza_id)
         SELECT 'chat', CASE WHEN o % 2 = 1 THEN :'a' ELSE :'b' END, CASE WHEN o % 2 = 1 THEN :'b' ELSE :'a' END,
                t, '<message/>', 's' || o
         FROM unnest(string_to_array(:'bodies', chr(30))) WITH ORDINALITY AS x(t, o) ORDER BY o`,
        { a: `${a}@localhost`, b: `${b}@localhost`, bodies: bodies.join("\x1e") },
    );
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF records). */
function parseCsv(text) {
    const rows = [];
    let row = [];
    let field = "";
    let i = 0;
    let quoted = false;
    while (i < text.length) {
        const ch = text[i];
        if (quoted) {
            if (ch === '"' && text[i + 1] === '"') {
                field += '"';
                i += 2;
            } else if (ch === '"') {
                quoted = false;
                i++;
            } else {
                field += ch;
                i++;
            }
        } else if (ch === '"') {
            quoted = true;
            i++;
        } else if (ch === ",") {
            row.push(field);
            field = "";
            i++;
        } else if (ch === "\r" && text[i + 1] === "\n") {
            row.push(field);
            rows.push(row);
            row = [];
            field = "";
            i += 2;
        } else {
            assert.notEqual(ch, "\n", "a bare LF outside quotes is not RFC 4180");
            field += ch;
            i++;
        }
    }
    assert.equal(field, "", "the last record ends with CRLF");
    return rows;
}

const tricky = ["plain", 'with "quotes"', "with, comma", "two\r\nlines", "ünïcödé ✓", "<tag> & 'apos'"];

test("NDJSON: one object per line, oldest first, with a file name", T, async () => {
    const a = uniqueUser("ea");
    const b = uniqueUser("eb");
    await conversation(a, b, tricky);
    const res = await api(srv, "GET", `/api/v1/export?user=${a}&peer=${b}`);
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"], /^application\/x-ndjson/);
    assert.equal(res.headers["transfer-encoding"], "chunked");
    assert.match(res.headers["content-disposition"], new RegExp(`^attachment; filename="parley-${a}-${b}-\\d{8}T\\d{6}Z\\.ndjson"$`));
    const lines = res.text.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.body), tricky);
    assert.equal(lines[0].from, `${a}@localhost`);
    assert.equal(lines[1].from, `${b}@localhost`);
    assert.ok(lines.every((l, i) => i === 0 || l.id > lines[i - 1].id));
    assert.match(lines[0].created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
});

test("CSV: RFC 4180 with a header row; quotes, commas and line breaks survive", T, async () => {
    const a = uniqueUser("ca");
    const b = uniqueUser("cb");
    await conversation(a, b, tricky);
    const res = await api(srv, "GET", `/api/v1/export?user=${a}&format=csv`);
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"], /^text\/csv/);
    assert.match(res.headers["content-disposition"], /\.csv"$/);
    const rows = parseCsv(res.text);
    assert.deepEqual(rows[0], ["id", "kind", "from", "to", "room", "stanza_id", "created_at", "body"]);
    assert.deepEqual(rows.slice(1).map((r) => r[7]), tricky);
    assert.ok(rows.slice(1).every((r) => r.length === 8 && r[1] === "chat" && r[4] === ""));
});

test("XML: well-formed XEP-0227 server data with XEP-0313 results", T, async () => {
    const a = uniqueUser("xa");
    const b = uniqueUser("xb");
    await conversation(a, b, tricky);
    const res = await api(srv, "GET", `/api/v1/export?user=${a}&peer=${b}&format=xml`);
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"], /^application\/xml/);
    const { default: parse } = await import("@xmpp/xml/lib/parse.js");
    const doc = parse(res.text.replace(/^<\?xml[^>]*\?>\s*/, ""));
    assert.equal(doc.attrs.xmlns, "urn:xmpp:pie:0");
    const results = doc.getChild("host").getChild("archive").getChildren("result");
    assert.equal(results.length, tricky.length);
    const bodies = results.map((r) => r.getChild("forwarded").getChild("message").getChildText("body"));
    assert.deepEqual(bodies, tricky.map((t) => t.replace(/\r\n/g, "\r\n")));
    const m = results[0].getChild("forwarded").getChild("message");
    assert.equal(m.attrs.from, `${a}@localhost`);
    assert.equal(m.attrs.to, `${b}@localhost`);
    assert.ok(results[0].getChild("forwarded").getChild("delay").attrs.stamp);
});

test("since and until bound an export; its audit entry names actor, target and format", T, async () => {
    const a = uniqueUser("ta");
    const b = uniqueUser("tb");
    await conversation(a, b, ["old", "new"]);
    await sql(`UPDATE messages SET created_at = '2020-01-01Z' WHERE sender = :'a' AND body = 'old'`, { a: `${a}@localhost` });
    const res = await api(srv, "GET", `/api/v1/export?user=${a}&since=2021-01-01`, { token: adminToken(srv, "ops-anna") });
    const lines = res.text.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.body), ["new"]);
    const audit = await api(srv, "GET", "/api/v1/audit?limit=5");
    const e = audit.json.items.find((x) => x.action === "export" && x.target === `${a}@localhost`);
    assert.ok(e);
    assert.equal(e.actor, "ops-anna");
    assert.equal(e.details.format, "ndjson");
    assert.equal(e.details.since, "2021-01-01");
});

test("export needs user or room, and a known format", T, async () => {
    assertProblem(await api(srv, "GET", "/api/v1/export"), 400, "user");
    assertProblem(await api(srv, "GET", "/api/v1/export?user=a&format=pdf"), 400, "format");
    assertProblem(await api(srv, "GET", "/api/v1/export?peer=a"), 400, "peer");
    const room = await api(srv, "GET", "/api/v1/export?room=0b7e8d4e-0000-4000-8000-000000000000&format=csv");
    assert.equal(room.status, 200);
    assert.equal(room.text, "id,kind,from,to,room,stanza_id,created_at,body\r\n");
});

function rssKb(pid) {
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return Number(m[1]);
}

test("200,000 messages export in constant memory: the server's RSS stays flat", { timeout: 180_000 }, async () => {
    const a = uniqueUser("big");
    const b = uniqueUser("big");
    const N = 200_000;
    await sql(
        `INSERT INTO messages (kind, sender, recipient, body, stanza)
         SELECT 'chat', :'a', :'b', 'message number ' || g || ' ' || repeat('x', 100), '<message/>'
         FROM generate_series(1, ${N}) g`,
        { a: `${a}@localhost`, b: `${b}@localhost` },
    );
    const pid = srv.child.pid;
    const before = rssKb(pid);
    let peak = before;
    const res = await fetch(`http://127.0.0.1:${srv.apiPort}/api/v1/export?user=${a}&peer=${b}`, {
        headers: { Authorization: `Bearer ${adminToken(srv)}` },
    });
    assert.equal(res.status, 200);
    let lines = 0;
    let bytes = 0;
    let tail = "";
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    // Read slowly at first, so that a server that buffered the export would
    // hold all of it while the client lags.
    for (let chunks = 0; ; chunks++) {
        const { value, done } = await reader.read();
        if (done) break;
        bytes += value.length;
        const text = tail + decoder.decode(value, { stream: true });
        const parts = text.split("\n");
        tail = parts.pop();
        lines += parts.length;
        if (chunks % 50 === 0) peak = Math.max(peak, rssKb(pid));
        if (chunks < 20) await new Promise((r) => setTimeout(r, 20));
    }
    peak = Math.max(peak, rssKb(pid));
    assert.equal(lines, N);
    const grewMb = (peak - before) / 1024;
    const exportedMb = bytes / 1024 / 1024;
    console.log(`exported ${N} messages (${exportedMb.toFixed(1)} MB); RSS ${(before / 1024).toFixed(1)} MB -> peak ${(peak / 1024).toFixed(1)} MB`);
    // Flat: the growth is a small fraction of what was exported (a buffered
    // export would grow by all of it), and bounded.
    assert.ok(grewMb < 16 && grewMb < exportedMb / 4, `RSS grew by ${grewMb.toFixed(1)} MB over a ${exportedMb.toFixed(1)} MB export`);
});

stopsCleanly(srv);
