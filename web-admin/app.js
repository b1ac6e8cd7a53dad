// The router: a hash route (#/users/alice) picks a page module; each page
// renders into <main> and may return a function that stops what it started
// (the overview's polling). Without a token every route shows the sign-in
// page. A link "#token=…" (scripts/start prints one) signs in at once.
import { token, setToken } from "./api.js";
import * as signin from "./pages/signin.js";
import * as overview from "./pages/overview.js";
import * as users from "./pages/users.js";
import * as rooms from "./pages/rooms.js";
import * as historyPage from "./pages/history.js";
import * as audit from "./pages/audit.js";
import { errorBox, show } from "./ui.js";

const routes = [
    [/^\/overview$/, overview, "Overview"],
    [/^\/users$/, users, "Users"],
    [/^\/users\/([^/]+)$/, users, "User"],
    [/^\/rooms$/, rooms, "Rooms"],
    [/^\/rooms\/(new)$/, rooms, "New room"],
    [/^\/rooms\/([^/]+)$/, rooms, "Room"],
    [/^\/history$/, historyPage, "History"],
    [/^\/history\/([0-9]+)$/, historyPage, "Message"],
    [/^\/audit$/, audit, "Audit log"],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signout = document.getElementById("signout");
let stop = null;

function parseHash() {
    const raw = location.hash.replace(/^#/, "");
    const [path, query = ""] = raw.split("?");
    return { path: path || "/overview", query: new URLSearchParams(query) };
}

async function route() {
    if (stop) {
        stop();
        stop = null;
    }
    const raw = location.hash.replace(/^#/, "");
    if (raw.startsWith("token=")) {
        // A sign-in link: the token lives in the fragment, which no server
        // sees; it moves to sessionStorage and leaves the address bar.
        const t = decodeURIComponent(raw.slice("token=".length));
        window.history.replaceState(null, "", location.pathname);
        stop = (await signin.render(main, { presetToken: t, onSignedIn })) || null;
        return;
    }
    const signedIn = !!token();
    nav.hidden = !signedIn;
    signout.hidden = !signedIn;
    if (!signedIn) {
        document.title = "Sign in · Parley admin";
        stop = (await signin.render(main, { onSignedIn })) || null;
        return;
    }
    const { path, query } = parseHash();
    for (const a of nav.querySelectorAll("a")) {
        const here = path === a.getAttribute("href").slice(1) || path.startsWith(`${a.getAttribute("href").slice(1)}/`);
        if (here) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
    }
    for (const [re, page, title] of routes) {
        const m = re.exec(path);
        if (!m) continue;
        document.title = `${title} · Parley admin`;
        // While the page loads its data, <main> says it is busy; the focus
        // the user had when the route started is remembered so that a user
        // who moved it meanwhile keeps it.
        const before = document.activeElement;
        main.setAttribute("aria-busy", "true");
        try {
            stop = (await page.render(main, { id: m[1] ? decodeURIComponent(m[1]) : undefined, query })) || null;
        } catch (err) {
            show(main, errorBox(err));
        }
        main.removeAttribute("aria-busy");
        // A new page takes the focus to its content, as a page load would,
        // unless a control in it has it already (a search just made) or the
        // user moved the focus elsewhere while it loaded.
        const now = document.activeElement;
        const untouched = now === before || now === document.body || now === main;
        if (untouched && !(main.contains(now) && now !== main)) main.focus({ preventScroll: true });
        return;
    }
    show(main, errorBox({ title: "No such page", detail: `Nothing lives at #${path}.` }));
}

function onSignedIn() {
    if (location.hash === "#/overview") route();
    else location.hash = "#/overview";
}

signout.addEventListener("click", () => {
    setToken(null);
    location.hash = "";
    route();
});

window.addEventListener("parley:unauthorized", () => {
    // The token expired or was refused: back to the sign-in page, saying why.
    setToken(null);
    sessionStorage.setItem("parley.admin.why", "Your token was refused by the server (expired or revoked). Sign in again.");
    route();
});

window.addEventListener("hashchange", route);
route();
