#!/bin/sh
# Makes sure the PostgreSQL server binaries that the store tests start are on this machine.
# Installs Debian's postgresql when they are missing and we are root; otherwise says what to do.
set -eu

have_binaries() {
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "PostgreSQL server binaries found in $dir"
            return 0
        fi
    done
    return 1
}

if have_binaries; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: PostgreSQL server binaries are missing (no /usr/lib/postgresql/*/bin/initdb)." >&2
    echo "Install Debian's postgresql package as root: apt-get install postgresql" >&2
    echo "or point the tests at a server you have: export CASEBUS_TEST_POSTGRES_URL=postgresql+psycopg://USER@HOST:PORT/postgres" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql
have_binaries
