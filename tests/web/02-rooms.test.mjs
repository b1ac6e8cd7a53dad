// The web admin's rooms pages in a real browser against a real parleyd: a
// room created from the UI as the API sees it, members added from the UI
// letting an @xmpp/client user into a members-only room (and a non-member
// refused), an affiliation changed, a member removed, a room deleted after a
// confirmation, the list searched with its counts, the keyboard alone, and
// bad input (an empty name, an unknown user, a malformed username) shown in
// words.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { T, SLOW, useServer, stopsCleanly, uniqueUser, api, adminToken, online, stopAll, sleep, launch, newPage, base, signIn, screenshot } from "./lib/web.mjs";
import { join, condition } from "../e2e/lib/rooms.mjs";

const srv = useServer();
let chrome;

async function until(check, what, ms = 8_000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        const v = await check();
        if (v) return v;
        await sleep(100);
    }
    throw new Error(`${what}: not within ${ms} ms`);
}

/** A user row the API knows (the UI refuses members who are not users). */
async function makeUser(prefix) {
    const u = uniqueUser(prefix);
    const r = await api(srv, "POST", "/api/v1/users", { body: { username: u } });
    assert.equal(r.status, 201, r.text);
    return u;
}

async function makeRoom(body) {
    const r = await api(srv, "POST", "/api/v1/rooms", { body });
    assert.equal(r.status, 201, r.text);
    return r.json;
}

async function roomByName(name) {
    const list = await api(srv, "GET", "/api/v1/rooms?limit=500");
    assert.equal(list.status, 200, list.text);
    return list.json.items.find((r) => r.name === name);
}

/** Goes to a route and waits until its page has loaded its data: the
 * router marks <main> busy until then, so the next key or click cannot
 * race the page's fetch. */
async function open(page, hash) {
    await page.goto(`${base(srv)}/${hash}`);
    await page.locator("#main:not([aria-busy])").waitFor();
}

before(async () => {
    chrome = await launch();
});

after(async () => {
    await chrome?.close();
});

test("create a room from the UI: an empty name and an unknown member are refused in words; the room as the API sees it", SLOW, async () => {
    const page = await newPage(chrome.browser);
    const name = `Team ${uniqueUser("rc")}`;
    const member = await makeUser("rcm");
    const ghost = uniqueUser("ghost");
    try {
        await signIn(page, srv, adminToken(srv));
        await page.getByRole("link", { name: "Rooms", exact: true }).click();
        await page.getByRole("heading", { name: "Rooms", level: 1 }).waitFor();
        await page.locator("#main:not([aria-busy])").waitFor();
        await page.getByRole("link", { name: "New room" }).click();
        await page.getByRole("heading", { name: "New room", level: 1 }).waitFor();
        await page.locator("#main:not([aria-busy])").waitFor();

        // No name: refused before any request, in words, the field marked.
        await page.getByRole("button", { name: "Create room" }).click();
        const alert = page.locator("#room-status").getByRole("alert");
        await alert.waitFor();
        assert.match(await alert.innerText(), /The room was not created\s+A room needs a name\./);
        assert.equal(await page.getByLabel("Name", { exact: true }).getAttribute("aria-invalid"), "true");
        assert.equal(await page.evaluate(() => document.activeElement.id), "new-room-name", "the focus goes to the field to fix");

        await page.getByLabel("Name", { exact: true }).fill(name);
        await page.getByLabel("Description (optional)").fill("where the team talks");
        await page.getByLabel("Members only").check();
        await page.getByLabel("Public").uncheck();
        // A malformed username: refused in the page.
        await page.getByLabel("Members (optional)").fill("Not A User");
        await page.getByRole("button", { name: "Create room" }).click();
        await until(async () => /“Not” is not a username/.test(await alert.innerText().catch(() => "")), "the malformed username refused");
        // An unknown user: the users endpoint's problem, in words.
        await page.getByLabel("Members (optional)").fill(`${member}, ${ghost}`);
        await page.getByRole("button", { name: "Create room" }).click();
        await until(async () => (await alert.innerText().catch(() => "")).includes(`There is no user “${ghost}”`), "the unknown user refused");
        assert.match(await alert.innerText(), /no such user/, "the server's words");
        assert.equal(await roomByName(name), undefined, "nothing was created");
        await screenshot(page, "11-room-new");

        await page.getByLabel("Members (optional)").fill(member);
        await page.getByRole("button", { name: "Create room" }).click();
        await page.getByRole("heading", { name, level: 1 }).waitFor();
        const listed = await roomByName(name);
        assert.ok(listed, "the API lists the room");
        assert.equal(listed.description, "where the team talks");
        assert.equal(listed.members_only, true);
        assert.equal(listed.public, false);
        assert.equal(listed.member_count, 1);
        const got = (await api(srv, "GET", `/api/v1/rooms/${listed.id}`)).json;
        assert.deepEqual(got.members.map((m) => [m.username, m.affiliation]), [[member, "member"]]);
        // The page shows what the API holds.
        await page.locator("#room-status").getByText(`was created as ${listed.jid}`).waitFor();
        const facts = await page.locator("#room-facts").innerText();
        assert.ok(facts.includes(listed.jid), "its JID");
        assert.match(facts, /members only, not listed/);
        assert.match(await page.locator("#room-members").innerText(), new RegExp(member));
        assert.equal(await page.locator("#room-message-count").innerText(), "0");
        assert.deepEqual(page.problems, []);
    } finally {
        await page.closeAll();
    }
});

