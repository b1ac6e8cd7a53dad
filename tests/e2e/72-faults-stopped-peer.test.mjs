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
import { RAW_RECIPIENT } from "./lib/faults.mjs";

const srv = useServer({ env: { PARLEY_IDLE_TIMEOUT: "2" } });

test("a stopped recipient is found by the idle ping; its messages go back to offline delivery and arrive once at the next login", { timeout: 60_000 }, async () => {
    const bob = uniqueUser("stop");
    const alice = await online(srv, uniqueUser("stopa"));
    const child = spawn(process.execPath, ["--input-type=module", "-e", RAW_RECIPIENT, srv.url, bob, srv.token(bob)],
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
