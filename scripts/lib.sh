# Shared helpers for scripts/start and scripts/test. Source it; it defines
# functions and PARLEY_ROOT and changes nothing else until they are called.
# shellcheck shell=bash

PARLEY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PARLEY_PGBIN=/usr/lib/postgresql/15/bin
export DEBIAN_FRONTEND=noninteractive

# The Debian 12 packages that building and running need (scripts/start)...
PARLEY_DEB_PACKAGES=(
    build-essential cmake pkg-config openssl
    libwebsockets-dev libxml2-dev libpq-dev libjwt-dev libjansson-dev
    libmicrohttpd-dev libssl-dev libcmocka-dev libidn-dev
    postgresql-15
)
# ...and what the test suites need besides (scripts/test).
PARLEY_DEB_TEST_PACKAGES=(
    postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
    clang-format clang libclang-rt-14-dev
    chromium
    docker-compose nginx
)

say() {
    printf '==> %s\n' "$*" >&2
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() {
    [ "$(id -u)" -eq 0 ]
}

deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Installs the missing Debian packages (with `test`, the test tools too) as
# root, or says which are missing
# (otherwise), then the npm packages of the end-to-end tests. With `build`
# (the image's build stage), only what compiling needs: no PostgreSQL
# server, no Node.
ensure_packages() {
    local missing=() p wanted=("${PARLEY_DEB_PACKAGES[@]}")
    [ "${1:-}" = test ] && wanted+=("${PARLEY_DEB_TEST_PACKAGES[@]}")
    for p in "${wanted[@]}"; do
        if [ "${1:-}" = build ] && [[ "$p" == postgresql-* ]]; then
            continue
        fi
        deb_installed "$p" || missing+=("$p")
    done
    # Node may come from elsewhere than Debian (NodeSource ships npm inside its
    # nodejs, and Debian's npm would conflict with it): look for the commands.
    if [ "${1:-}" != build ]; then
        command -v node >/dev/null 2>&1 || missing+=(nodejs)
        command -v npm >/dev/null 2>&1 || missing+=(npm)
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        if ! is_root; then
            printf 'error: missing Debian packages: %s\n' "${missing[*]}" >&2
            printf 'install them with:\n  sudo apt-get install -y %s\n' \
                "${missing[*]}" >&2
            exit 1
        fi
        say "installing Debian packages: ${missing[*]}"
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
    [ "${1:-}" = build ] || ensure_node_modules
}

ensure_node_modules() {
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if [ "$major" -lt 20 ]; then
        say "warning: Node $(node --version) is older than the tested Node 20"
    fi
    (
        cd "$PARLEY_ROOT" || exit 1
        if [ -f package-lock.json ]; then
            if [ ! -f node_modules/.package-lock.json ] ||
                [ package-lock.json -nt node_modules/.package-lock.json ]; then
                say "installing npm packages (npm ci)"
                npm ci --no-audit --no-fund
            fi
        elif [ ! -d node_modules ]; then
            say "installing npm packages (npm install)"
            npm install --no-audit --no-fund
        fi
    )
}

# build DIR [cmake args...]: configures and builds the tree in DIR.
build() {
    local dir="$1"
    shift
    say "building in ${dir#"$PARLEY_ROOT"/}"
    cmake -S "$PARLEY_ROOT" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"${PARLEY_JOBS:-$(nproc)}"
}

# build_release DIR: the optimised, sanitizer-free parleyd in DIR, as
# scripts/start runs it and the Docker image ships it (docker/Dockerfile runs
# scripts/build, which calls this).
build_release() {
    build "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARLEY_SANITIZE=OFF -DPARLEY_TESTS=OFF
}

# Exports PARLEY_JWT_SECRET: kept as it is when set, otherwise a development
# secret generated once into .local/jwt-secret.
ensure_dev_secret() {
    if [ -n "${PARLEY_JWT_SECRET:-}" ]; then
        return 0
    fi
    local f="$PARLEY_ROOT/.local/jwt-secret"
    if [ ! -s "$f" ]; then
        mkdir -p "$PARLEY_ROOT/.local"
        (umask 077 && openssl rand -hex 32 >"$f")
        say "generated a development JWT secret in .local/jwt-secret"
    fi
    chmod 600 "$f"
    PARLEY_JWT_SECRET="$(cat "$f")"
    export PARLEY_JWT_SECRET
}

# Runs a PostgreSQL server program as the cluster's owner: PostgreSQL refuses
# to run as root, so root hands it to Debian's `postgres` user.
pg_as_owner() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Prints the directory that really holds the cluster named DIR. The cluster
# lives in DIR itself unless the owner cannot reach it (a clone under /root,
# mode 700) or the socket path would be too long for a Unix socket (about
# 100 bytes): then it lives in /var/tmp/parley-pg-<hash of DIR> and DIR is a
# symbolic link to it.
pg_real_dir() {
    local dir="$1" parent hash alt
    if [ -L "$dir" ]; then
        readlink -f "$dir"
        return 0
    fi
    parent="$(dirname "$dir")"
    mkdir -p "$parent"
    parent="$(cd "$parent" && pwd -P)"
    dir="$parent/$(basename "$dir")"
    local ok=1
    if [ "${#dir}" -gt 80 ]; then
        ok=0
    elif is_root && ! runuser -u postgres -- test -x "$parent"; then
        ok=0
    fi
    if [ "$ok" -eq 1 ]; then
        echo "$dir"
        return 0
    fi
    hash="$(printf '%s' "$dir" | sha256sum | cut -c1-12)"
    alt="/var/tmp/parley-pg-$hash"
    mkdir -p "$alt"
    if [ -d "$dir" ]; then
        rmdir "$dir" 2>/dev/null ||
            die "$dir holds a cluster the PostgreSQL user cannot reach; move it away"
    fi
    ln -sfn "$alt" "$dir"
    say "the PostgreSQL user cannot use $dir (not traversable or too long a" \
        "path): the cluster lives in $alt and ${dir#"$PARLEY_ROOT"/} links to it"
    echo "$alt"
}

# pg_url DIR [DBNAME]: the libpq URL of database DBNAME (default parley) on the
# cluster in DIR.
pg_url() {
    local real
    real="$(readlink -f "$1")"
    printf 'postgresql:///%s?host=%s&user=postgres' "${2:-parley}" "$real/run"
}

# pg_start DIR: starts (creating it on first use) a private PostgreSQL 15
# cluster whose data, socket and log are under DIR; it listens on its Unix
# socket only. Creates the database `parley` and exports DATABASE_URL.
# Set PARLEY_PG_FAST=1 for a throw-away cluster (fsync off).
pg_start() {
    local dir="$1" real
    real="$(pg_real_dir "$dir")"
    mkdir -p "$real"
    if is_root; then
        chown postgres:postgres "$real"
    fi
    chmod 755 "$real"
    if [ ! -f "$real/data/PG_VERSION" ]; then
        say "creating a PostgreSQL cluster in $real"
        pg_as_owner mkdir -p "$real/run"
        pg_as_owner "$PARLEY_PGBIN/initdb" -D "$real/data" -A trust -U postgres \
            --encoding UTF8 --locale C >"$real/initdb.log" 2>&1 ||
            {
                cat "$real/initdb.log" >&2
                die "initdb failed"
            }
        {
            echo "listen_addresses = ''"
            echo "unix_socket_directories = '$real/run'"
            echo "max_connections = 200"
            if [ "${PARLEY_PG_FAST:-0}" = 1 ]; then
                echo "fsync = off"
                echo "synchronous_commit = off"
                echo "full_page_writes = off"
            fi
        } | pg_as_owner tee -a "$real/data/postgresql.conf" >/dev/null
    fi
    if ! pg_as_owner "$PARLEY_PGBIN/pg_ctl" -D "$real/data" status >/dev/null 2>&1; then
        pg_as_owner "$PARLEY_PGBIN/pg_ctl" -D "$real/data" -l "$real/postgresql.log" \
            -w -t 60 start >/dev/null ||
            {
                tail -n 30 "$real/postgresql.log" >&2
                die "PostgreSQL did not start (log: $real/postgresql.log)"
            }
    fi
    pg_createdb "$dir" parley
    DATABASE_URL="$(pg_url "$dir" parley)"
    export DATABASE_URL
}

# pg_createdb DIR NAME [fresh]: creates database NAME if missing; with
# `fresh`, drops it first.
pg_createdb() {
    local admin
    admin="$(pg_url "$1" postgres)"
    if [ "${3:-}" = fresh ]; then
        PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$admin" \
            -c "DROP DATABASE IF EXISTS \"$2\" WITH (FORCE)" >/dev/null
    fi
    if [ "$(psql -X -Atq "$admin" -c "SELECT 1 FROM pg_database WHERE datname = '$2'")" != 1 ]; then
        psql -X -q -v ON_ERROR_STOP=1 "$admin" -c "CREATE DATABASE \"$2\"" >/dev/null
    fi
}

# pg_stop DIR: stops the cluster in DIR if it runs.
pg_stop() {
    local real
    [ -e "$1" ] || return 0
    real="$(readlink -f "$1")"
    [ -f "$real/data/PG_VERSION" ] || return 0
    if pg_as_owner "$PARLEY_PGBIN/pg_ctl" -D "$real/data" status >/dev/null 2>&1; then
        pg_as_owner "$PARLEY_PGBIN/pg_ctl" -D "$real/data" -m fast -w stop >/dev/null
    fi
}

# pg_wipe DIR: stops the cluster in DIR and deletes it.
pg_wipe() {
    local real
    [ -e "$1" ] || [ -L "$1" ] || return 0
    pg_stop "$1" || true
    real="$(readlink -f "$1")"
    rm -rf "$real"
    if [ -L "$1" ]; then
        rm -f "$1"
    fi
}
