// The web admin in a real browser against a real parleyd with seeded data:
// the files and their headers, sign-in and sign-out, every page showing the
// API's data, the live chart, disabling a user from the UI closing their
// @xmpp/client session, a message's delivery timeline after a receipt, an
// export's rows, and axe-core's accessibility check.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";

import {
    T,
    SLOW,
    NS,
    xml,
    useServer,
    stopsCleanly,
    uniqueUser,
    api,
    adminToken,
    insertUsers,
    online,
    stopAll,
    sql,
    sleep,
    rawGet,
    launch,
    newPage,
    base,
    signIn,
    screenshot,
} from "./lib/web.mjs";

const require = createRequire(import.meta.url);
const srv = useServer();
let chrome;

// Seeded once: two users with a conversation of 300 messages, and a few more
// users for the list.
const alice = uniqueUser("wa");
const bob = uniqueUser("wb");
const N = 300;

async function until(check, what, ms = 8_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        const v = await check();
        if (v) return v;
        await sleep(100);
    }
    throw new Error(`${what}: not within ${ms} ms`);
}

before(async () => {
    chrome = await launch();
    await insertUsers([alice, bob, ...Array.from({ length: 12 }, (_, i) => `${alice}x${i}`)]);
    const bodies = Array.from({ length: N }, (_, i) => `seed ${i}`);
    await sql(
        `INSERT INTO messages (kind, sender, recipient, body, stanza)
         SELECT 'chat', CASE WHEN g % 2 = 0 THEN :'a' ELSE :'b' END,
                CASE WHEN g % 2 = 0 THEN :'b' ELSE :'a' END, (string_to_array(:'bodies', chr(31)))[g + 1], '<message/>'
         FROM generate_series(0, ${N - 1}) g ORDER BY g`,
        { a: `${alice}@localhost`, b: `${bob}@localhost`, bodies: bodies.join("\x1f") },
    );
}, { timeout: 60_000 });

after(async () => {
    await chrome?.close();
});

