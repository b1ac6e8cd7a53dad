// Rooms: the list from /api/v1/rooms when the server has it. A server
// without the rooms endpoints (they come with the rooms work) answers 404:
// the page then says rooms are not available rather than showing an error.
import { get } from "../api.js";
import { h, show, errorBox, loading, empty, table, time, link } from "../ui.js";

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

export async function render(main, { id }) {
    show(main, h("h1", {}, "Rooms"), loading("Loading rooms…"));
    if (id) {
        try {
            const r = await get(`/api/v1/rooms/${encodeURIComponent(id)}`);
            show(
                main,
                h("p", {}, link("#/rooms", "← All rooms")),
                h("h1", {}, r.name || r.id || id),
                h("pre", { class: "json", tabindex: "0", "aria-label": "The room as the API describes it" }, JSON.stringify(r, null, 2)),
            );
        } catch (err) {
            if (err.status === 404 && !(await roomsExist())) unavailable(main);
            else show(main, h("p", {}, link("#/rooms", "← All rooms")), errorBox(err));
        }
        return;
    }
    try {
        const list = await get("/api/v1/rooms");
        const rows = list.items || [];
        show(
            main,
            h("h1", {}, "Rooms"),
            rows.length
                ? table(
                      `${rows.length} room${rows.length === 1 ? "" : "s"}`,
                      [
                          { label: "Room", cell: (r) => link(`#/rooms/${encodeURIComponent(r.id)}`, r.name || r.id) },
                          { label: "Id", cell: (r) => r.id },
                          { label: "Created", cell: (r) => (r.created_at ? time(r.created_at) : "") },
                      ],
                      rows,
                  )
                : empty("There are no rooms yet."),
        );
    } catch (err) {
        if (err.status === 404) unavailable(main);
        else show(main, h("h1", {}, "Rooms"), errorBox(err));
    }
}

async function roomsExist() {
    try {
        await get("/api/v1/rooms?limit=1");
        return true;
    } catch {
        return false;
    }
}
