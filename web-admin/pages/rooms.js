// Rooms: the list (searched by name or JID, with member and message counts
// and last activity), a form to create one, and a room opened: its JID and
// settings, members with their affiliations, message count, last activity,
// live occupants when the API gives them, a link to its history; its
// settings edited, members added, changed and removed, and the room deleted
// after a confirmation. A server without the rooms endpoints answers 404 on
// the list: the page then says rooms are not available.
import { get, send, qs } from "../api.js";
import { h, show, errorBox, loading, empty, table, time, link } from "../ui.js";

const AFFILIATIONS = [
    ["owner", "Owner"],
    ["admin", "Admin"],
    ["member", "Member"],
    ["outcast", "Outcast (banned)"],
];

// The list endpoint pages by JID and has no search: the page reads every
// page (a team's rooms are few) and searches what it read, up to this many.
const LIST_MAX = 5000;
const PAGE = 500;

function unavailable(main) {
    show(
        main,
        h("h1", {}, "Rooms"),
        h(
            "div",
            { id: "rooms-unavailable", class: "state empty", role: "status" },
            h("strong", {}, "Rooms are not available on this server."),
            h("p", {}, "This Parley has no room endpoints in its admin API (/api/v1/rooms answers 404). They come with the rooms feature."),
        ),
    );
}

function title(r) {
    return r.name || r.jid || r.id;
}

/** The message a page left for the next one (a room created or deleted). */
function takeFlash() {
    const flash = sessionStorage.getItem("parley.admin.flash");
    sessionStorage.removeItem("parley.admin.flash");
    return flash;
}

function flashBox(text) {
    return h("p", { class: "flash", role: "status", tabindex: "-1" }, text);
}

function affiliationSelect(attrs, value) {
    return h(
        "select",
        attrs,
        AFFILIATIONS.map(([v, label]) => h("option", { value: v, selected: v === value }, label)),
    );
}

/** Marks a field wrong with words next to it, or clears it. */
function fieldError(input, text) {
    const id = `${input.id}-error`;
    document.getElementById(id)?.remove();
    if (!text) {
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-errormessage");
        return;
    }
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-errormessage", id);
    input.closest(".field").append(h("p", { id, class: "field-error" }, text));
}

// Usernames as the API accepts them (api_parse_username: an XMPP localpart
// without ASCII capitals, at most 1023 bytes); anything else is refused
// before a request.
function isUsername(s) {
    return s.length > 0 && new TextEncoder().encode(s).length <= 1023 && !/[\u0000-\u0020\u007f"&'/:<>@A-Z]/.test(s);
}
const NOT_A_USERNAME = "no spaces, capital letters or \" & ' / : < > @";

/** Resolves null when every name is a user, else the error to show (the
 * API's problem for the first that is not). */
async function unknownUser(names) {
    for (const n of names) {
        try {
            await get(`/api/v1/users/${encodeURIComponent(n)}`);
        } catch (err) {
            if (err.status === 404)
                return { title: `There is no user “${n}”`, detail: `The server says: ${err.title}${err.detail ? ` (${err.detail})` : ""}. Create the user on the Users page first, or check the spelling.` };
            return err;
        }
    }
    return null;
}

export async function render(main, { id, query }) {
    if (id === "new") return renderCreate(main);
    if (id) return renderRoom(main, id);
    return renderList(main, query);
}

async function renderList(main, query) {
    const q = (query.get("q") || "").trim();
    const input = h("input", { id: "room-q", name: "q", type: "search", value: q, autocomplete: "off" });
    const form = h(
        "form",
        { class: "toolbar", role: "search", "aria-label": "Search rooms" },
        h("label", { for: "room-q" }, "Name or JID contains"),
        input,
        h("button", { type: "submit" }, "Search"),
        h("a", { href: "#/rooms/new", class: "button", id: "room-new" }, "New room"),
    );
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        location.hash = `#/rooms${qs({ q: input.value.trim() })}`;
    });
    const flash = takeFlash();
    const results = h("div", { id: "rooms-results", "aria-live": "polite" }, loading("Loading rooms…"));
    show(main, h("h1", {}, "Rooms"), flash ? flashBox(flash) : null, form, results);

    let all = [];
    let capped = false;
    try {
        let cursor;
        do {
            const list = await get(`/api/v1/rooms${qs({ cursor, limit: PAGE })}`);
            all = all.concat(list.items || []);
            cursor = list.next_cursor;
            if (cursor && all.length >= LIST_MAX) {
                capped = true;
                break;
            }
        } while (cursor);
    } catch (err) {
        if (err.status === 404) unavailable(main);
        else show(results, errorBox(err));
        return;
    }
    const needle = q.toLowerCase();
    const rows = needle ? all.filter((r) => `${r.name || ""} ${r.jid} ${r.description || ""}`.toLowerCase().includes(needle)) : all;
    if (!rows.length) {
        show(
            results,
            all.length
                ? empty(`No room's name, JID or description contains “${q}”.`)
                : h("div", { class: "state empty", role: "status" }, h("p", {}, "There are no rooms yet."), h("p", {}, link("#/rooms/new", "Create the first room"))),
        );
        return;
    }
    show(
        results,
        table(
            `${rows.length} room${rows.length === 1 ? "" : "s"}${q ? ` matching “${q}”` : ""}${capped ? ` among the first ${all.length}` : ""}`,
            [
                { label: "Room", cell: (r) => link(`#/rooms/${encodeURIComponent(r.id)}`, title(r)) },
                { label: "JID", cell: (r) => h("code", {}, r.jid) },
                { label: "Access", cell: (r) => [r.members_only ? "members only" : "open", r.public ? "" : ", hidden"].join("") },
                { label: "Members", cell: (r) => (r.member_count ?? "–") },
                { label: "Messages", cell: (r) => r.message_count },
                { label: "Last activity", cell: (r) => time(r.last_activity_at) },
            ],
            rows,
        ),
        capped ? h("p", { class: "muted" }, `Only the first ${all.length} rooms (by JID) were read; search to narrow them.`) : null,
    );
}

