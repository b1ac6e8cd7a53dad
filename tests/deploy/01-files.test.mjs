// The deployment files, checked without a Docker engine or systemd running:
// the compose file through docker-compose's own validation, the Dockerfile
// by its stages, user, probe and libraries, the unit by systemd-analyze, the
// proxy by nginx -t.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { ROOT, have, run, scratch, makeCert, nginxConfig, parleydPath } from "./lib/deploy.mjs";

const T = { timeout: 60_000 };
const dockerDir = path.join(ROOT, "docker");

/** docker-compose config on a copy of docker/ with made-up secret files. */
function composeConfig(extraEnv = {}) {
    const dir = scratch("compose");
    fs.cpSync(dockerDir, path.join(dir, "docker"), { recursive: true });
    fs.rmSync(path.join(dir, "docker", "secrets"), { recursive: true, force: true });
    fs.mkdirSync(path.join(dir, "docker", "secrets"));
    for (const s of ["jwt_secret", "db_password", "database_url"]) {
        fs.writeFileSync(path.join(dir, "docker", "secrets", s), `test-${s}\n`);
    }
    const r = run("docker-compose", ["-f", path.join(dir, "docker", "docker-compose.yml"), "config"],
        { env: { ...process.env, ...extraEnv } });
    fs.rmSync(dir, { recursive: true, force: true });
    return r;
}

test("docker-compose accepts docker/docker-compose.yml", T, () => {
    assert.ok(have("docker-compose"), "docker-compose is installed (scripts/lib.sh)");
    const r = composeConfig();
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /image: postgres:15/);
    assert.match(out, /pgdata:\/var\/lib\/postgresql\/data/, "a named volume for the data");
    assert.match(out, /^volumes:\n\s+pgdata:/m);
    assert.match(out, /pg_isready/, "the database has a health check");
    assert.match(out, /depends_on:\n\s+db:\n\s+condition: service_healthy/);
    for (const port of ["5280", "8080"]) {
        assert.match(out, new RegExp(`published: ${port}\\n\\s+target: ${port}|127\\.0\\.0\\.1:${port}:${port}`),
            `port ${port} published`);
    }
    assert.doesNotMatch(out, /0\.0\.0\.0:(5280|8080):/, "no port on every interface");
    assert.match(out, /PARLEY_JWT_SECRET_FILE: \/run\/secrets\/jwt_secret/);
    assert.match(out, /stop_signal: SIGTERM/);
});

test("the compose file holds no secret value and publishes on loopback only", T, () => {
    const text = fs.readFileSync(path.join(dockerDir, "docker-compose.yml"), "utf8");
    assert.doesNotMatch(text, /PARLEY_JWT_SECRET\s*[:=]/, "no JWT secret in the file");
    assert.doesNotMatch(text, /POSTGRES_PASSWORD\s*:/, "no database password in the file");
    const ports = [...text.matchAll(/^\s+- "([^"]+)"$/gm)].map((m) => m[1]);
    assert.ok(ports.length >= 2);
    for (const p of ports) assert.match(p, /^127\.0\.0\.1:/, `${p} is on loopback`);
    const ignore = fs.readFileSync(path.join(ROOT, ".gitignore"), "utf8");
    assert.match(ignore, /^docker\/secrets\/$/m, "the secret files are not committed");
});

/** The Dockerfile as stages: [{from, name, lines: [instruction text]}]. */
function dockerStages() {
    const text = fs.readFileSync(path.join(dockerDir, "Dockerfile"), "utf8")
        .replace(/\\\n/g, " ");
    const stages = [];
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (!line || line.startsWith("#")) continue;
        const m = line.match(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i);
        if (m) stages.push({ from: m[1], name: m[2], lines: [] });
        else stages.at(-1).lines.push(line);
    }
    return stages;
}