test("members from the UI: a member added joins the members-only room, a non-member is refused; an affiliation changed; a member removed", SLOW, async () => {
    const m = uniqueUser("rjm");
    const n = uniqueUser("rjn");
    const cm = await online(srv, m);
    const cn = await online(srv, n);
    const page = await newPage(chrome.browser);
    page.on("dialog", (d) => d.accept());
    try {
        await until(async () => (await api(srv, "GET", `/api/v1/users/${m}`, { raw: true })).status === 200, "the member provisioned");
        await until(async () => (await api(srv, "GET", `/api/v1/users/${n}`, { raw: true })).status === 200, "the non-member provisioned");
        // Made through the API and not joined yet: the first join loads it
        // from PostgreSQL with the members the UI gave it.
        const room = await makeRoom({ name: "Closed door", members_only: true });
        await signIn(page, srv, adminToken(srv));
        await open(page, `#/rooms/${room.id}`);
        await page.getByRole("heading", { name: "Closed door", level: 1 }).waitFor();
        await page.locator("#room-members").getByText("No members yet: nobody can join this members-only room.").waitFor();
        const alert = page.locator("#room-status").getByRole("alert");

        // An unknown user and a malformed name are refused in words.
        const ghost = uniqueUser("ghost");
        await page.getByLabel("Username").fill(ghost);
        await page.getByRole("button", { name: "Add member" }).click();
        await alert.waitFor();
        assert.match(await alert.innerText(), new RegExp(`There is no user “${ghost}”[\\s\\S]*no such user`));
        await page.getByLabel("Username").fill("Bad User");
        await page.getByRole("button", { name: "Add member" }).click();
        await until(async () => /No member was added\s+“Bad User” is not a username/.test(await alert.innerText().catch(() => "")), "the malformed name refused");
        assert.deepEqual((await api(srv, "GET", `/api/v1/rooms/${room.id}`)).json.members, []);

        await page.getByLabel("Username").fill(m);
        await page.getByRole("button", { name: "Add member" }).click();
        const row = page.locator(`tr[data-member="${m}"]`);
        await row.waitFor();
        await page.locator("#room-status").getByText(`${m} was added as member.`).waitFor();
        assert.deepEqual(
            (await api(srv, "GET", `/api/v1/rooms/${room.id}`)).json.members.map((x) => [x.username, x.affiliation]),
            [[m, "member"]],
        );

        const refused = await join(cn, room.jid);
        assert.ok(refused.error, "the non-member is refused");
        assert.equal(condition(refused.error), "registration-required");
        const joined = await join(cm, room.jid);
        assert.equal(joined.error, undefined, `the member joins: ${joined.error}`);
        assert.ok(joined.self, "the member's self-presence");

        // Change the affiliation.
        await page.getByLabel(`Affiliation of ${m}`, { exact: true }).selectOption("admin");
        await page.getByRole("button", { name: `Change the affiliation of ${m}` }).click();
        await page.locator("#room-status").getByText(`${m} is now admin.`).waitFor();
        assert.deepEqual(
            (await api(srv, "GET", `/api/v1/rooms/${room.id}`)).json.members.map((x) => [x.username, x.affiliation]),
            [[m, "admin"]],
        );
        assert.equal(await page.getByLabel(`Affiliation of ${m}`, { exact: true }).inputValue(), "admin");
        await screenshot(page, "10-room");

        // Remove (the confirmation accepted).
        await page.getByRole("button", { name: `Remove ${m}` }).click();
        await page.locator("#room-status").getByText(`${m} was removed.`).waitFor();
        assert.equal(await row.count(), 0);
        assert.deepEqual((await api(srv, "GET", `/api/v1/rooms/${room.id}`)).json.members, []);
        assert.deepEqual(page.problems, []);
    } finally {
        await stopAll(cm, cn);
        await page.closeAll();
    }
});

