// Small DOM helpers shared by the pages: element building (text only, never
// HTML strings), times in the browser's zone, and the loading, empty and
// error states every view shows instead of a blank page.
export function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
        else if (k === "class") el.className = v;
        else if (v === true) el.setAttribute(k, "");
        else el.setAttribute(k, v);
    }
    for (const c of children.flat()) {
        if (c === undefined || c === null || c === false) continue;
        el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
}

const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** A time element in the browser's time zone; "never" for null. */
export function time(iso) {
    if (!iso) return h("span", { class: "muted" }, "never");
    const d = new Date(iso);
    return h("time", { datetime: iso, title: iso }, fmt.format(d));
}

export function seconds(s) {
    if (s === null || s === undefined) return "–";
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 120) return `${s.toFixed(1)} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
}

export function loading(what = "Loading…") {
    return h("p", { class: "state loading", role: "status" }, what);
}

export function empty(what) {
    return h("p", { class: "state empty", role: "status" }, what);
}

export function errorBox(err) {
    const title = err?.title || "Something went wrong";
    const detail = err?.detail ?? (err?.title ? "" : String(err?.message || err));
    return h("div", { class: "state error", role: "alert" }, h("strong", {}, title), detail ? h("p", {}, detail) : null);
}

/** Replaces the children of el. */
export function show(el, ...children) {
    el.replaceChildren(...children.flat().filter(Boolean));
}

/** A table: columns [{label, cell(row) -> node|string}]. */
export function table(caption, columns, rows, { rowAttrs } = {}) {
    return h(
        "table",
        {},
        h("caption", {}, caption),
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
        h(
            "tbody",
            {},
            rows.map((r) => h("tr", rowAttrs ? rowAttrs(r) : {}, columns.map((c) => h("td", {}, c.cell(r))))),
        ),
    );
}

/** A labelled input. */
export function field(label, attrs) {
    const id = attrs.id || `f-${attrs.name}`;
    return h("div", { class: "field" }, h("label", { for: id }, label), h("input", { id, ...attrs }));
}

/** A route link: "#/users/alice". */
export function link(href, text) {
    return h("a", { href }, text);
}