/** The settings inputs, shared by the create and edit forms. */
function settingsFields(prefix, r) {
    const inputs = {
        name: h("input", { id: `${prefix}-name`, name: "name", value: r.name ?? "", autocomplete: "off", maxlength: "1024", "aria-required": "true" }),
        description: h("textarea", { id: `${prefix}-description`, name: "description", rows: "3", maxlength: "1024" }, r.description ?? ""),
        members_only: h("input", { type: "checkbox", id: `${prefix}-members-only`, name: "members_only", checked: !!r.members_only }),
        public: h("input", { type: "checkbox", id: `${prefix}-public`, name: "public", checked: r.public !== false }),
    };
    const nodes = [
        h("div", { class: "field" }, h("label", { for: inputs.name.id }, "Name"), inputs.name),
        h("div", { class: "field" }, h("label", { for: inputs.description.id }, "Description (optional)"), inputs.description),
        h(
            "div",
            { class: "check" },
            inputs.members_only,
            h("label", { for: inputs.members_only.id }, "Members only"),
            h("span", { class: "muted", id: `${prefix}-members-only-hint` }, "only owners, admins and members may join"),
        ),
        h(
            "div",
            { class: "check" },
            inputs.public,
            h("label", { for: inputs.public.id }, "Public"),
            h("span", { class: "muted", id: `${prefix}-public-hint` }, "listed in the room directory clients browse"),
        ),
    ];
    inputs.members_only.setAttribute("aria-describedby", `${prefix}-members-only-hint`);
    inputs.public.setAttribute("aria-describedby", `${prefix}-public-hint`);
    return { inputs, nodes };
}

/** Name required (a room people cannot tell apart is a mistake). */
function checkName(input) {
    const name = input.value.trim();
    fieldError(input, name ? null : "A room needs a name.");
    return name;
}