test("delete from the UI: a dismissed confirmation keeps the room, an accepted one deletes it", SLOW, async () => {
    const room = await makeRoom({ name: `Doomed ${uniqueUser("rd")}` });
    const page = await newPage(chrome.browser);
    let answer = "dismiss";
    const asked = [];
    page.on("dialog", (d) => {
        asked.push(d.message());
        d[answer]();
    });
    try {
        await signIn(page, srv, adminToken(srv));
        await open(page, `#/rooms/${room.id}`);
        await page.getByRole("heading", { name: room.name, level: 1 }).waitFor();
        await page.getByRole("button", { name: "Delete room" }).click();
        await page.locator("#room-status").getByText("The room was not deleted.").waitFor();
        assert.equal(asked.length, 1);
        assert.ok(asked[0].includes(room.jid), "the confirmation names the room");
        assert.equal((await api(srv, "GET", `/api/v1/rooms/${room.id}`)).status, 200, "still there");
        answer = "accept";
        await page.getByRole("button", { name: "Delete room" }).click();
        await page.getByRole("heading", { name: "Rooms", level: 1 }).waitFor();
        await page.getByText(`Room “${room.name}” was deleted.`).waitFor();
        assert.equal((await api(srv, "GET", `/api/v1/rooms/${room.id}`, { raw: true })).status, 404, "gone from the API");
        assert.equal(await page.locator("#rooms-results").getByRole("link", { name: room.name }).count(), 0);
        assert.deepEqual(page.problems, []);
    } finally {
        await page.closeAll();
    }
});

test("the list: search by name, member and message counts, last activity; a room with no match says so", SLOW, async () => {
    const tag = uniqueUser("rs");
    const a = await makeRoom({ name: `${tag} alpha`, members: ["kim", "lee"] });
    const b = await makeRoom({ name: `${tag} beta`, members_only: true });
    for (let i = 0; i < 3; i++) assert.equal((await api(srv, "POST", "/api/v1/messages", { body: { room: a.id, body: `hi ${i}` } })).status, 201);
    const page = await newPage(chrome.browser);
    try {
        await signIn(page, srv, adminToken(srv));
        await open(page, "#/rooms");
        await page.getByLabel("Name or JID contains").fill(tag);
        await page.getByRole("button", { name: "Search" }).click();
        const results = page.locator("#rooms-results");
        await until(async () => new RegExp(`2 rooms matching “${tag}”`).test(await results.innerText().catch(() => "")), "the two rooms found");
        const rowOf = (r) => results.locator("tr", { has: page.getByRole("link", { name: r.name }) });
        const cells = async (r) => (await rowOf(r).locator("td").allInnerTexts()).map((s) => s.trim());
        const ca = await cells(a);
        assert.deepEqual(ca.slice(0, 5), [a.name, a.jid, "open", "2", "3"]);
        assert.notEqual(ca[5], "never", "the last message's time");
        assert.ok(await rowOf(a).locator("time").getAttribute("datetime"));
        assert.deepEqual((await cells(b)).slice(0, 6), [b.name, b.jid, "members only", "0", "0", "never"]);
        await screenshot(page, "09-rooms-search");
        // The JID finds a room too.
        await page.getByLabel("Name or JID contains").fill(b.id);
        await page.getByRole("button", { name: "Search" }).click();
        await until(async () => /1 room matching/.test(await results.innerText().catch(() => "")), "the room found by its JID");
        await page.getByLabel("Name or JID contains").fill(`${tag}-nothing`);
        await page.getByRole("button", { name: "Search" }).click();
        await results.getByText(`No room's name, JID or description contains “${tag}-nothing”.`).waitFor();
        // Open one: its history link filters the history page to the room.
        await open(page, `#/rooms/${a.id}`);
        assert.equal(await page.locator("#room-message-count").innerText(), "3");
        await page.getByRole("link", { name: "Open its history" }).click();
        await page.getByRole("heading", { name: "History", level: 1 }).waitFor();
        assert.equal(await page.getByLabel("Room").inputValue(), a.id);
        await until(async () => /3 messages/.test(await page.locator("#history-results").innerText().catch(() => "")), "the room's three messages");
        assert.deepEqual(page.problems, []);
    } finally {
        await page.closeAll();
    }
});

