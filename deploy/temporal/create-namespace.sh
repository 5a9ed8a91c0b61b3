#!/bin/sh
# Makes sure the namespace scimflow uses exists and carries scimflow's custom search attributes,
# then exits. Run by the one-shot `temporal-create-namespace` service (temporalio/admin-tools
# image, which ships the `temporal` CLI) once the server answers. Safe to run again.
set -eu

NAMESPACE="${NAMESPACE:-default}"
RETENTION="${RETENTION:-72h}"
# name=Type pairs; keep in step with CUSTOM_SEARCH_ATTRIBUTES in workflows/messages.ts
# (test/unit/compose.test.ts checks that every one is registered here).
SEARCH_ATTRIBUTES="ScimOrgId=Keyword ScimState=Keyword"
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"

# Prefer the server's IPv4 address: the CLI has been seen to stall on a name that also resolves
# to an IPv6 address the server does not listen on.
host="${ADDRESS%:*}"
port="${ADDRESS##*:}"
ipv4="$(getent ahosts "$host" 2>/dev/null | awk '$1 ~ /^[0-9.]+$/ { print $1; exit }' || true)"
if [ -n "$ipv4" ]; then ADDRESS="$ipv4:$port"; fi

say() { echo "[temporal-namespace] $*"; }

# Retries a command every 2 s, up to $1 times.
retry() {
  tries="$1"
  shift
  n=1
  until "$@"; do
    if [ "$n" -ge "$tries" ]; then return 1; fi
    n=$((n + 1))
    sleep 2
  done
}

say "waiting for the Temporal server at $ADDRESS"
retry 60 temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1 \
  || { say "the server did not report healthy within 2 minutes; see: docker compose logs temporal"; exit 1; }

if temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  say "namespace $NAMESPACE exists"
else
  say "creating namespace $NAMESPACE (retention $RETENTION)"
  temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
fi
# A new namespace takes a few seconds to reach every frontend cache.
retry 30 temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1 \
  || { say "namespace $NAMESPACE did not become visible"; exit 1; }

has_attribute() {
  temporal operator search-attribute list --address "$ADDRESS" --namespace "$NAMESPACE" 2>/dev/null | grep -qw "$1"
}

for pair in $SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if has_attribute "$name"; then
    say "search attribute $name exists"
    continue
  fi
  say "creating search attribute $name ($type)"
  retry 15 temporal operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" \
    --name "$name" --type "$type" \
    || has_attribute "$name" \
    || { say "could not create search attribute $name"; exit 1; }
done
say "namespace $NAMESPACE is ready"