test("the Dockerfile: a bookworm build stage running scripts/build, a slim runtime", T, () => {
    const stages = dockerStages();
    assert.equal(stages.length, 2, "two stages");
    const [build, rt] = stages;
    for (const s of stages) assert.match(s.from, /^debian:bookworm/, `${s.name} on bookworm`);
    assert.equal(build.name, "build");
    assert.ok(build.lines.some((l) => /^RUN .*scripts\/build\b/.test(l)),
        "the build stage uses scripts/build, the script scripts/start's steps live in");
    const start = fs.readFileSync(path.join(ROOT, "scripts", "start"), "utf8");
    const buildScript = fs.readFileSync(path.join(ROOT, "scripts", "build"), "utf8");
    assert.match(start, /^build_release /m, "scripts/start builds with build_release");
    assert.match(buildScript, /^build_release /m, "scripts/build builds with build_release");

    const rtText = rt.lines.join("\n");
    assert.doesNotMatch(rtText, /-dev\b/, "no -dev package at run time");
    assert.doesNotMatch(rtText, /build-essential|cmake|gcc|clang/);
    assert.match(rtText, /COPY --from=build \S*parleyd /);
    assert.match(rtText, /COPY --from=build \S*migrations /);
    assert.match(rtText, /COPY --from=build \S*web /, "the web admin's files");
    assert.match(rtText, /COPY --from=build \S*node_modules /, "uPlot for the web admin");
    assert.match(rtText, /PARLEY_WEB_DIR=\/usr\/share\/parley\/web/);
    assert.match(rtText, /PARLEY_NODE_MODULES=\/usr\/share\/parley\/node_modules/);
    assert.ok(build.lines.some((l) => /cp -r web-admin\/\. \/out\/web\//.test(l)), "web-admin/ is copied");
    const user = rt.lines.filter((l) => /^USER /.test(l)).at(-1);
    assert.ok(user, "a USER");
    assert.doesNotMatch(user, /^USER\s+(root|0)(:|$)/, "not root");
    assert.match(rtText, /^STOPSIGNAL SIGTERM$/m);
    const hc = rt.lines.find((l) => /^HEALTHCHECK /.test(l));
    assert.ok(hc, "a HEALTHCHECK");
    assert.match(hc, /CMD .*curl/);
    assert.match(rtText, /^ENTRYPOINT \["\/usr\/bin\/parley-entrypoint"\]$/m);
    // The probe's URL comes from the entrypoint: it must be /healthz.
    const r = run("sh", [path.join(dockerDir, "entrypoint.sh"), "--health-url"],
        { env: { PATH: process.env.PATH, PARLEY_API_ADDR: "0.0.0.0:8080" } });
    assert.equal(r.stdout.trim(), "http://127.0.0.1:8080/healthz");
});

test("the runtime stage installs the package of every library parleyd links", T, () => {
    const rt = dockerStages()[1].lines.join("\n");
    const needed = run("objdump", ["-p", parleydPath()]).stdout.split("\n")
        .map((l) => l.match(/NEEDED\s+(\S+)/)?.[1]).filter(Boolean)
        // The sanitizers are the test build's; libc and libcap are in the base image.
        .filter((n) => !/^lib(asan|ubsan|c|m|pthread|dl|cap)\.so/.test(n));
    assert.ok(needed.length >= 8, `parleyd's libraries: ${needed}`);
    const ldd = run("ldd", [parleydPath()]).stdout;
    for (const lib of needed) {
        const p = ldd.match(new RegExp(`${lib.replace(/\./g, "\\.")} => (\\S+)`))?.[1];
        assert.ok(p, `ldd finds ${lib}`);
        const real = fs.realpathSync(p);
        let owner = run("dpkg", ["-S", real]);
        if (owner.status !== 0) owner = run("dpkg", ["-S", real.replace(/^\/usr\/lib\//, "/lib/")]);
        assert.equal(owner.status, 0, `a package owns ${real}`);
        const pkg = owner.stdout.split(":")[0];
        assert.match(rt, new RegExp(`\\b${pkg.replace(/[+.]/g, "\\$&")}\\b`),
            `the runtime stage installs ${pkg} (for ${lib})`);
    }
});

test("systemd-analyze verify accepts deploy/parleyd.service", T, (t) => {
    if (!have("systemd-analyze")) return t.skip("systemd-analyze is not installed");
    const unitText = fs.readFileSync(path.join(ROOT, "deploy", "parleyd.service"), "utf8");
    for (const want of [/^User=parley$/m, /^Restart=on-failure$/m, /^NoNewPrivileges=yes$/m,
        /^ProtectSystem=strict$/m, /^PrivateTmp=yes$/m, /^StateDirectory=parley$/m,
        /^KillSignal=SIGTERM$/m]) {
        assert.match(unitText, want);
    }
    const nofile = Number(unitText.match(/^LimitNOFILE=(\d+)$/m)?.[1]);
    assert.ok(nofile >= 100_000 + 1024, "descriptors for 100,000 connections and more");
    // verify wants the binaries to exist: point them at this build's.
    const dir = scratch("systemd");
    const unit = path.join(dir, "parleyd.service");
    fs.writeFileSync(unit, unitText.split("/usr/bin/parleyd").join(path.resolve(parleydPath())));
    const r = run("systemd-analyze", ["verify", "--man=no", unit]);
    fs.rmSync(dir, { recursive: true, force: true });
    // verify exits 0 on warnings too: any output about the unit is a failure.
    const complaints = (r.stderr + r.stdout).split("\n").filter((l) => l.includes("parleyd.service"));
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(complaints, []);
});

test("nginx -t accepts deploy/nginx.conf", T, () => {
    assert.ok(have("nginx"), "nginx is installed (scripts/lib.sh)");
    const dir = scratch("nginx-t");
    const { cert, key } = makeCert(dir);
    const main = nginxConfig(dir, { httpsPort: 1, httpPort: 2, xmppPort: 3, apiPort: 4, cert, key });
    const r = run("nginx", ["-t", "-p", dir, "-c", main]);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /test is successful/);
    const site = fs.readFileSync(path.join(ROOT, "deploy", "nginx.conf"), "utf8");
    assert.match(site, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.match(site, /proxy_set_header Connection \$parley_connection;/);
    assert.match(site, /proxy_set_header X-Forwarded-For \$remote_addr;/);
    assert.match(site, /client_max_body_size/);
    // Longer than the idle ping (half of the default 90 s idle timeout).
    const timeout = Number(site.match(/location = \/xmpp \{[^}]*proxy_read_timeout (\d+)s;/s)?.[1]);
    assert.ok(timeout > 90, `proxy_read_timeout ${timeout}s outlasts the idle timeout`);
});
