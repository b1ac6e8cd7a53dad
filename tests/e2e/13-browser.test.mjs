// A real browser (Debian's Chromium, driven by playwright-core): the page
// sets the auth_token cookie, opens the WebSocket with its own Origin and
// cookie, logs in and chats with a client outside the browser; a page from
// an origin that is not allowed cannot open the WebSocket.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { chromium } from "playwright-core";

import {
    SLOW,
    xml,
    useServer,
    stopsCleanly,
    online,
    uniqueUser,
    bareJid,
    stopAll,
} from "./lib/harness.mjs";

const srv = useServer();
let browser;
let web;

before(async () => {
    browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
        headless: true,
        args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    });
    // An empty page: the test's script runs in it, with its origin.
    web = http.createServer((req, res) => {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<!doctype html><title>parley</title>");
    });
    await new Promise((resolve) => web.listen(0, "0.0.0.0", resolve));
}, { timeout: 30_000 });

after(async () => {
    await browser?.close();
    web?.close();
});

/** Runs in the page: a raw RFC 7395 session over the browser's WebSocket. */
async function pageSession({ url, token, user, wait }) {
    document.cookie = `auth_token=${token}; path=/`;
    const frames = [];
    let wake = null;
    const ws = new WebSocket(url, "xmpp");
    const opened = await new Promise((resolve) => {
        ws.onopen = () => resolve(true);
        ws.onerror = () => resolve(false);
    });
    if (!opened) return { opened: false };
    ws.onmessage = (e) => {
        frames.push(e.data);
        if (wake) wake();
    };
    const next = (re, ms = 5000) =>
        new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no frame like ${re}`)), ms);
            const check = () => {
                const i = frames.findIndex((f) => re.test(f));
                if (i < 0) return;
                clearTimeout(timer);
                wake = null;
                resolve(frames.splice(0, i + 1).pop());
            };
            wake = check;
            check();
        });
    const open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
    ws.send(open);
    await next(/stream:features/);
    ws.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${btoa(`\0${user}\0${token}`)}</auth>`);
    await next(/<success/);
    ws.send(open);
    await next(/stream:features/);
    ws.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>browser</resource></bind></iq>");
    const bound = await next(/<jid>/);
    ws.send("<presence xmlns='jabber:client'/>");
    const message = await next(new RegExp(wait), 8000);
    ws.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>");
    await next(/<close/);
    return { opened: true, protocol: ws.protocol, bound, message };
}

test("a browser page logs in with the auth_token cookie and receives a message", SLOW, async () => {
    const user = uniqueUser("web");
    const alice = await online(srv, uniqueUser("alice"));
    const page = await browser.newPage();
    try {
        await page.goto(`http://127.0.0.1:${web.address().port}/`);
        const session = page.evaluate(pageSession, {
            url: srv.url,
            token: srv.token(user),
            user,
            wait: "hello browser",
        });
        // Send once the browser's session is available; retried until then.
        let result;
        const sender = (async () => {
            for (let i = 0; i < 40 && !result; i++) {
                await alice.send(xml("message", { type: "chat", to: `${bareJid(user)}/browser`, id: `b${i}` },
                    xml("body", {}, "hello browser")));
                await new Promise((r) => setTimeout(r, 200));
            }
        })();
        result = await session;
        await sender;
        assert.equal(result.opened, true, "the WebSocket opened");
        assert.equal(result.protocol, "xmpp");
        assert.match(result.bound, new RegExp(`${user}@localhost/browser`));
        assert.match(result.message, /hello browser/);
        assert.match(result.message, /urn:xmpp:sid:0/);
    } finally {
        await page.close();
        await stopAll(alice);
    }
});

test("a page from an origin that is not allowed cannot open the WebSocket", SLOW, async () => {
    const page = await browser.newPage();
    try {
        // 127.0.0.2 is loopback too, but not an allowed development origin.
        await page.goto(`http://127.0.0.2:${web.address().port}/`);
        const opened = await page.evaluate(
            (url) =>
                new Promise((resolve) => {
                    const ws = new WebSocket(url, "xmpp");
                    ws.onopen = () => resolve(true);
                    ws.onerror = () => resolve(false);
                }),
            srv.url,
        );
        assert.equal(opened, false, "the upgrade from http://127.0.0.2 was refused");
        assert.match(srv.output, /origin http:\/\/127\.0\.0\.2:\d+ not allowed/);
    } finally {
        await page.close();
    }
});

stopsCleanly(srv);
