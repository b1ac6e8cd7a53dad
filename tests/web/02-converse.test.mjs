// Converse.js, the web client people pair with a self-hosted XMPP server,
// in headless Chromium against a real parleyd: two users log in over the
// WebSocket (the JWT in the auth_token cookie of the upgrade and as the
// SASL PLAIN password, PROTOCOL.md "Authentication"); one shares a file
// through Converse's upload button (XEP-0363: disco, slot, a cross-origin
// PUT with its CORS preflight) and the other sees the link and can fetch
// it; one edits its last message (Converse's up-arrow correction, XEP-0308)
// and the other sees it corrected and marked as edited.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

import { ROOT, useServer, stopsCleanly, uniqueUser, bareJid, launch } from "./lib/web.mjs";

const dist = path.join(ROOT, "node_modules", "converse.js", "dist");
const uploads = fs.mkdtempSync(path.join(os.tmpdir(), "parley-converse-uploads-"));
const srv = useServer({ env: { PARLEY_UPLOAD_DIR: uploads } });
const WAIT = 20_000;

// A 1x1 PNG: an image, so the PUT is not a "simple" request and the browser
// sends a CORS preflight first.
const PNG = Buffer.from(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
        "1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d6a4e50000000049454e44ae426082",
    "hex",
);

const TYPES = { ".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".wasm": "application/wasm", ".svg": "image/svg+xml", ".png": "image/png", ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".mp3": "audio/mpeg", ".ogg": "audio/ogg" };

let browser;
let web;
let webUrl;

/** The page: Converse from the npm package's dist (an ES module that sets
 * window.converse), with a plugin that hands the test its _converse
 * object. */
function page(q) {
    return `<!doctype html><html><head><meta charset="utf-8"><title>parley converse</title>
<link rel="stylesheet" href="/dist/converse.min.css">
<script type="module" src="/dist/converse.min.js"></script></head><body class="converse-fullscreen">
<script type="module">
converse.plugins.add("parley-test", { initialize() { window.parley = this._converse; } });
converse.initialize({
    assets_path: "/dist/",
    websocket_url: ${JSON.stringify(q.ws)},
    discover_connection_methods: false,
    authentication: "login",
    auto_login: true,
    jid: ${JSON.stringify(q.jid)},
    password: ${JSON.stringify(q.token)},
    view_mode: "fullscreen",
    whitelisted_plugins: ["parley-test"],
    blacklisted_plugins: ["converse-omemo"],
    allow_non_roster_messaging: true,
    allow_message_corrections: "last",
    show_client_info: false,
    loglevel: "warn",
    play_sounds: false,
    show_desktop_notifications: false,
});
</script></body></html>`;
}

before(async () => {
    ({ browser } = await launch());
    web = http.createServer((req, res) => {
        const u = new URL(req.url, "http://x");
        if (u.pathname === "/") {
            const q = Object.fromEntries(u.searchParams);
            res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
            return res.end(page(q));
        }
        const rel = decodeURIComponent(u.pathname).replace(/^\/dist\//, "");
        const file = path.join(dist, rel);
        if (!u.pathname.startsWith("/dist/") || !file.startsWith(dist + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
            res.writeHead(404);
            return res.end();
        }
        res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
        fs.createReadStream(file).pipe(res);
    });
    await new Promise((resolve) => web.listen(0, "127.0.0.1", resolve));
    webUrl = `http://127.0.0.1:${web.address().port}`;
}, { timeout: 30_000 });

after(async () => {
    await browser?.close();
    web?.close();
});

/** A browser context logged in to Converse as username. */
async function converseAs(username) {
    const token = srv.token(username);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // Cookies do not tell ports apart: the page's cookie for 127.0.0.1 is
    // sent with the WebSocket upgrade to parleyd's port.
    await context.addCookies([{ name: "auth_token", value: token, domain: "127.0.0.1", path: "/" }]);
    const p = await context.newPage();
    p.problems = [];
    p.on("pageerror", (e) => p.problems.push(String(e)));
    const q = new URLSearchParams({ ws: srv.url, jid: bareJid(username), token });
    await p.goto(`${webUrl}/?${q}`);
    await p.waitForFunction(() => window.parley?.api?.connection?.connected?.() && window.parley.session?.get("jid"), null, { timeout: WAIT });
    return { page: p, context, username };
}

async function openChat(who, withUser) {
    await who.page.evaluate((jid) => window.parley.api.chats.open(jid, {}, true), bareJid(withUser));
    await who.page.waitForSelector(`converse-chat[jid="${bareJid(withUser)}"] .chat-textarea`, { timeout: WAIT });
}

async function say(who, withUser, text) {
    const box = who.page.locator(`converse-chat[jid="${bareJid(withUser)}"] .chat-textarea`);
    await box.click();
    await box.fill(text);
    await box.press("Enter");
}

test("a file shared from Converse reaches the other user as a link that serves the file", { timeout: 60_000 }, async () => {
    const alice = uniqueUser("alice");
    const bob = uniqueUser("bob");
    const a = await converseAs(alice);
    const b = await converseAs(bob);
    try {
        await openChat(a, bob);
        await openChat(b, alice);
        // Converse shows the upload button once disco says the server has
        // the service.
        const input = a.page.locator(`converse-chat[jid="${bareJid(bob)}"] input.fileupload`);
        await input.waitFor({ state: "attached", timeout: WAIT });
        await input.setInputFiles({ name: "dot.png", mimeType: "image/png", buffer: PNG });

        const link = b.page.locator(`converse-chat[jid="${bareJid(alice)}"] :is(a[href*="/upload/"], img[src*="/upload/"])`).first();
        await link.waitFor({ state: "attached", timeout: WAIT });
        const url = (await link.getAttribute("href")) ?? (await link.getAttribute("src"));
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/upload\/[0-9a-f]{32}\/dot\.png$/);
        const got = await fetch(url);
        assert.equal(got.status, 200);
        assert.equal(got.headers.get("content-type"), "image/png");
        assert.deepEqual(Buffer.from(await got.arrayBuffer()), PNG);
        assert.deepEqual(a.page.problems, []);
        assert.deepEqual(b.page.problems, []);
    } finally {
        await a.context.close();
        await b.context.close();
    }
});

test("a correction made in Converse shows corrected and as edited to the other user", { timeout: 60_000 }, async () => {
    const carol = uniqueUser("carol");
    const dave = uniqueUser("dave");
    const c = await converseAs(carol);
    const d = await converseAs(dave);
    try {
        await openChat(c, dave);
        await openChat(d, carol);
        await say(c, dave, "see you at teh meeting");
        const inDave = d.page.locator(`converse-chat[jid="${bareJid(carol)}"] .chat-msg__text`);
        await inDave.filter({ hasText: "see you at teh meeting" }).waitFor({ timeout: WAIT });

        // Converse's edit: the up arrow in an empty box takes the last
        // message back into it; Enter sends the correction.
        const box = c.page.locator(`converse-chat[jid="${bareJid(dave)}"] .chat-textarea`);
        await box.click();
        await box.press("ArrowUp");
        await c.page.waitForFunction(
            (jid) => document.querySelector(`converse-chat[jid="${jid}"] .chat-textarea`)?.value === "see you at teh meeting",
            bareJid(dave),
            { timeout: WAIT },
        );
        await box.fill("see you at the meeting");
        await box.press("Enter");

        await inDave.filter({ hasText: "see you at the meeting" }).waitFor({ timeout: WAIT });
        const edited = d.page.locator(`converse-chat[jid="${bareJid(carol)}"] .chat-msg__edit-modal`);
        await edited.first().waitFor({ state: "attached", timeout: WAIT });
        assert.equal(await inDave.filter({ hasText: "teh" }).count(), 0, "the old text was replaced, not added");
        assert.deepEqual(c.page.problems, []);
        assert.deepEqual(d.page.problems, []);
    } finally {
        await c.context.close();
        await d.context.close();
    }
});

stopsCleanly(srv);
