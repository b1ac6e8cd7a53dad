// Browser test helpers for the web admin: Debian's Chromium driven by
// playwright-core against a parleyd from the e2e harness (which serves the
// dashboard at / on its API port), a fresh profile each launch, and
// screenshots under the build folder.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

import { ROOT } from "../../e2e/lib/harness.mjs";

export * from "../../api/lib/api.mjs";

export const SHOTS = process.env.PARLEY_WEB_SCREENSHOTS || path.join(ROOT, "build-test", "web-screenshots");

/** Chromium on a fresh profile: playwright's launch gives it a new
 * --user-data-dir of its own in the temporary folder (and refuses one in
 * args), removed at close. Resolves { browser, close }. */
export async function launch() {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
        headless: true,
        args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    });
    return {
        browser,
        async close() {
            await browser.close().catch(() => {});
        },
    };
}

/** A new page on a 1280x720 screen that records console errors (a CSP
 * refusal shows there) and page errors; not the browser's own line for an
 * HTTP error status, which the tests provoke (401, 404) and check on the
 * page instead. */
export async function newPage(browser, opts = {}) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true, ...opts });
    const page = await context.newPage();
    page.problems = [];
    page.on("console", (m) => {
        if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of (401|403|404)/.test(m.text()))
            page.problems.push(m.text());
    });
    page.on("pageerror", (e) => page.problems.push(String(e)));
    page.closeAll = () => context.close();
    return page;
}

export function base(srv) {
    return `http://127.0.0.1:${srv.apiPort}`;
}

/** Signs in through the link scripts/start prints (#token=…). */
export async function signIn(page, srv, token) {
    await page.goto(`${base(srv)}/#token=${encodeURIComponent(token)}`);
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
}

export async function screenshot(page, name) {
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}
