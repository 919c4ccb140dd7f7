#!/usr/bin/env bash
# System packages the test suite starts for real (`make test` runs this first; ADR 0100):
#   - PostgreSQL 15 server binaries (tenancy, row-level security): the tests start their own
#     throwaway server as the `postgres` system user on a free loopback port (tools/pg.py), so no
#     system cluster is created;
#   - Prometheus + promtool (metrics scrape, alert-rule tests): the tests run the binaries with a
#     temp config and data dir; the packaged service is never used.
# Idempotent and quiet when everything is there (no apt-get at all). On Debian as root it installs
# what is missing; anywhere else it says exactly what to install by hand and exits 1.
set -euo pipefail

missing=()      # Debian package names
described=()    # what each one provides, for the by-hand message

have_postgres() {
    { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; } \
        && { [ "$(id -u)" != 0 ] || id postgres >/dev/null 2>&1; }
}
have_prometheus() {
    command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
}

have_postgres || { missing+=(postgresql); described+=("PostgreSQL >= 15 server binaries (initdb, pg_ctl, postgres)"); }
have_prometheus || { missing+=(prometheus); described+=("Prometheus >= 2.42 with promtool"); }

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

by_hand() {
    echo "sysdeps: the test suite needs, and cannot install here ($1):" >&2
    for item in "${described[@]}"; do echo "  - $item" >&2; done
    echo "  on Debian/Ubuntu, as root: apt-get install --no-install-recommends ${missing[*]}" >&2
    echo "  elsewhere: install them with your package manager and put them on PATH" >&2
    echo "  (PG_BINDIR may point at the directory of initdb), then run make test again." >&2
    exit 1
}

[ "$(id -u)" = 0 ] || by_hand "not root"
command -v apt-get >/dev/null 2>&1 || by_hand "no apt-get: not Debian"

echo "sysdeps: installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
# no default cluster: the tests make their own data directories
mkdir -p /etc/postgresql-common
[ -f /etc/postgresql-common/createcluster.conf ] \
    || echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
apt-get update -qq
# --no-install-recommends skips prometheus-node-exporter and friends, which the tests do not need
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# the packaged Prometheus service may have been started where an init system allows it
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
fi
have_postgres || { echo "sysdeps: PostgreSQL still missing after apt-get install" >&2; exit 1; }
have_prometheus || { echo "sysdeps: prometheus/promtool still missing after apt-get install" >&2; exit 1; }
echo "sysdeps: ready"
