# syntax=docker/dockerfile:1
#
# One image for every scimflow process; docker-compose.yml picks one with `command`:
#   api       node dist/api.js       (the default below)
#   worker    node dist/worker.js    (runs the workflow bundle built here, dist/workflow-bundle.js)
#   migrate   node dist/setup.js     (database + migrations; needs TEMPORAL_ADDRESS set)
#   cli       node dist/cli.js …
#   emulator  node dist/emulator.js  (the local Scalekit, for trying scimflow without an account)
# The build stage compiles the TypeScript (`npm run build`); the image itself holds JavaScript and
# the packages it runs with, no TypeScript tooling.
#
# Debian (glibc), never Alpine (musl): Temporal's native worker library ships glibc binaries only.
# The Node minor is pinned on purpose (package.json engines: >= 20.12); patch releases float.
FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: see below; the build needs none of the install scripts either.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build

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
# --omit=dev: no TypeScript tooling. --omit=optional: the embedded PostgreSQL binaries (60 MB) are
# for laptops; containers get DATABASE_URL. --ignore-scripts: package.json `allowScripts` permits
# one install script, that same embedded PostgreSQL's; the npm that ships with Node 20 does not
# read `allowScripts` and would run every script otherwise.
RUN npm ci --omit=dev --omit=optional --ignore-scripts \
  && npm cache clean --force

# The build, owned by root and read-only for the process user.
COPY --from=build /app/dist ./dist

# The image's unprivileged `node` user (uid 1000).
USER node

# The API; the worker's scrape target (WORKER_METRICS_PORT).
EXPOSE 3000 9464
CMD ["node", "dist/api.js"]