async function renderCreate(main) {
    const back = h("p", {}, link("#/rooms", "← All rooms"));
    const { inputs, nodes } = settingsFields("new-room", { public: true });
    const members = h("input", { id: "new-room-members", name: "members", autocomplete: "off", "aria-describedby": "new-room-members-hint" });
    const status = h("div", { id: "room-status", "aria-live": "polite" });
    const submit = h("button", { type: "submit" }, "Create room");
    const form = h(
        "form",
        { class: "settings", "aria-label": "New room", novalidate: true },
        nodes,
        h(
            "div",
            { class: "field" },
            h("label", { for: members.id }, "Members (optional)"),
            members,
            h("span", { id: "new-room-members-hint", class: "muted" }, "usernames separated by commas or spaces; they join as members"),
        ),
        h("div", { class: "toolbar" }, submit, link("#/rooms", "Cancel")),
    );
    form.addEventListener("submit", async (e) => {
        e.preventDefault();
        show(status);
        const name = checkName(inputs.name);
        const names = [...new Set(members.value.split(/[\s,]+/).filter(Boolean))];
        const bad = names.find((n) => !isUsername(n));
        fieldError(members, bad ? `“${bad}” is not a username (${NOT_A_USERNAME}).` : null);
        if (!name || bad) {
            show(status, errorBox({ title: "The room was not created", detail: name ? `“${bad}” is not a username.` : "A room needs a name." }));
            return (name ? members : inputs.name).focus();
        }
        submit.disabled = true;
        show(status, h("p", { role: "status" }, "Creating the room…"));
        try {
            const unknown = await unknownUser(names);
            if (unknown) {
                fieldError(members, unknown.title);
                show(status, errorBox(unknown));
                members.focus();
                return;
            }
            const description = inputs.description.value.trim();
            const made = await send("POST", "/api/v1/rooms", {
                name,
                description: description || null,
                members_only: inputs.members_only.checked,
                members: names,
            });
            // Creation takes no "public" (rooms are public by default): a
            // hidden room is made so by a change right after.
            let hidden = "";
            if (!inputs.public.checked) {
                try {
                    await send("PATCH", `/api/v1/rooms/${encodeURIComponent(made.id)}`, { public: false });
                } catch (err) {
                    hidden = ` It could not be made hidden (${err.message}): it is public; change it below.`;
                }
            }
            sessionStorage.setItem("parley.admin.flash", `Room “${name}” was created as ${made.jid}.${hidden}`);
            location.hash = `#/rooms/${encodeURIComponent(made.id)}`;
        } catch (err) {
            show(status, errorBox(err));
        } finally {
            submit.disabled = false;
        }
    });
    show(main, back, h("h1", {}, "New room"), status, form);
    inputs.name.focus();
}

/** Marks main busy while fn runs, as the router does for a page load. */
async function busy(main, fn) {
    main.setAttribute("aria-busy", "true");
    try {
        return await fn();
    } finally {
        main.removeAttribute("aria-busy");
    }
}

/** The occupants field, whatever form it takes: a count, or a list of
 * occupants (strings, or objects with a nick and JID). */
function occupantsSection(occ) {
    const heading = h("h2", {}, "Occupants now");
    if (typeof occ === "number") return [heading, h("p", { id: "room-occupants" }, occ === 1 ? "1 occupant" : `${occ} occupants`)];
    if (!Array.isArray(occ)) return [heading, h("p", { id: "room-occupants" }, String(occ))];
    if (!occ.length) return [heading, h("div", { id: "room-occupants" }, empty("Nobody is in the room now."))];
    const val = (o, ...keys) => {
        if (typeof o !== "object" || o === null) return keys[0] === "nick" ? String(o) : "";
        for (const k of keys) if (o[k] !== undefined && o[k] !== null) return String(o[k]);
        return "";
    };
    return [
        heading,
        h(
            "div",
            { id: "room-occupants" },
            table(
                `${occ.length} occupant${occ.length === 1 ? "" : "s"}`,
                [
                    { label: "Nickname", cell: (o) => val(o, "nick", "nickname", "name") },
                    { label: "User", cell: (o) => val(o, "jid", "user", "username", "real_jid") },
                    { label: "Role", cell: (o) => val(o, "role") },
                    { label: "Affiliation", cell: (o) => val(o, "affiliation") },
                ],
                occ,
            ),
        ),
    ];
}

