#!/bin/sh
# Creates (first run) or upgrades (later runs) Temporal's two databases in the compose Postgres,
# then exits. Run by the one-shot `temporal-admin-tools` service with the temporalio/admin-tools
# image, whose schema files match its server version. Safe to run on every `docker compose up`.
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS to the Postgres host}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${POSTGRES_PWD:?set POSTGRES_PWD}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

# temporal-sql-tool reads the password from SQL_PASSWORD: it stays off the command line.
SQL_PASSWORD="$POSTGRES_PWD"
export SQL_PASSWORD

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

prepare() {
  db="$1"
  versioned_dir="$2"
  echo "[temporal-schema] $db: create-database (fails harmlessly when it already exists)"
  sql_tool --db "$db" create || echo "[temporal-schema] $db: not created (already there?); continuing"
  # Records version 0.0 on an empty database; leaves an already versioned one alone.
  sql_tool --db "$db" setup-schema -v 0.0
  echo "[temporal-schema] $db: update-schema from $versioned_dir"
  sql_tool --db "$db" update-schema -d "$versioned_dir"
}

prepare temporal "$SCHEMA_ROOT/temporal/versioned"
prepare temporal_visibility "$SCHEMA_ROOT/visibility/versioned"
echo "[temporal-schema] temporal and temporal_visibility are up to date"
