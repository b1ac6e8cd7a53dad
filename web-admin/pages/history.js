// History: the archive searched by user, peer, room, time range and text;
// a message opened shows where it is per recipient as a timeline (stored,
// delivered, received, displayed, with times); export buttons download the
// same filters through the streaming export (NDJSON, CSV).
import { get, qs, download } from "../api.js";
import { h, show, errorBox, loading, empty, table, time, link } from "../ui.js";

const FILTERS = ["user", "peer", "room", "since", "until", "q"];

/** datetime-local value (the browser's zone) to RFC 3339, and back. */
function toIso(local) {
    if (!local) return "";
    const d = new Date(local);
    return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

function toLocal(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    const p = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export async function render(main, { id, query }) {
    if (id) return renderMessage(main, id);
    const f = Object.fromEntries(FILTERS.map((k) => [k, query.get(k) || ""]));
    const inputs = {
        user: h("input", { id: "h-user", name: "user", value: f.user, autocomplete: "off" }),
        peer: h("input", { id: "h-peer", name: "peer", value: f.peer, autocomplete: "off" }),
        room: h("input", { id: "h-room", name: "room", value: f.room, autocomplete: "off", placeholder: "room uuid" }),
        since: h("input", { id: "h-since", name: "since", type: "datetime-local", value: toLocal(f.since) }),
        until: h("input", { id: "h-until", name: "until", type: "datetime-local", value: toLocal(f.until) }),
        q: h("input", { id: "h-q", name: "q", type: "search", value: f.q, autocomplete: "off" }),
    };
    const labels = { user: "User", peer: "Peer", room: "Room", since: "From", until: "Until", q: "Text" };
    const form = h(
        "form",
        { class: "filters", role: "search", "aria-label": "Search the archive" },
        FILTERS.map((k) => h("div", { class: "field" }, h("label", { for: inputs[k].id }, labels[k]), inputs[k])),
        h("div", { class: "field actions" }, h("button", { type: "submit" }, "Search")),
    );
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        const v = {};
        for (const k of FILTERS) v[k] = k === "since" || k === "until" ? toIso(inputs[k].value) : inputs[k].value.trim();
        location.hash = `#/history${qs(v)}`;
    });
    const status = h("div", { id: "export-status", "aria-live": "polite" });
    const exportFilter = { user: f.user, peer: f.peer, room: f.room, since: f.since, until: f.until };
    const canExport = !!(f.user || f.room);
    const exportBtn = (format, label) =>
        h(
            "button",
            {
                type: "button",
                id: `export-${format}`,
                disabled: !canExport,
                onclick: async (e) => {
                    e.target.disabled = true;
                    show(status, h("p", { role: "status" }, `Preparing the ${label} export…`));
                    try {
                        await download(`/api/v1/export${qs({ ...exportFilter, format })}`, `parley-export.${format}`);
                        show(status, h("p", { role: "status" }, `The ${label} export is downloaded.`));
                    } catch (err) {
                        show(status, errorBox(err));
                    } finally {
                        e.target.disabled = false;
                    }
                },
            },
            `Export ${label}`,
        );
    const exports = h(
        "div",
        { class: "toolbar", role: "group", "aria-label": "Export" },
        exportBtn("ndjson", "NDJSON"),
        exportBtn("csv", "CSV"),
        canExport ? null : h("span", { class: "muted" }, "Exports need a user (and optionally a peer) or a room; text search is not applied to them."),
    );
    const results = h("div", { id: "history-results", "aria-live": "polite" }, loading("Searching…"));
    show(main, h("h1", {}, "History"), form, exports, status, results);

    async function page(cursor, acc) {
        try {
            const list = await get(`/api/v1/messages${qs({ ...f, cursor, limit: 50 })}`);
            const rows = acc.concat(list.items);
            if (!rows.length) {
                show(results, empty("No message matches."));
                return;
            }
            show(
                results,
                table(
                    `${rows.length} message${rows.length === 1 ? "" : "s"}, newest first`,
                    [
                        { label: "#", cell: (m) => link(`#/history/${m.id}`, String(m.id)) },
                        { label: "At", cell: (m) => time(m.created_at) },
                        { label: "From", cell: (m) => m.from },
                        { label: "To", cell: (m) => m.to ?? (m.room ? `room ${m.room}` : "") },
                        { label: "Body", cell: (m) => m.body ?? h("span", { class: "muted" }, "no body") },
                    ],
                    rows,
                ),
                list.next_cursor ? h("button", { type: "button", onclick: () => page(list.next_cursor, rows) }, "Show older") : null,
            );
        } catch (err) {
            show(results, errorBox(err));
        }
    }
    await page(undefined, []);
}

const STEPS = [
    ["stored", "created_at"],
    ["delivered", "delivered_at"],
    ["received", "received_at"],
    ["displayed", "displayed_at"],
];

// The message page follows its deliveries: it asks again every 2 s while a
// recipient has not displayed it, and redraws only when something moved.
async function renderMessage(main, id) {
    const back = h("p", {}, link("#/history", "← History"));
    show(main, back, h("h1", {}, `Message ${id}`), loading());
    let stopped = false;
    let timer = null;
    let last = null;
    const poll = async () => {
        try {
            const m = await get(`/api/v1/messages/${encodeURIComponent(id)}`);
            if (stopped) return;
            const seen = JSON.stringify(m.deliveries);
            if (seen !== last) {
                last = seen;
                drawMessage(main, back, id, m);
            }
            if (m.deliveries.some((d) => d.state !== "displayed")) timer = setTimeout(poll, 2000);
        } catch (err) {
            if (!stopped && last === null) show(main, back, h("h1", {}, `Message ${id}`), errorBox(err));
            else if (!stopped) timer = setTimeout(poll, 2000);
        }
    };
    await poll();
    return () => {
        stopped = true;
        clearTimeout(timer);
    };
}

function drawMessage(main, back, id, m) {
    const timelines = m.deliveries.length
        ? m.deliveries.map((d) =>
              h(
                  "section",
                  { class: "delivery", "aria-label": `Delivery to ${d.recipient}` },
                  h("h3", {}, d.recipient, " ", h("span", { class: `badge state-${d.state}` }, d.state)),
                  h(
                      "ol",
                      { class: "timeline" },
                      STEPS.map(([state, key]) => {
                          const at = key === "created_at" ? m.created_at : d[key];
                          return h(
                              "li",
                              { class: at ? "done" : "pending", "data-state": state },
                              h("span", { class: "step" }, state),
                              " ",
                              at ? time(at) : h("span", { class: "muted" }, "not yet"),
                          );
                      }),
                  ),
              ),
          )
        : [empty(m.room ? "Room messages have no per-recipient states here." : "No recipients.")];
    show(
        main,
        back,
        h("h1", {}, `Message ${id}`),
        h(
            "dl",
            { class: "facts" },
            h("dt", {}, "From"),
            h("dd", {}, m.from),
            h("dt", {}, "To"),
            h("dd", {}, m.to ?? (m.room ? `room ${m.room}` : "")),
            h("dt", {}, "Sent"),
            h("dd", {}, time(m.created_at)),
            h("dt", {}, "Stanza id"),
            h("dd", {}, m.stanza_id ?? "none"),
            h("dt", {}, "Body"),
            h("dd", {}, m.body ?? "no body"),
        ),
        h("h2", {}, "Delivery, per recipient"),
        timelines,
    );
}