async function renderRoom(main, id, flashText) {
    const back = h("p", {}, link("#/rooms", "← All rooms"));
    if (!main.querySelector("#room-page")) show(main, back, h("h1", {}, "Room"), loading("Loading the room…"));
    let r;
    try {
        r = await get(`/api/v1/rooms/${encodeURIComponent(id)}`);
    } catch (err) {
        if (err.status === 404 && !(await roomsExist())) unavailable(main);
        else show(main, back, h("h1", {}, "Room"), errorBox(err));
        return;
    }
    const path = `/api/v1/rooms/${encodeURIComponent(id)}`;
    const flash = flashText ?? takeFlash();
    const status = h("div", { id: "room-status", "aria-live": "polite" }, flash ? flashBox(flash) : null);
    const here = location.hash;
    const reload = (text) =>
        busy(main, async () => {
            // The user may have gone to another page while the change ran.
            if (location.hash !== here) return;
            await renderRoom(main, id, text);
            main.querySelector("#room-status .flash")?.focus();
        });
    const fail = (err) => {
        show(status, errorBox(err));
    };

    // Settings.
    const { inputs, nodes } = settingsFields("room", r);
    const save = h("button", { type: "submit" }, "Save settings");
    const settings = h("form", { class: "settings", id: "room-settings", "aria-labelledby": "room-settings-h", novalidate: true }, nodes, h("div", { class: "toolbar" }, save));
    settings.addEventListener("submit", async (e) => {
        e.preventDefault();
        show(status);
        const name = checkName(inputs.name);
        if (!name) {
            show(status, errorBox({ title: "The settings were not saved", detail: "A room needs a name." }));
            return inputs.name.focus();
        }
        const description = inputs.description.value.trim() || null;
        const change = {};
        if (name !== r.name) change.name = name;
        if (description !== r.description) change.description = description;
        if (inputs.members_only.checked !== r.members_only) change.members_only = inputs.members_only.checked;
        if (inputs.public.checked !== r.public) change.public = inputs.public.checked;
        if (!Object.keys(change).length) {
            show(status, h("p", { role: "status" }, "Nothing to save: the settings are as they were."));
            return;
        }
        save.disabled = true;
        try {
            await send("PATCH", path, change);
            await reload("Settings saved.");
        } catch (err) {
            save.disabled = false;
            fail(err);
        }
    });

    // Members.
    const members = r.members.length
        ? table(
              `${r.members.length} member${r.members.length === 1 ? "" : "s"} and their affiliations`,
              [
                  { label: "User", cell: (m) => link(`#/users/${encodeURIComponent(m.username)}`, m.username) },
                  {
                      label: "Affiliation",
                      cell: (m) => {
                          const sel = affiliationSelect({ id: `aff-${m.username}`, "aria-label": `Affiliation of ${m.username}` }, m.affiliation);
                          const btn = h("button", { type: "button", "aria-label": `Change the affiliation of ${m.username}` }, "Change");
                          btn.addEventListener("click", async () => {
                              if (sel.value === m.affiliation) {
                                  show(status, h("p", { role: "status" }, `${m.username} is ${m.affiliation} already.`));
                                  return;
                              }
                              btn.disabled = true;
                              try {
                                  await send("PUT", `${path}/members/${encodeURIComponent(m.username)}`, { affiliation: sel.value });
                                  await reload(`${m.username} is now ${sel.value}.`);
                              } catch (err) {
                                  btn.disabled = false;
                                  fail(err);
                              }
                          });
                          return h("span", { class: "inline" }, sel, btn);
                      },
                  },
                  { label: "Since", cell: (m) => time(m.updated_at) },
                  {
                      label: "Action",
                      cell: (m) =>
                          h(
                              "button",
                              {
                                  type: "button",
                                  class: "danger",
                                  "aria-label": `Remove ${m.username}`,
                                  onclick: async (e) => {
                                      if (!window.confirm(`Remove ${m.username} from ${title(r)}?`)) return;
                                      e.target.disabled = true;
                                      try {
                                          await send("DELETE", `${path}/members/${encodeURIComponent(m.username)}`);
                                          await reload(`${m.username} was removed.`);
                                      } catch (err) {
                                          e.target.disabled = false;
                                          fail(err);
                                      }
                                  },
                              },
                              "Remove",
                          ),
                  },
              ],
              r.members,
              { rowAttrs: (m) => ({ "data-member": m.username }) },
          )
        : empty(r.members_only ? "No members yet: nobody can join this members-only room." : "No members yet: anyone may join this open room.");
    const who = h("input", { id: "member-user", name: "username", autocomplete: "off" });
    const aff = affiliationSelect({ id: "member-affiliation", name: "affiliation" }, "member");
    const add = h("button", { type: "submit" }, "Add member");
    const addForm = h(
        "form",
        { class: "filters", id: "member-add", "aria-label": "Add a member" },
        h("div", { class: "field" }, h("label", { for: who.id }, "Username"), who),
        h("div", { class: "field" }, h("label", { for: aff.id }, "Affiliation"), aff),
        h("div", { class: "field actions" }, add),
    );
    addForm.addEventListener("submit", async (e) => {
        e.preventDefault();
        show(status);
        const u = who.value.trim();
        fieldError(who, !u ? "Give the member's username." : isUsername(u) ? null : `“${u}” is not a username (${NOT_A_USERNAME}).`);
        if (!u || !isUsername(u)) {
            show(status, errorBox({ title: "No member was added", detail: who.getAttribute("aria-invalid") ? document.getElementById(`${who.id}-error`).textContent : "" }));
            return who.focus();
        }
        add.disabled = true;
        try {
            const unknown = await unknownUser([u]);
            if (unknown) {
                fieldError(who, unknown.title);
                fail(unknown);
                who.focus();
                return;
            }
            const was = r.members.find((m) => m.username === u);
            await send("PUT", `${path}/members/${encodeURIComponent(u)}`, { affiliation: aff.value });
            await reload(was ? `${u} was ${was.affiliation}; now ${aff.value}.` : `${u} was added as ${aff.value}.`);
        } catch (err) {
            fail(err);
        } finally {
            add.disabled = false;
        }
    });

    // Delete.
    const del = h("button", { type: "button", class: "danger", id: "room-delete" }, "Delete room");
    del.addEventListener("click", async () => {
        if (!window.confirm(`Delete the room “${title(r)}” (${r.jid})? Its members are removed; its messages stay in the archive.`)) {
            show(status, h("p", { role: "status" }, "The room was not deleted."));
            return;
        }
        del.disabled = true;
        try {
            await send("DELETE", path);
            sessionStorage.setItem("parley.admin.flash", `Room “${title(r)}” was deleted.`);
            location.hash = "#/rooms";
        } catch (err) {
            del.disabled = false;
            fail(err);
        }
    });

    const badges = [
        r.members_only ? h("span", { class: "badge" }, "members only") : null,
        r.public ? null : h("span", { class: "badge" }, "hidden"),
    ];
    show(
        main,
        h("div", { id: "room-page" }),
        back,
        h("h1", {}, title(r), badges),
        status,
        h(
            "dl",
            { class: "facts", id: "room-facts" },
            h("dt", {}, "JID"),
            h("dd", {}, h("code", {}, r.jid)),
            h("dt", {}, "Description"),
            h("dd", {}, r.description ?? h("span", { class: "muted" }, "none")),
            h("dt", {}, "Access"),
            h("dd", {}, r.members_only ? "members only" : "open to anyone", ", ", r.public ? "listed in the directory" : "not listed"),
            h("dt", {}, "Subject"),
            h("dd", {}, r.subject ?? h("span", { class: "muted" }, "none"), r.change_subject ? " (occupants may change it)" : ""),
            h("dt", {}, "Messages"),
            h("dd", { id: "room-message-count" }, String(r.message_count)),
            h("dt", {}, "Last activity"),
            h("dd", {}, time(r.last_activity_at)),
            h("dt", {}, "Created"),
            h("dd", {}, time(r.created_at), r.created_by ? ` by ${r.created_by}` : ""),
        ),
        h("div", { class: "toolbar" }, link(`#/history${qs({ room: r.id })}`, "Open its history")),
        r.occupants !== undefined && r.occupants !== null ? occupantsSection(r.occupants) : null,
        h("h2", { id: "room-members-h" }, "Members"),
        h("div", { id: "room-members" }, members),
        // The API changes PostgreSQL only (api/api_rooms.c): said here so an
        // admin does not expect a present occupant to be kicked at once.
        h("p", { class: "muted", id: "room-members-note" }, "Changes to members and settings reach the people in the room at once: a member removed from a members-only room leaves it."),
        h("h3", {}, "Add a member"),
        addForm,
        h("h2", { id: "room-settings-h" }, "Settings"),
        settings,
        h("h2", {}, "Delete"),
        h("p", {}, "Deleting the room removes it and its members; its messages stay in the archive."),
        del,
    );
}

async function roomsExist() {
    try {
        await get("/api/v1/rooms?limit=1");
        return true;
    } catch {
        return false;
    }
}
