// Sign-in: an admin token (parleyd token NAME --admin) pasted here, or from
// the link scripts/start prints. It is checked against the API before it is
// kept, so a wrong one is refused here with the server's words.
import { get, setToken } from "../api.js";
import { h, show, errorBox } from "../ui.js";

export async function render(main, { presetToken, onSignedIn }) {
    const status = h("div", { id: "signin-status", "aria-live": "polite" });
    const why = sessionStorage.getItem("parley.admin.why");
    sessionStorage.removeItem("parley.admin.why");
    if (why) status.append(errorBox({ title: "Signed out", detail: why }));
    const input = h("textarea", {
        id: "token",
        name: "token",
        rows: 4,
        required: true,
        autocomplete: "off",
        spellcheck: "false",
        "aria-describedby": "token-help",
    });
    const submit = h("button", { type: "submit" }, "Sign in");
    const form = h(
        "form",
        { class: "signin", "aria-labelledby": "signin-title" },
        h("h1", { id: "signin-title" }, "Sign in"),
        h("label", { for: "token" }, "Admin token"),
        input,
        h(
            "p",
            { id: "token-help", class: "muted" },
            "A JWT with \"role\": \"admin\": make one with build/parleyd token NAME --admin, or open the link scripts/start prints. It is kept in this tab only (sessionStorage) and sent as a Bearer header.",
        ),
        submit,
        status,
    );
    async function attempt(t) {
        t = t.trim();
        if (!t) {
            show(status, errorBox({ title: "No token", detail: "Paste an admin token first." }));
            return;
        }
        submit.disabled = true;
        show(status, h("p", { role: "status" }, "Checking the token…"));
        try {
            await get("/api/v1/stats", { tokenOverride: t });
            setToken(t);
            onSignedIn();
        } catch (err) {
            show(status, errorBox({ title: `Sign-in refused: ${err.title}`, detail: err.detail }));
            input.focus();
        } finally {
            submit.disabled = false;
        }
    }
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        attempt(input.value);
    });
    show(main, form);
    input.focus();
    if (presetToken) {
        input.value = presetToken;
        await attempt(presetToken);
    }
}
