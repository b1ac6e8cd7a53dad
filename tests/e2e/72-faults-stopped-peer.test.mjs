// A fault that loses nothing (SECURITY.md, "Database and network faults"):
// a recipient whose process is stopped (SIGSTOP: its socket stays open, the
// kernel still takes bytes, nothing answers) while messages are written to
// it. The idle ping finds it, the server drops it, what was written and not
// acknowledged goes back to offline delivery, and the next login gets each
// message once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";

import { ROOT, useServer, stopsCleanly, online, uniqueUser, bareJid, xml, sleep, waitForSql, withTimeout, stopAll } from "./lib/harness.mjs";

const srv = useServer({ env: { PARLEY_IDLE_TIMEOUT: "2" } });

// The recipient, in a process of its own: logs in over a raw WebSocket,
// sends presence, says AVAILABLE when its own presence comes back, then
// prints the body of every message.
const CHILD = `
import WebSocket from "ws";
const [url, user, token] = process.argv.slice(1);
const ws = new WebSocket(url, ["xmpp"], { headers: { Cookie: "auth_token=" + token } });
const open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
let step = 0;
ws.on("open", () => ws.send(open));
ws.on("message", (d) => {
    const s = String(d);
    if (step === 0 && s.includes("<mechanisms")) {
        step = 1;
        const plain = Buffer.from("\\0" + user + "\\0" + token).toString("base64");
        ws.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + plain + "</auth>");
    } else if (step === 1 && s.includes("<success")) {
        step = 2;
        ws.send(open);
    } else if (step === 2 && s.includes("<bind")) {
        step = 3;
        ws.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
    } else if (step === 3 && s.includes("id='b1'") || step === 3 && s.includes('id="b1"')) {
        step = 4;
        ws.send("<presence xmlns='jabber:client'/>");
        console.log("READY");
    } else if (step === 4 && s.startsWith("<presence")) {
        console.log("AVAILABLE"); // its own presence back: the server has it
    } else if (step === 4 && s.startsWith("<message")) {
        const m = s.match(/<body>([^<]*)<\\/body>/);
        if (m) console.log("MSG " + m[1]);
    }
});
ws.on("close", () => console.log("CLOSED"));
`;

test("a stopped recipient is found by the idle ping; its messages go back to offline delivery and arrive once at the next login", { timeout: 60_000 }, async () => {
    const bob = uniqueUser("stop");
    const alice = await online(srv, uniqueUser("stopa"));
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD, srv.url, bob, srv.token(bob)],
        { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    try {
        await withTimeout((async () => { while (!out.includes("AVAILABLE")) await sleep(20); })(), 10_000,
            "the child logged in and available");
        child.kill("SIGSTOP");
        for (const id of ["s1", "s2", "s3"]) {
            await alice.send(xml("message", { type: "chat", to: bareJid(bob), id }, xml("body", {}, id)));
        }
        // Written to the stopped peer's socket (the kernel takes them) ...
        await waitForSql(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE m.sender = :'s' AND d.state = 'delivered'",
            { s: alice.bare }, (rows) => rows[0]?.[0] === "3", "written to the stopped peer", 10_000);
        // ... and back to stored once the idle ping has found it dead.
        await waitForSql(
            "SELECT count(*) FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE m.sender = :'s' AND d.state = 'stored'",
            { s: alice.bare }, (rows) => rows[0]?.[0] === "3", "back to stored", 15_000);
    } finally {
        child.kill("SIGKILL");
    }
    assert.ok(!out.includes("MSG s"), "the stopped process read nothing");
    const again = await online(srv, bob);
    const got = [];
    for (let i = 0; i < 3; i++) {
        const m = await again.next((el) => el.is("message") && el.getChild("body"), `message ${i + 1}`);
        got.push(m.getChildText("body"));
    }
    assert.deepEqual(got, ["s1", "s2", "s3"]);
    await again.expectNone((el) => el.is("message") && el.getChild("body"), "a second copy");
    await stopAll(alice, again);
});

stopsCleanly(srv);
