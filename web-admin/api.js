// The one way the pages reach the admin API: adds the Bearer token kept in
// sessionStorage (never a cookie), and turns an error answer (an RFC 9457
// problem document, or anything else) into an ApiError whose message is
// words a person can read.
const KEY = "parley.admin.token";

export function token() {
    return sessionStorage.getItem(KEY);
}

export function setToken(t) {
    if (t) sessionStorage.setItem(KEY, t);
    else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
    constructor(status, title, detail) {
        super(detail ? `${title}: ${detail}` : title);
        this.status = status;
        this.title = title;
        this.detail = detail;
    }
}

async function problemOf(res) {
    let title = `HTTP ${res.status}`;
    let detail = res.statusText || "";
    try {
        const ct = res.headers.get("content-type") || "";
        if (ct.includes("json")) {
            const p = await res.json();
            if (p.title) title = p.title;
            if (p.detail) detail = p.detail;
        }
    } catch {
        /* not a problem document: the status says what we know */
    }
    return new ApiError(res.status, title, detail);
}

/** fetch with the token; throws ApiError on a non-2xx answer or when the
 * server cannot be reached. opts.tokenOverride signs with another token. */
export async function request(method, path, { body, tokenOverride, accept } = {}) {
    const headers = {};
    const t = tokenOverride ?? token();
    if (t) headers.Authorization = `Bearer ${t}`;
    if (accept) headers.Accept = accept;
    let payload;
    if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        payload = JSON.stringify(body);
    }
    let res;
    try {
        res = await fetch(path, { method, headers, body: payload, cache: "no-store" });
    } catch (err) {
        throw new ApiError(0, "The server cannot be reached", String(err.message || err));
    }
    if (!res.ok) {
        const e = await problemOf(res);
        if (res.status === 401 && !tokenOverride) window.dispatchEvent(new CustomEvent("parley:unauthorized", { detail: e }));
        throw e;
    }
    return res;
}

export async function get(path, opts) {
    const res = await request("GET", path, opts);
    return res.json();
}

export async function send(method, path, body) {
    const res = await request(method, path, { body });
    if (res.status === 204) return null;
    const ct = res.headers.get("content-type") || "";
    return ct.includes("json") ? res.json() : null;
}

/** Query string from an object, leaving out empty values. */
export function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, v);
    const s = u.toString();
    return s ? `?${s}` : "";
}

/** Downloads path (the streaming export) as a file, under the name the
 * server's Content-Disposition gives. */
export async function download(path, fallbackName) {
    const res = await request("GET", path);
    const cd = res.headers.get("content-disposition") || "";
    const m = /filename="?([^";]+)"?/.exec(cd);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = m ? m[1] : fallbackName;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
