#!/usr/bin/env bash
# System packages for the tenancy tests (issue 9): the PostgreSQL 15 server binaries.
# Idempotent; Debian as root (CI). Python packages (psycopg[binary], moto[server]) come from
# pyproject.toml through `make venv`. The tests start their own throwaway server as the
# `postgres` system user on a free loopback port (tools/pg.py); no system cluster is needed,
# so the package's default cluster is not created.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
mkdir -p /etc/postgresql-common
if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql
# runuser (util-linux) is essential on Debian; check it anyway so a failure is explicit here.
command -v runuser >/dev/null
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
id postgres >/dev/null
