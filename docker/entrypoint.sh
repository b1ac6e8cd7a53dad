#!/bin/sh
# The container's entrypoint (also runs outside one: tests/deploy does).
#   parley-entrypoint [serve]      apply the migrations, then exec parleyd serve
#   parley-entrypoint --health-url print the /healthz URL the HEALTHCHECK probes
#   parley-entrypoint CMD ARGS...  exec parleyd CMD ARGS... (migrate, token,
#                                  check-config, help)
# Secrets from files (compose secrets, Kubernetes volumes): NAME_FILE=path sets
# NAME to the file's content for DATABASE_URL, PARLEY_JWT_SECRET and
# PARLEY_METRICS_TOKEN, so no secret sits in the compose file or in `env`.
# A config file at $PARLEY_CONFIG (default /etc/parley/parley.conf), if it
# exists, is passed with --config; PARLEY_* variables override it.
# PARLEY_MIGRATE=0 skips the migrations at start (run `migrate` yourself).
set -eu

PARLEYD="${PARLEYD:-parleyd}"
CONFIG="${PARLEY_CONFIG:-/etc/parley/parley.conf}"

# from_file NAME: NAME from the file NAME_FILE names, if set.
from_file() {
    eval "file=\${$1_FILE:-}"
    # shellcheck disable=SC2154 # set by the eval
    if [ -n "$file" ]; then
        if [ ! -r "$file" ]; then
            echo "parley-entrypoint: cannot read $1_FILE=$file" >&2
            exit 1
        fi
        # The whole file minus its trailing newline (openssl rand -hex 32 > f).
        value="$(cat "$file")"
        export "$1=$value"
        unset "$1_FILE"
    fi
}

health_url() {
    addr="${PARLEY_API_ADDR:-127.0.0.1:8080}"
    port="${addr##*:}"
    if [ -n "${PARLEY_TLS_CERT:-}" ] && [ -n "${PARLEY_TLS_KEY:-}" ]; then
        scheme=https
    else
        scheme=http
    fi
    printf '%s://127.0.0.1:%s/healthz\n' "$scheme" "$port"
}

if [ "${1:-}" = "--health-url" ]; then
    health_url
    exit 0
fi

for name in DATABASE_URL PARLEY_JWT_SECRET PARLEY_METRICS_TOKEN; do
    from_file "$name"
done

set -- "${@:-serve}"
if [ -f "$CONFIG" ]; then
    set -- --config "$CONFIG" "$@"
    cfg="--config $CONFIG"
else
    cfg=""
fi

case "$*" in
serve | "--config $CONFIG serve")
    if [ "${PARLEY_MIGRATE:-1}" != 0 ]; then
        # shellcheck disable=SC2086 # cfg is empty or two words
        "$PARLEYD" $cfg migrate
    fi
    exec "$PARLEYD" "$@"
    ;;
*)
    exec "$PARLEYD" "$@"
    ;;
esac
