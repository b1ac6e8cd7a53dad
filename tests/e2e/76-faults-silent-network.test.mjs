// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// a recipient whose network goes silent without a FIN. The recipient runs
// in a network namespace of its own, joined to the server by a veth pair;
// once it is available, its end of the link goes down, which drops every
// packet both ways (nothing is refused, nothing closes: what a phone that
// lost its network looks like). The idle ping finds it, the server drops it, what was
// written and not acknowledged goes back to offline delivery, and the next
// login gets each message once. Needs root (CI runs as root); skipped
// otherwise.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import crypto from "node:crypto";

import { ROOT, useServer, stopsCleanly, online, uniqueUser, bareJid, xml, sleep, waitForSql, withTimeout, stopAll } from "./lib/harness.mjs";
import { RAW_RECIPIENT } from "./lib/faults.mjs";

const srv = useServer({ env: { PARLEY_IDLE_TIMEOUT: "2", PARLEY_ALLOW_PLAIN_WS: "1" }, bindHost: "0.0.0.0" });

const tag = crypto.randomBytes(3).toString("hex");
const NS_NAME = `parley-e2e-${tag}`;
const HOST_IF = `pe${tag}h`;
const PEER_IF = `pe${tag}p`;
const NET = `10.213.${parseInt(tag.slice(0, 2), 16)}`;
const HOST_IP = `${NET}.1`;
const PEER_IP = `${NET}.2`;

function ip(...args) {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** The namespace and its veth pair; the reason it cannot be made, or null. */
function makeNetwork() {
    try {
        ip("netns", "add", NS_NAME);
        ip("link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF, "netns", NS_NAME);
        ip("addr", "add", `${HOST_IP}/30`, "dev", HOST_IF);
        ip("link", "set", HOST_IF, "up");
        ip("-n", NS_NAME, "addr", "add", `${PEER_IP}/30`, "dev", PEER_IF);
        ip("-n", NS_NAME, "link", "set", PEER_IF, "up");
        ip("-n", NS_NAME, "link", "set", "lo", "up");
        return null;
    } catch (err) {
        return `no network namespace here (${String(err.stderr || err.message).trim()})`;
    }
}

/** The peer's end of the link taken down: every packet either way is
 * dropped at the link, nothing is refused and no side closes (netem or a
 * firewall would do the same; this needs neither kernel module). */
function silence() {
    ip("-n", NS_NAME, "link", "set", PEER_IF, "down");
}

after(() => {
    try { ip("link", "del", HOST_IF); } catch { /* gone with the namespace */ }
    try { ip("netns", "del", NS_NAME); } catch { /* never made */ }
});

const unavailable = process.getuid?.() === 0 ? makeNetwork() : "needs root for a network namespace";

test("a recipient whose network goes silent is found by the idle ping; its messages go back to offline delivery and arrive once at the next login", { timeout: 60_000, skip: unavailable || false }, async () => {
    const bob = uniqueUser("silent");
    const alice = await online(srv, uniqueUser("silenta"));
    const url = `ws://${HOST_IP}:${srv.port}/xmpp`;
    const child = spawn("ip", ["netns", "exec", NS_NAME, process.execPath, "--input-type=module", "-e", RAW_RECIPIENT, url, bob, srv.token(bob)],
        { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    try {
        await withTimeout((async () => { while (!out.includes("AVAILABLE")) await sleep(20); })(), 10_000,
            "the child logged in from its namespace and is available");
        silence();
        for (const id of ["n1", "n2", "n3"]) {
            await alice.send(xml("message", { type: "chat", to: bareJid(bob), id }, xml("body", {}, id)));
        }
        // Written to the silent peer's socket (nothing tells the server otherwise) ...
        await waitForSql(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE m.sender = :'s' AND d.state = 'delivered'",
            { s: alice.bare }, (rows) => rows[0]?.[0] === "3", "written to the silent peer", 10_000);
        // ... and back to stored once the idle ping has found it gone.
        await waitForSql(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE m.sender = :'s' AND d.state = 'stored'",
            { s: alice.bare }, (rows) => rows[0]?.[0] === "3", "back to stored", 15_000);
    } finally {
        child.kill("SIGKILL");
    }
    assert.ok(!out.includes("MSG n"), "nothing reached the silent peer");
    assert.ok(!out.includes("CLOSED"), "the peer never saw its connection close: the network was silent, not closed");
    const again = await online(srv, bob);
    const got = [];
    for (let i = 0; i < 3; i++) {
        const m = await again.next((el) => el.is("message") && el.getChild("body"), `message ${i + 1}`);
        got.push(m.getChildText("body"));
    }
    assert.deepEqual(got, ["n1", "n2", "n3"]);
    await again.expectNone((el) => el.is("message") && el.getChild("body"), "a second copy");
    await stopAll(alice, again);
});

stopsCleanly(srv);