test("the files: content types, caching, a CSP without inline scripts, nothing outside the folder", T, async () => {
    await api(srv, "GET", "/healthz", { token: null }); // waits for the listener
    const index = await fetch(`${base(srv)}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get("content-type"), /^text\/html; charset=utf-8/);
    const csp = index.headers.get("content-security-policy");
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(index.headers.get("cache-control"), "no-cache");
    const html = await index.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script element");
    const etag = index.headers.get("etag");
    assert.ok(etag);
    const again = await fetch(`${base(srv)}/`, { headers: { "If-None-Match": etag } });
    assert.equal(again.status, 304);
    const js = await fetch(`${base(srv)}/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type"), /^text\/javascript/);
    const css = await fetch(`${base(srv)}/style.css`);
    assert.match(css.headers.get("content-type"), /^text\/css/);
    const chart = await fetch(`${base(srv)}/vendor/uplot/uPlot.esm.js`);
    assert.equal(chart.status, 200, "uPlot from node_modules");
    assert.match(chart.headers.get("content-type"), /^text\/javascript/);
    // Outside the folder, in every spelling: refused by the path rules (400)
    // or not found (404); never the file.
    for (const target of [
        "/../package.json",
        "/%2e%2e/package.json",
        "/pages/..%2f..%2fpackage.json",
        "/vendor/uplot/../../../package.json",
        "/vendor/uplot/%2e%2e/package.json",
        "/vendor/ws/package.json",
        "/.gitignore",
        "/pages",
        "/README.md",
        "/..%5c..%5cpackage.json",
    ]) {
        const r = await rawGet(srv, target);
        assert.ok(r.status === 400 || r.status === 404, `${target}: ${r.status}`);
        assert.doesNotMatch(r.body || "", /"devDependencies"|parley-tests/, `${target} leaked a file`);
    }
    // The API's own unknown paths stay problem documents.
    const miss = await fetch(`${base(srv)}/api/v1/nothing`);
    assert.equal(miss.status, 404);
    assert.match(miss.headers.get("content-type"), /^application\/problem\+json/);
    const post = await fetch(`${base(srv)}/`, { method: "POST" });
    assert.equal(post.status, 404);
});

test("sign-in: a wrong token is refused with the server's words; a right one signs in; sign-out", SLOW, async () => {
    const page = await newPage(chrome.browser);
    try {
        await page.goto(`${base(srv)}/`);
        await page.getByRole("heading", { name: "Sign in" }).waitFor();
        await screenshot(page, "01-sign-in");
        await page.getByLabel("Admin token").fill("not.a.token");
        await page.getByRole("button", { name: "Sign in" }).click();
        const alert = page.getByRole("alert");
        await alert.waitFor();
        assert.match(await alert.innerText(), /^Sign-in refused: Authentication required\s+the token was refused: malformed token$/);
        // A chat token (no admin role) is refused too, as forbidden.
        await page.getByLabel("Admin token").fill(srv.token(alice));
        await page.getByRole("button", { name: "Sign in" }).click();
        await until(async () => /role.*admin/.test(await alert.innerText()), "the forbidden message");
        assert.equal(await page.evaluate(() => sessionStorage.length), 0, "nothing kept");
        await page.getByLabel("Admin token").fill(adminToken(srv));
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
        assert.equal(await page.evaluate(() => document.cookie), "", "no cookie");
        assert.ok(await page.evaluate(() => sessionStorage.getItem("parley.admin.token")));
        await page.getByRole("button", { name: "Sign out" }).click();
        await page.getByRole("heading", { name: "Sign in" }).waitFor();
        assert.equal(await page.evaluate(() => sessionStorage.getItem("parley.admin.token")), null);
        assert.deepEqual(page.problems, []);
    } finally {
        await page.closeAll();
    }
});

test("overview: real figures, and the chart moves when messages are sent", SLOW, async () => {
    const page = await newPage(chrome.browser);
    const c = await online(srv, uniqueUser("wo"));
    try {
        await signIn(page, srv, adminToken(srv));
        const chart = page.locator("#chart");
        await until(async () => (await chart.getAttribute("data-total")) !== null, "the chart drawn");
        const stats = (await api(srv, "GET", "/api/v1/stats")).json;
        const before = Number(await chart.getAttribute("data-total"));
        assert.ok(before >= N, `the seeded messages are in the chart (${before})`);
        await until(async () => Number(await page.locator("#fig-online").innerText()) >= 1, "one user online");
        assert.equal(await page.locator("#fig-db").innerText(), "healthy");
        assert.equal(Number(await page.locator("#fig-users").innerText()), stats.users);
        assert.ok(await page.locator("#chart canvas").count(), "uPlot drew a canvas");
        const pixels = await page.locator("#chart canvas").evaluate((c) => c.toDataURL());
        for (let i = 0; i < 7; i++) {
            const r = await api(srv, "POST", "/api/v1/messages", { body: { from: alice, to: bob, body: `live ${i}` } });
            assert.equal(r.status, 201);
        }
        await until(async () => Number(await chart.getAttribute("data-total")) >= before + 7, "the chart counting the new messages");
        await until(async () => (await page.locator("#chart canvas").evaluate((c) => c.toDataURL())) !== pixels, "the chart redrawn");
        assert.match(await page.locator("#chart-summary").innerText(), /messages in the last hour/);
        await screenshot(page, "02-overview");
        assert.deepEqual(page.problems, [], "no console errors (a CSP refusal would show)");
    } finally {
        await stopAll(c);
        await page.closeAll();
    }
});

test("users: search, open one, disable from the UI closes their @xmpp/client session, enable", SLOW, async () => {
    const u = uniqueUser("wd");
    const c = await online(srv, u, { resource: "laptop" });
    const page = await newPage(chrome.browser);
    page.on("dialog", (d) => d.accept());
    try {
        await until(async () => (await api(srv, "GET", `/api/v1/users/${u}`, { raw: true })).json?.sessions?.length, "the session row");
        await signIn(page, srv, adminToken(srv));
        await page.getByRole("link", { name: "Users" }).click();
        await page.getByLabel("Username starts with").fill(`${alice}x`);
        await page.getByRole("button", { name: "Search" }).click();
        await until(async () => /12 users/.test(await page.locator("#users-results caption").innerText().catch(() => "")), "12 matching users");
        await screenshot(page, "03-users");
        await page.getByLabel("Username starts with").fill(u);
        await page.getByRole("button", { name: "Search" }).click();
        await page.locator("#users-results").getByRole("link", { name: u }).click();
        await page.getByRole("heading", { name: u, level: 1 }).waitFor();
        const sessions = page.getByRole("table", { name: "Live sessions" });
        await sessions.waitFor();
        assert.match(await sessions.innerText(), /laptop/);
        assert.match(await sessions.innerText(), /127\.0\.0\.1/);
        await screenshot(page, "04-user");
        await page.getByRole("button", { name: "Disable user" }).click();
        await until(() => c.closed, "the disabled user's session closing");
        await page.getByRole("button", { name: "Enable user" }).waitFor();
        assert.match(await page.locator("#user-status").innerText(), /disabled; their sessions were closed/);
        assert.equal((await api(srv, "GET", `/api/v1/users/${u}`)).json.disabled, true);
        await page.getByRole("button", { name: "Enable user" }).click();
        await page.getByRole("button", { name: "Disable user" }).waitFor();
        assert.equal((await api(srv, "GET", `/api/v1/users/${u}`)).json.disabled, false);
        assert.deepEqual(page.problems, []);
    } finally {
        await stopAll(c);
        await page.closeAll();
    }
});

test("users: kick one session from the UI", SLOW, async () => {
    const u = uniqueUser("wk");
    const c = await online(srv, u, { resource: "phone" });
    const page = await newPage(chrome.browser);
    try {
        await until(async () => (await api(srv, "GET", `/api/v1/users/${u}`, { raw: true })).json?.sessions?.length, "the session row");
        await signIn(page, srv, adminToken(srv));
        await page.goto(`${base(srv)}/#/users/${u}`);
        await page.getByRole("button", { name: "Kick session phone" }).click();
        await until(() => c.closed, "the kicked session closing");
        await page.locator("#user-status").getByText("Session phone was kicked.").waitFor();
    } finally {
        await stopAll(c);
        await page.closeAll();
    }
});

test("history: search, a message's timeline shows received after the client's receipt", SLOW, async () => {
    const sender = uniqueUser("ws");
    const reader = uniqueUser("wr");
    await insertUsers([sender]);
    const c = await online(srv, reader);
    const page = await newPage(chrome.browser);
    try {
        await until(async () => (await api(srv, "GET", `/api/v1/users/${reader}`, { raw: true })).status === 200, "reader provisioned");
        const sent = await api(srv, "POST", "/api/v1/messages", { body: { from: sender, to: reader, body: "timeline please" } });
        assert.equal(sent.status, 201);
        await c.nextMessage("timeline please");
        // The written frame moves it to delivered a moment after the client has it.
        await until(async () => (await api(srv, "GET", `/api/v1/messages/${sent.json.id}`)).json.deliveries[0].state === "delivered", "delivered in the API");
        await signIn(page, srv, adminToken(srv));
        await page.getByRole("link", { name: "History" }).click();
        await page.getByLabel("User", { exact: true }).fill(sender);
        await page.getByLabel("Text").fill("timeline");
        await page.getByRole("button", { name: "Search" }).click();
        const results = page.locator("#history-results");
        await until(async () => /1 message,/.test(await results.innerText()), "one result");
        assert.match(await results.innerText(), /timeline please/);
        await results.getByRole("link", { name: String(sent.json.id) }).click();
        const delivery = page.getByRole("region", { name: `Delivery to ${reader}@localhost` });
        await delivery.waitFor();
        assert.equal(await delivery.locator('li[data-state="delivered"]').getAttribute("class"), "done");
        assert.equal(await delivery.locator('li[data-state="received"]').getAttribute("class"), "pending");
        await c.send(xml("message", { to: `${sender}@localhost`, id: "wr-1" }, xml("received", { xmlns: NS.receipts, id: sent.json.stanza_id })));
        // The open page follows the state by itself, without a reload.
        await until(async () => (await delivery.locator('li[data-state="received"]').getAttribute("class").catch(() => null)) === "done", "received on the open page");
        assert.equal((await api(srv, "GET", `/api/v1/messages/${sent.json.id}`)).json.deliveries[0].state, "received");
        assert.match(await delivery.locator("h3").innerText(), /received/);
        assert.ok(await delivery.locator('li[data-state="received"] time').getAttribute("datetime"));
        await screenshot(page, "06-message");
    } finally {
        await stopAll(c);
        await page.closeAll();
    }
});

test("history: the export buttons download the conversation's rows (NDJSON and CSV)", SLOW, async () => {
    const page = await newPage(chrome.browser);
    try {
        await signIn(page, srv, adminToken(srv));
        await page.goto(`${base(srv)}/#/history?user=${alice}&peer=${bob}`);
        const results = page.locator("#history-results");
        await until(async () => /50 messages/.test(await results.innerText()), "a first page");
        await screenshot(page, "05-history");
        const want = (await sql(
            "SELECT body FROM messages WHERE (sender = :'a' AND recipient = :'b') OR (sender = :'b' AND recipient = :'a') ORDER BY id",
            { a: `${alice}@localhost`, b: `${bob}@localhost` },
        )).map((r) => r[0]);
        assert.ok(want.length >= N);
        const [nd] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export NDJSON" }).click()]);
        assert.match(nd.suggestedFilename(), /\.ndjson$/);
        const lines = fs.readFileSync(await nd.path(), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
        assert.deepEqual(lines.map((m) => m.body), want, "every row, oldest first, nothing else");
        const [csv] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
        assert.match(csv.suggestedFilename(), /\.csv$/);
        const rows = fs.readFileSync(await csv.path(), "utf8").split(/\r?\n/).filter(Boolean);
        assert.equal(rows.length, want.length + 1, "a header and one row per message");
        assert.match(rows.at(-1), new RegExp(want.at(-1)));
        await page.locator("#export-status").getByText("The CSV export is downloaded.").waitFor();
    } finally {
        await page.closeAll();
    }
});

test("audit log and rooms show the server's data (or say rooms are not there)", SLOW, async () => {
    const page = await newPage(chrome.browser);
    try {
        const u = uniqueUser("wau");
        await api(srv, "POST", "/api/v1/users", { body: { username: u } });
        await signIn(page, srv, adminToken(srv));
        await page.getByRole("link", { name: "Audit log" }).click();
        const results = page.locator("#audit-results");
        await until(async () => (await results.innerText()).includes(u), "the new user's entry");
        assert.match(await results.innerText(), /user\.create/);
        await screenshot(page, "07-audit");
        await page.getByRole("link", { name: "Rooms" }).click();
        const rooms = await api(srv, "GET", "/api/v1/rooms", { raw: true });
        if (rooms.status === 404) {
            await page.locator("#rooms-unavailable").getByText("Rooms are not available on this server.").waitFor();
        } else {
            assert.equal(rooms.status, 200);
            await page.getByRole("heading", { name: "Rooms", level: 1 }).waitFor();
        }
        await screenshot(page, "08-rooms");
        assert.deepEqual(page.problems, []);
    } finally {
        await page.closeAll();
    }
});

test("an API error is shown in words, not a blank page", T, async () => {
    const page = await newPage(chrome.browser);
    try {
        await signIn(page, srv, adminToken(srv));
        await page.goto(`${base(srv)}/#/users/nobody-${Date.now()}`);
        const alert = page.getByRole("alert");
        await alert.waitFor();
        assert.match(await alert.innerText(), /not found/i);
        await page.goto(`${base(srv)}/#/history?since=yesterday`);
        await page.locator("#history-results").getByRole("alert").waitFor();
    } finally {
        await page.closeAll();
    }
});

test("keyboard: sign in, skip to the content and move between pages without a mouse", SLOW, async () => {
    const page = await newPage(chrome.browser);
    const active = () => page.evaluate(() => `${document.activeElement.tagName}:${document.activeElement.textContent.trim() || document.activeElement.id}`);
    try {
        await page.goto(`${base(srv)}/`);
        await page.getByRole("heading", { name: "Sign in" }).waitFor();
        assert.equal(await active(), "TEXTAREA:token", "the token field has the focus");
        await page.keyboard.insertText(adminToken(srv));
        await page.keyboard.press("Tab");
        assert.equal(await active(), "BUTTON:Sign in");
        await page.keyboard.press("Enter");
        await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
        // The new page's content takes the focus; from the top, the first
        // stop is the skip link.
        await until(async () => (await page.evaluate(() => document.activeElement.id)) === "main", "the content focused");
        await page.evaluate(() => document.activeElement.blur());
        await page.keyboard.press("Tab");
        assert.equal(await active(), "A:Skip to content");
        await page.keyboard.press("Tab");
        assert.equal(await active(), "A:Overview");
        await page.keyboard.press("Tab");
        assert.equal(await active(), "A:Users");
        await page.keyboard.press("Enter");
        await page.getByRole("heading", { name: "Users", level: 1 }).waitFor();
        // The page has loaded when <main> is no longer busy; then its
        // content has the focus and the next stop is its first control.
        await page.locator("#main:not([aria-busy])").waitFor();
        await until(async () => (await page.evaluate(() => document.activeElement.id)) === "main", "the users page focused");
        await page.keyboard.press("Tab");
        assert.equal(await active(), "INPUT:user-q", "the page's first control follows its content's focus");
        await page.keyboard.insertText(alice);
        await page.keyboard.press("Enter");
        await page.locator("#users-results").getByRole("link", { name: alice, exact: true }).waitFor();
    } finally {
        await page.closeAll();
    }
});

test("axe-core finds no serious or critical violations on any page", { timeout: 60_000 }, async () => {
    // axe is injected as a script the page's CSP would refuse: this context
    // bypasses the CSP (the other tests run with it).
    const page = await newPage(chrome.browser, { bypassCSP: true });
    const axePath = require.resolve("axe-core/axe.min.js");
    const check = async (name) => {
        await page.addScriptTag({ path: axePath });
        const res = await page.evaluate(() => window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "best-practice"] }));
        const bad = res.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
        assert.deepEqual(bad.map((v) => `${name}: ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), []);
    };
    const rooms = await api(srv, "GET", "/api/v1/rooms", { raw: true });
    const room =
        rooms.status === 200
            ? (await api(srv, "POST", "/api/v1/rooms", { body: { name: "Axe", description: "checked", members_only: true, members: [alice, bob] } })).json
            : null;
    try {
        await page.goto(`${base(srv)}/`);
        await page.getByRole("heading", { name: "Sign in" }).waitFor();
        await check("sign-in");
        await signIn(page, srv, adminToken(srv));
        await page.locator("#chart canvas").waitFor();
        await check("overview");
        for (const [hash, ready] of [
            ["#/users", "#users-results table"],
            [`#/users/${alice}`, "#user-recent table"],
            [`#/history?user=${alice}&peer=${bob}`, "#history-results table"],
            ["#/audit", "#audit-results table, #audit-results .state"],
            ["#/rooms", "#rooms-unavailable, main table, main .state"],
            ...(room
                ? [
                      ["#/rooms/new", "#new-room-name"],
                      [`#/rooms/${room.id}`, "#room-members table"],
                  ]
                : []),
        ]) {
            await page.goto(`${base(srv)}/${hash}`);
            await page.locator(ready).first().waitFor();
            await check(hash);
        }
        const id = (await api(srv, "GET", `/api/v1/messages?user=${alice}&limit=1`)).json.items[0].id;
        await page.goto(`${base(srv)}/#/history/${id}`);
        await page.locator("section.delivery, main .state").first().waitFor();
        await check("message");
    } finally {
        await page.closeAll();
    }
});

stopsCleanly(srv);
