// Audit log: every admin change, newest first, a page at a time.
import { get, qs } from "../api.js";
import { h, show, errorBox, loading, empty, table, time } from "../ui.js";

export async function render(main) {
    const results = h("div", { id: "audit-results", "aria-live": "polite" }, loading("Loading the audit log…"));
    show(main, h("h1", {}, "Audit log"), results);
    const cursors = [undefined];
    async function page(i) {
        show(results, loading("Loading the audit log…"));
        try {
            const list = await get(`/api/v1/audit${qs({ cursor: cursors[i], limit: 50 })}`);
            if (!list.items.length) {
                show(results, empty(i ? "No older entries." : "No admin changes yet."));
                return;
            }
            cursors[i + 1] = list.next_cursor || undefined;
            show(
                results,
                table(
                    `Page ${i + 1}: ${list.items.length} entr${list.items.length === 1 ? "y" : "ies"}, newest first`,
                    [
                        { label: "At", cell: (a) => time(a.at) },
                        { label: "Actor", cell: (a) => a.actor },
                        { label: "Action", cell: (a) => a.action },
                        { label: "Target", cell: (a) => a.target },
                        { label: "Details", cell: (a) => h("code", {}, JSON.stringify(a.details)) },
                    ],
                    list.items,
                ),
                h(
                    "div",
                    { class: "toolbar", role: "group", "aria-label": "Pages" },
                    i > 0 ? h("button", { type: "button", onclick: () => page(i - 1) }, "Newer") : null,
                    list.next_cursor ? h("button", { type: "button", onclick: () => page(i + 1) }, "Older") : null,
                ),
            );
        } catch (err) {
            show(results, errorBox(err));
        }
    }
    await page(0);
}
