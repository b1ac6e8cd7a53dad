// Helpers of the deployment tests: commands that may be missing, nginx on
// loopback with deploy/nginx.conf rewritten for a non-root run, databases.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

import { ROOT, freePort, parleydPath, sleep, sql } from "../../e2e/lib/harness.mjs";

export * from "../../e2e/lib/harness.mjs";

/** True if `cmd` is on PATH. */
export function have(cmd) {
    return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Runs a command to its end: {status, stdout, stderr}. */
export function run(cmd, args, opts = {}) {
    const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000, ...opts });
    if (r.error) throw r.error;
    return r;
}

/** A scratch directory under the build folder (removed by the caller). */
export function scratch(name) {
    const base = path.join(path.dirname(path.resolve(parleydPath())), "deploy");
    fs.mkdirSync(base, { recursive: true });
    return fs.mkdtempSync(path.join(base, `${name}-`));
}

/** A self-signed certificate for localhost in dir: {cert, key}. */
export function makeCert(dir) {
    const cert = path.join(dir, "cert.pem");
    const key = path.join(dir, "key.pem");
    run("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", key, "-out", cert]);
    return { cert, key };
}

/** A fresh database with the given name on the suite's cluster; its URL. */
export async function freshDatabase(name) {
    await sql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await sql(`CREATE DATABASE ${name}`);
    return process.env.DATABASE_URL.replace(/^(postgresql:\/\/[^/]*\/)[^?]*/, `$1${name}`);
}

/**
 * deploy/nginx.conf as a non-root nginx can run it on loopback: the
 * listeners on the given ports, the upstreams on parleyd's, the certificate
 * made by the test; wrapped in a main file with a pid file, logs and temp
 * paths under dir. Returns the main file's path.
 */
export function nginxConfig(dir, { httpsPort, httpPort, xmppPort, apiPort, cert, key }) {
    let site = fs.readFileSync(path.join(ROOT, "deploy", "nginx.conf"), "utf8");
    const swap = (from, to) => {
        if (!site.includes(from)) throw new Error(`deploy/nginx.conf has no "${from}"`);
        site = site.split(from).join(to);
    };
    swap("listen 443 ssl;", `listen 127.0.0.1:${httpsPort} ssl;`);
    swap("listen 80;", `listen 127.0.0.1:${httpPort};`);
    site = site.replace(/^\s*listen \[::\]:\d+( ssl)?;\n/gm, "");
    swap("server 127.0.0.1:5280;", `server 127.0.0.1:${xmppPort};`);
    swap("server 127.0.0.1:8080;", `server 127.0.0.1:${apiPort};`);
    swap("/etc/parley/tls/fullchain.pem", cert);
    swap("/etc/parley/tls/privkey.pem", key);
    fs.writeFileSync(path.join(dir, "parley-site.conf"), site);
    for (const t of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) {
        fs.mkdirSync(path.join(dir, "tmp", t), { recursive: true });
    }
    const main = path.join(dir, "nginx.conf");
    fs.writeFileSync(main, `
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
worker_processes 1;
daemon off;
events { worker_connections 256; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    include ${dir}/parley-site.conf;
}
`);
    return main;
}

function canConnect(port) {
    return new Promise((resolve) => {
        const s = net.connect({ port, host: "127.0.0.1" });
        s.once("connect", () => {
            s.destroy();
            resolve(true);
        });
        s.once("error", () => resolve(false));
    });
}

/** Waits until something listens on port (or throws after ms). */
export async function waitListening(port, ms = 10_000, what = `port ${port}`) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
        if (await canConnect(port)) return;
        await sleep(50);
    }
    throw new Error(`${what}: nothing listening within ${ms} ms`);
}

/** Starts nginx with main config file; resolves the child once it listens. */
export async function startNginx(dir, main, port) {
    const child = spawn("nginx", ["-p", dir, "-c", main], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.exited = new Promise((r) => child.on("exit", r));
    try {
        await waitListening(port, 10_000, "nginx");
    } catch (err) {
        child.kill("SIGKILL");
        const log = fs.existsSync(path.join(dir, "error.log"))
            ? fs.readFileSync(path.join(dir, "error.log"), "utf8") : "";
        throw new Error(`${err.message}\n${out}\n${log}`);
    }
    return child;
}

export { freePort, ROOT };
