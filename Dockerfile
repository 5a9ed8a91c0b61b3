# syntax=docker/dockerfile:1
#
# One image for every scimflow process; docker-compose.yml picks one with `command`:
#   api       node --import tsx api/main.ts      (the default below)
#   worker    node --import tsx worker/main.ts
#   migrate   npx tsx scripts/setup.ts           (database + migrations; needs TEMPORAL_ADDRESS set)
# The project runs TypeScript directly with tsx; there is no build step. The worker bundles the
# workflow code when it starts.
#
# Debian (glibc), never Alpine (musl): Temporal's native worker library ships glibc binaries only.
# The Node minor is pinned on purpose (package.json engines: >= 20.12); patch releases float.
FROM node:20.20-bookworm-slim

# The worker's Temporal connection is native (Rust) code that trusts the system CA store when it
# uses TLS (Temporal Cloud); Node bundles its own CAs, the slim image has none.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates \
  && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

WORKDIR /app

# Manifests first: the dependency layer is rebuilt only when they change. package.json comes
# along because npm ci checks it against the lockfile (and applies its `overrides`).
COPY package.json package-lock.json ./
# --omit=dev: tsx, the Temporal worker and its bundler are runtime dependencies.
# --ignore-scripts: package.json `allowScripts` permits one install script, the embedded
# PostgreSQL binaries for laptops, which containers do not use (they get DATABASE_URL); the npm
# that ships with Node 20 does not read `allowScripts` and would run every script otherwise.
RUN npm ci --omit=dev --ignore-scripts \
  && npm cache clean --force

# Application source, owned by root and read-only for the process user (see .dockerignore).
COPY . .

# The image's unprivileged `node` user (uid 1000). tsx caches compiled files in /tmp.
USER node

# The API; the worker's scrape target (WORKER_METRICS_PORT).
EXPOSE 3000 9464
CMD ["node", "--import", "tsx", "api/main.ts"]
