// Users: search by name prefix, page through, open one: their live sessions
// (client address, presence, since), last login and last seen, recent
// conversations; disable or enable them (their sessions close at once) and
// kick one session.
import { get, send, qs } from "../api.js";
import { h, show, errorBox, loading, empty, table, time, link } from "../ui.js";

export async function render(main, { id, query }) {
    if (id) return renderUser(main, id);
    const q = query.get("q") || "";
    const input = h("input", { id: "user-q", name: "q", type: "search", value: q, autocomplete: "off" });
    const form = h(
        "form",
        { class: "toolbar", role: "search", "aria-label": "Search users" },
        h("label", { for: "user-q" }, "Username starts with"),
        input,
        h("button", { type: "submit" }, "Search"),
    );
    const results = h("div", { id: "users-results", "aria-live": "polite" }, loading("Loading users…"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        location.hash = `#/users${qs({ q: input.value.trim() })}`;
    });
    show(main, h("h1", {}, "Users"), form, results);

    async function page(cursor, acc) {
        try {
            const list = await get(`/api/v1/users${qs({ q, cursor, limit: 50 })}`);
            const rows = acc.concat(list.items);
            if (!rows.length) {
                show(results, empty(q ? `No user's name starts with “${q}”.` : "There are no users yet."));
                return;
            }
            const more = list.next_cursor
                ? h("button", { type: "button", onclick: () => page(list.next_cursor, rows) }, "Show more")
                : null;
            show(
                results,
                table(
                    `${rows.length} user${rows.length === 1 ? "" : "s"}${q ? ` starting with “${q}”` : ""}`,
                    [
                        { label: "Username", cell: (u) => link(`#/users/${encodeURIComponent(u.username)}`, u.username) },
                        { label: "Display name", cell: (u) => u.display_name ?? "" },
                        { label: "Status", cell: (u) => (u.disabled ? h("span", { class: "badge bad" }, "disabled") : u.online ? h("span", { class: "badge good" }, "online") : "offline") },
                        { label: "Last seen", cell: (u) => time(u.last_seen_at) },
                        { label: "Created", cell: (u) => time(u.created_at) },
                    ],
                    rows,
                ),
                more,
            );
        } catch (err) {
            show(results, errorBox(err));
        }
    }
    await page(undefined, []);
}

async function renderUser(main, username) {
    show(main, h("p", {}, link("#/users", "← All users")), h("h1", {}, username), loading(`Loading ${username}…`));
    const status = h("div", { id: "user-status", "aria-live": "polite" });
    let user;
    try {
        user = await get(`/api/v1/users/${encodeURIComponent(username)}`);
    } catch (err) {
        show(main, h("p", {}, link("#/users", "← All users")), h("h1", {}, username), errorBox(err));
        return;
    }
    const toggle = h(
        "button",
        { type: "button", id: "toggle-disabled", class: user.disabled ? "" : "danger" },
        user.disabled ? "Enable user" : "Disable user",
    );
    toggle.addEventListener("click", async () => {
        const disabling = !user.disabled;
        if (disabling && !window.confirm(`Disable ${username}? Their sessions close now and their tokens are refused.`)) return;
        toggle.disabled = true;
        try {
            await send("PATCH", `/api/v1/users/${encodeURIComponent(username)}`, { disabled: disabling });
            sessionStorage.setItem("parley.admin.flash", disabling ? `${username} is disabled; their sessions were closed.` : `${username} is enabled.`);
            renderUser(main, username);
        } catch (err) {
            toggle.disabled = false;
            show(status, errorBox(err));
        }
    });
    const flash = sessionStorage.getItem("parley.admin.flash");
    sessionStorage.removeItem("parley.admin.flash");
    if (flash) status.append(h("p", { class: "flash", role: "status" }, flash));

    const sessions = user.sessions.length
        ? table(
              "Live sessions",
              [
                  { label: "Resource", cell: (s) => s.resource },
                  { label: "Client address", cell: (s) => s.address ?? "unknown" },
                  { label: "Presence", cell: (s) => (s.available === null ? "not sent yet" : s.available ? `${s.show || "available"}${s.status ? ` (${s.status})` : ""}` : "unavailable") },
                  { label: "Node", cell: (s) => s.node },
                  { label: "Since", cell: (s) => time(s.since) },
                  {
                      label: "Action",
                      cell: (s) =>
                          h(
                              "button",
                              {
                                  type: "button",
                                  class: "danger",
                                  "aria-label": `Kick session ${s.resource}`,
                                  onclick: async (e) => {
                                      e.target.disabled = true;
                                      try {
                                          await send("DELETE", `/api/v1/users/${encodeURIComponent(username)}/sessions/${encodeURIComponent(s.resource)}`);
                                          sessionStorage.setItem("parley.admin.flash", `Session ${s.resource} was kicked.`);
                                          renderUser(main, username);
                                      } catch (err) {
                                          e.target.disabled = false;
                                          show(status, errorBox(err));
                                      }
                                  },
                              },
                              "Kick",
                          ),
                  },
              ],
              user.sessions,
          )
        : empty("No live sessions.");

    const recent = h("div", { id: "user-recent" }, loading("Loading recent messages…"));
    show(
        main,
        h("p", {}, link("#/users", "← All users")),
        h("h1", {}, username, user.disabled ? h("span", { class: "badge bad" }, "disabled") : null),
        status,
        h(
            "dl",
            { class: "facts" },
            h("dt", {}, "Display name"),
            h("dd", {}, user.display_name ?? "none"),
            h("dt", {}, "Created"),
            h("dd", {}, time(user.created_at)),
            h("dt", {}, "Last login"),
            h("dd", {}, time(user.last_login_at)),
            h("dt", {}, "Last seen"),
            h("dd", {}, time(user.last_seen_at)),
        ),
        h("div", { class: "toolbar" }, toggle, link(`#/history${qs({ user: username })}`, "Search their history")),
        h("h2", {}, "Sessions"),
        sessions,
        h("h2", {}, "Recent conversations"),
        recent,
    );
    try {
        const msgs = await get(`/api/v1/messages${qs({ user: username, limit: 100 })}`);
        // One line per peer (or room), the newest message first.
        const self = username;
        const peers = new Map();
        for (const m of msgs.items) {
            const key = m.room ? `room ${m.room}` : m.from.split("@")[0] === self ? (m.to || "").split("@")[0] : m.from.split("@")[0];
            if (!peers.has(key)) peers.set(key, { key, last: m, count: 0, peer: m.room ? null : key });
            peers.get(key).count++;
        }
        const rows = [...peers.values()];
        show(
            recent,
            rows.length
                ? table(
                      "Conversations in their last 100 messages",
                      [
                          { label: "With", cell: (r) => (r.peer ? link(`#/history${qs({ user: self, peer: r.peer })}`, r.peer) : r.key) },
                          { label: "Messages", cell: (r) => r.count },
                          { label: "Last message", cell: (r) => r.last.body ?? "" },
                          { label: "At", cell: (r) => time(r.last.created_at) },
                      ],
                      rows,
                  )
                : empty("No messages yet."),
        );
    } catch (err) {
        show(recent, errorBox(err));
    }
}