test("a room opened: occupants shown only when the API gives them; settings edited; an empty name refused", SLOW, async () => {
    const room = await makeRoom({ name: `Edit ${uniqueUser("re")}`, description: "before" });
    const page = await newPage(chrome.browser);
    try {
        await signIn(page, srv, adminToken(srv));
        await open(page, `#/rooms/${room.id}`);
        await page.getByRole("heading", { name: room.name, level: 1 }).waitFor();
        const detail = (await api(srv, "GET", `/api/v1/rooms/${room.id}`)).json;
        const hasOccupants = detail.occupants !== undefined && detail.occupants !== null;
        assert.equal(await page.getByRole("heading", { name: "Occupants now" }).count(), hasOccupants ? 1 : 0);
        assert.equal(await page.locator("#room-occupants").count(), hasOccupants ? 1 : 0);

        const form = page.locator("#room-settings");
        await form.getByLabel("Name", { exact: true }).fill("  ");
        await form.getByRole("button", { name: "Save settings" }).click();
        const alert = page.locator("#room-status").getByRole("alert");
        await alert.waitFor();
        assert.match(await alert.innerText(), /The settings were not saved\s+A room needs a name\./);
        assert.equal((await api(srv, "GET", `/api/v1/rooms/${room.id}`)).json.name, room.name, "unchanged");

        await form.getByLabel("Name", { exact: true }).fill("Renamed");
        await form.getByLabel("Description (optional)").fill("");
        await form.getByLabel("Members only").check();
        await form.getByLabel("Public").uncheck();
        await form.getByRole("button", { name: "Save settings" }).click();
        await page.locator("#room-status").getByText("Settings saved.").waitFor();
        await page.getByRole("heading", { name: "Renamed", level: 1 }).waitFor();
        const after = (await api(srv, "GET", `/api/v1/rooms/${room.id}`)).json;
        assert.equal(after.name, "Renamed");
        assert.equal(after.description, null, "an emptied description is none");
        assert.equal(after.members_only, true);
        assert.equal(after.public, false);
        await until(async () => (await page.evaluate(() => document.activeElement.textContent)) === "Settings saved.", "the focus on the outcome");
        assert.deepEqual(page.problems, []);
    } finally {
        await page.closeAll();
    }
});

test("keyboard: create a room and add a member without a mouse", SLOW, async () => {
    const member = await makeUser("rkm");
    const name = `Keys ${uniqueUser("rk")}`;
    const page = await newPage(chrome.browser);
    const active = () => page.evaluate(() => document.activeElement.id || `${document.activeElement.tagName}:${document.activeElement.textContent.trim()}`);
    try {
        await signIn(page, srv, adminToken(srv));
        await open(page, "#/rooms");
        await until(async () => (await active()) === "main", "the rooms page focused");
        await page.keyboard.press("Tab");
        assert.equal(await active(), "room-q");
        await page.keyboard.press("Tab");
        await page.keyboard.press("Tab");
        assert.equal(await active(), "room-new");
        await page.keyboard.press("Enter");
        await page.getByRole("heading", { name: "New room", level: 1 }).waitFor();
        await page.locator("#main:not([aria-busy])").waitFor();
        await until(async () => (await active()) === "new-room-name", "the name field focused");
        await page.keyboard.insertText(name);
        await page.keyboard.press("Tab");
        assert.equal(await active(), "new-room-description");
        await page.keyboard.press("Tab");
        assert.equal(await active(), "new-room-members-only");
        await page.keyboard.press("Space");
        await page.keyboard.press("Tab");
        await page.keyboard.press("Tab");
        assert.equal(await active(), "new-room-members");
        await page.keyboard.press("Enter");
        await page.getByRole("heading", { name, level: 1 }).waitFor();
        const made = await roomByName(name);
        assert.equal(made.members_only, true);
        assert.equal(made.public, true);

        await page.getByLabel("Username").focus();
        await page.keyboard.insertText(member);
        await page.keyboard.press("Tab");
        assert.equal(await active(), "member-affiliation");
        await page.keyboard.press("Tab");
        await page.keyboard.press("Enter");
        await page.locator(`tr[data-member="${member}"]`).waitFor();
        await until(async () => (await page.evaluate(() => document.activeElement.textContent)) === `${member} was added as member.`, "the outcome focused");
        assert.deepEqual((await api(srv, "GET", `/api/v1/rooms/${made.id}`)).json.members.map((x) => x.username), [member]);
    } finally {
        await page.closeAll();
    }
});

test("an unknown room is the API's problem in words, with the way back", T, async () => {
    const page = await newPage(chrome.browser);
    try {
        await signIn(page, srv, adminToken(srv));
        await open(page, "#/rooms/00000000-0000-0000-0000-000000000000");
        const alert = page.getByRole("alert");
        await alert.waitFor();
        assert.match(await alert.innerText(), /^Not found\s+no such room$/i);
        await page.getByRole("link", { name: "← All rooms" }).click();
        await page.locator("#rooms-results table, #rooms-results .state").first().waitFor();
    } finally {
        await page.closeAll();
    }
});

stopsCleanly(srv);
