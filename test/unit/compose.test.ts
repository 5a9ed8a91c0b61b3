import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../config/index';
import { CUSTOM_SEARCH_ATTRIBUTES } from '../../workflows/messages';
import { ENTRY_POINTS, type EntryPoint } from '../../scripts/lib/entry-points';

/**
 * The Docker deployment files, checked without a Docker engine: docker-compose.yml is parsed
 * (with YAML merge keys, as Compose reads them) and its services and wiring are compared with
 * what the code needs; the Dockerfile is read instruction by instruction.
 *
 * Each rule is a function that lists the problems it finds. The real files must have none, and
 * the last block breaks copies of the files on purpose to prove that every rule can fail.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const fromRoot = (path: string): string => (isAbsolute(path) ? path : join(ROOT, path));
const read = (path: string): string => readFileSync(fromRoot(path), 'utf8');

// ---------------------------------------------------------------------------------------------
// Compose model and normalization (Compose accepts several spellings for the same thing)

type Scalar = string | number | boolean | null;
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, Scalar> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: (string | number | { target: number; published?: string | number })[];
  volumes?: (string | { type?: string; source?: string; target: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  restart?: string;
  profiles?: string[];
}
interface Compose {
  version?: unknown;
  services: Record<string, Service>;
}

function loadCompose(text: string): Compose {
  const doc: unknown = parse(text, { merge: true });
  if (typeof doc !== 'object' || doc === null || typeof (doc as { services?: unknown }).services !== 'object') {
    throw new Error('docker-compose.yml has no services mapping');
  }
  return doc as Compose;
}

const COMPOSE_TEXT = read('docker-compose.yml');
const DOCKERFILE_TEXT = read('Dockerfile');
const DOCKERIGNORE_TEXT = read('.dockerignore');

const EXPECTED_SERVICES = [
  'postgres',
  'temporal-admin-tools',
  'temporal',
  'temporal-create-namespace',
  'temporal-ui',
  'scimflow-migrate',
  'scimflow-worker',
  'scimflow-api',
] as const;
const SCIMFLOW_SERVICES = ['scimflow-migrate', 'scimflow-worker', 'scimflow-api'] as const;
/** Services only `docker compose run` or `--profile <name>` starts, by profile. */
const PROFILE_SERVICES = { cli: 'tools', emulator: 'emulator', prometheus: 'monitoring', grafana: 'monitoring' } as const;
const APP_SERVICES = ['scimflow-worker', 'scimflow-api'] as const;

function service(c: Compose, name: string): Service {
  const s = c.services[name];
  if (!s) throw new Error(`service ${name} is missing`);
  return s;
}

function env(s: Service): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(s.environment)) {
    for (const entry of s.environment) {
      const eq = entry.indexOf('=');
      if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
  } else {
    for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = v === null ? '' : String(v);
  }
  return out;
}

/** depends_on as service → condition (the list form means service_started). */
function dependencies(s: Service): Record<string, string> {
  if (Array.isArray(s.depends_on)) return Object.fromEntries(s.depends_on.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([d, v]) => [d, v.condition ?? 'service_started']));
}

interface PortMapping {
  published: number | undefined;
  target: number;
}
function ports(s: Service): PortMapping[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') {
      return { target: Number(p.target), published: p.published === undefined ? undefined : Number(p.published) };
    }
    const spec = String(p).replace(/\/(tcp|udp)$/, '');
    const parts = spec.split(':');
    const target = Number(parts[parts.length - 1]);
    return { target, published: parts.length >= 2 ? Number(parts[parts.length - 2]) : undefined };
  });
}

interface Mount {
  source: string;
  target: string;
  bind: boolean;
}
function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v === 'object') {
      const source = v.source ?? '';
      return { source, target: v.target, bind: v.type === 'bind' };
    }
    const [source = '', target = ''] = v.split(':');
    return { source, target, bind: source.startsWith('.') || source.startsWith('/') };
  });
}

/** Host path behind a path inside the container, through the service's bind mounts. */
function hostPathOf(s: Service, containerPath: string): string | undefined {
  for (const m of mounts(s)) {
    if (!m.bind) continue;
    const target = m.target.replace(/\/+$/, '');
    if (containerPath === target || containerPath.startsWith(`${target}/`)) {
      return join(fromRoot(m.source), containerPath.slice(target.length));
    }
  }
  return undefined;
}

const words = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : v.split(/\s+/).filter(Boolean);
const commandLine = (s: Service): string => [...words(s.entrypoint), ...words(s.command)].join(' ');

interface ImageRef {
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}
function imageRef(image: string): ImageRef {
  const [nameAndTag = '', digest] = image.split('@');
  const slash = nameAndTag.lastIndexOf('/');
  const colon = nameAndTag.lastIndexOf(':');
  return colon > slash
    ? { repository: nameAndTag.slice(0, colon), tag: nameAndTag.slice(colon + 1), digest }
    : { repository: nameAndTag, tag: undefined, digest };
}

// ---------------------------------------------------------------------------------------------
// Compose variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $VAR, $$

interface Reference {
  name: string;
  operator: string;
  argument: string;
}
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

function references(value: string): Reference[] {
  return [...value.replace(/\$\$/g, '').matchAll(REFERENCE)].map((m) => ({
    name: m[1] ?? m[4] ?? '',
    operator: m[2] ?? '',
    argument: m[3] ?? '',
  }));
}

class MissingVariable extends Error {}

function interpolate(value: string, host: Record<string, string | undefined>): string {
  return value
    .split('$$')
    .map((part) =>
      part.replace(
        REFERENCE,
        (_all, braced: string | undefined, operator: string | undefined, argument: string | undefined, bare: string | undefined) => {
          const name = braced ?? bare ?? '';
          const v = host[name];
          const unsetOrEmpty = v === undefined || v === '';
          switch (operator) {
            case ':-':
              return unsetOrEmpty ? (argument ?? '') : v;
            case '-':
              return v === undefined ? (argument ?? '') : v;
            case ':?':
              if (unsetOrEmpty) throw new MissingVariable(`${name}: ${argument ?? ''}`);
              return v;
            case '?':
              if (v === undefined) throw new MissingVariable(`${name}: ${argument ?? ''}`);
              return v;
            default:
              return v ?? '';
          }
        },
      ),
    )
    .join('$');
}

function stringsIn(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (Array.isArray(node)) return node.flatMap(stringsIn);
  if (typeof node === 'object' && node !== null) return Object.values(node).flatMap(stringsIn);
  return [];
}

/** The environment variable names config/index.ts validates, read from its zod schema. */
function configVariableNames(source: string): string[] {
  const start = source.indexOf('const schema = z');
  const open = source.indexOf('.object({', start);
  const close = source.indexOf('\n  })', open);
  if (start < 0 || open < 0 || close < 0) return [];
  return [...source.slice(open, close).matchAll(/^ {4}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1] ?? '');
}
const CONFIG_NAMES = configVariableNames(read('config/index.ts'));

// A plausible host environment, as a user would set it in .env.
const SAMPLE_HOST_ENV = {
  SCALEKIT_WEBHOOK_SECRET: `whsec_${Buffer.from('compose-test-secret-0123456789ab').toString('base64')}`,
  OPERATOR_API_TOKEN: 'operator-token-0123456789',
};

// ---------------------------------------------------------------------------------------------
// Every documented variable: passed to the scimflow services that read it, or not for Compose

/** Names in .env.example (`NAME=`), in the README's configuration table, and in config/index.ts. */
function documentedVariables(): string[] {
  const example = [...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] ?? '');
  const readme = read('README.md');
  const start = readme.indexOf('\n## Configuration');
  const table = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const rows = table.split('\n').filter((l) => l.startsWith('| `'));
  const listed = rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1] ?? ''));
  return [...new Set([...example, ...listed, ...CONFIG_NAMES])].sort();
}
const DOCUMENTED = documentedVariables();

const ALL_SCIMFLOW = SCIMFLOW_SERVICES;
const API = ['scimflow-api'] as const;
const WORKER = ['scimflow-worker'] as const;
type Passing =
  /** Set for these services from the host or .env (empty: the default), unless `fixed` says why Compose sets it itself. */
  { services: readonly string[]; fixed?: string } | { notForCompose: string };

/** Which scimflow process reads each variable (see api/main.ts, worker/main.ts, scripts/setup.ts). */
const COMPOSE_VARIABLES: Record<string, Passing> = {
  SCALEKIT_ENVIRONMENT_URL: { services: APP_SERVICES },
  SCALEKIT_CLIENT_ID: { services: APP_SERVICES },
  SCALEKIT_CLIENT_SECRET: { services: APP_SERVICES },
  SCALEKIT_WEBHOOK_SECRET: { services: APP_SERVICES },
  OPERATOR_API_TOKEN: { services: APP_SERVICES },
  PAYLOAD_ENCRYPTION_KEYS: { services: APP_SERVICES },
  PAYLOAD_COMPRESSION: { services: APP_SERVICES },
  LOG_LEVEL: { services: APP_SERVICES },
  OTEL_EXPORTER_OTLP_ENDPOINT: { services: APP_SERVICES },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: { services: APP_SERVICES },
  OTEL_SERVICE_NAME: { notForCompose: 'each service keeps its own name on its spans (scimflow-api, scimflow-worker)' },
  DATABASE_URL: { services: ALL_SCIMFLOW, fixed: 'the postgres service' },
  TEMPORAL_ADDRESS: { services: ALL_SCIMFLOW, fixed: 'the temporal service' },
  TEMPORAL_NAMESPACE: { services: APP_SERVICES, fixed: 'the namespace temporal-create-namespace makes' },
  TEMPORAL_TASK_QUEUE: { services: APP_SERVICES, fixed: 'one queue for the one worker service' },
  APP_TASK_QUEUE: { services: APP_SERVICES },
  APP_DELIVERY_BATCH: { services: APP_SERVICES },
  APP_DELIVERY_ATTEMPTS: { services: APP_SERVICES },
  APP_WEBHOOK_URL: { services: APP_SERVICES },
  APP_WEBHOOK_SECRET: { services: APP_SERVICES },
  PORT: { services: API, fixed: 'the port published on the host and probed by the healthcheck' },
  API_HOST: { services: API },
  PUBLIC_BASE_URL: { services: API },
  TRUST_PROXY: { services: API },
  APP_READ_TOKEN: { services: API },
  SETTINGS_FRAME_ANCESTORS: { services: API },
  CODEC_LISTEN: { services: API },
  CODEC_ALLOWED_ORIGINS: { services: API },
  WORKER_ACTIVITY_SLOTS: { services: WORKER },
  WORKER_SCALEKIT_SLOTS: { services: WORKER },
  WORKER_RECONCILE_SLOTS: { services: WORKER },
  WORKER_METRICS_HOST: { services: WORKER },
  WORKER_METRICS_PORT: { services: WORKER },
  WORKER_TEMPORAL_METRICS_PORT: { services: WORKER },
  RECONCILE_FULL_INTERVAL: { services: WORKER },
  RECONCILE_DELTA_INTERVAL: { services: WORKER },
  DEPROVISION_GUARD_SHARE: { services: WORKER },
  DEPROVISION_GUARD_MIN: { services: WORKER },
  RETENTION_EVENT_PAYLOADS: { services: WORKER },
  RETENTION_EVENT_LEDGER: { services: WORKER },
  RETENTION_SYNC_RUNS: { services: WORKER },
  RETENTION_DEACTIVATED_USERS: { services: WORKER },
  RETENTION_CHANGE_RECORDS: { services: WORKER },
  RETENTION_INTERVAL: { services: WORKER },
  SCIMFLOW_DATA_DIR: { notForCompose: 'local state of `npm run dev` (its embedded PostgreSQL and Temporal dev server)' },
  TEMPORAL_CLI: { notForCompose: 'the Temporal CLI `npm run dev` runs; Compose runs the Temporal server image' },
  TEMPORAL_DEV_PORT: { notForCompose: 'a port of `npm run dev`' },
  TEMPORAL_UI_PORT: { notForCompose: 'a port of `npm run dev`' },
  EMULATOR_PORT: { notForCompose: "a port of `npm run dev` (Compose's emulator profile listens on 8280)" },
  SCIMFLOW_DEV_APP: { notForCompose: '`npm run dev` only: whether it starts the reference application beside scimflow' },
  SCIMFLOW_EXIT_WITH_PARENT: { notForCompose: 'for processes a parent starts (`npm run dev`, tests); Compose runs services' },
  SCIMFLOW_CLI_PREFIX: { notForCompose: "the CLI's own; Compose's cli service sets it to the command that runs it there" },
};

/** Problems: a documented variable Compose neither passes to its readers nor lists as not for it. */
function variablePassingProblems(c: Compose, documented: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of documented) {
    const passing = COMPOSE_VARIABLES[name];
    if (!passing) {
      problems.push(
        `${name} is documented, but not in COMPOSE_VARIABLES: pass it to the services that read it, or say why Compose does not`,
      );
      continue;
    }
    if ('notForCompose' in passing) continue;
    for (const app of passing.services) {
      const raw = env(service(c, app))[name];
      if (raw === undefined) {
        problems.push(`${app} reads ${name}, but Compose does not pass it`);
        continue;
      }
      if (passing.fixed) continue;
      // What the host (or .env) sets reaches the process.
      const value = interpolate(raw, { ...SAMPLE_HOST_ENV, [name]: 'set-on-the-host' });
      if (value !== 'set-on-the-host') problems.push(`${app}: ${name} is "${raw}", so the host's value never reaches it`);
    }
  }
  for (const name of Object.keys(COMPOSE_VARIABLES)) {
    if (!documented.includes(name)) problems.push(`COMPOSE_VARIABLES lists ${name}, which is documented nowhere`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Compose rules: each returns the problems it finds

type ComposeRule = (c: Compose) => string[];

function resolvedEnv(c: Compose, name: string, host: Record<string, string | undefined> = SAMPLE_HOST_ENV): Record<string, string> {
  return Object.fromEntries(Object.entries(env(service(c, name))).map(([k, v]) => [k, interpolate(v, host)]));
}

const composeRules = {
  servicesPresent: (c) => EXPECTED_SERVICES.filter((name) => !c.services[name]).map((name) => `service ${name} is missing`),

  noVersionKey: (c) => (c.version === undefined ? [] : ['top-level `version:` is obsolete in the Compose spec']),

  noAutoSetup: (c) =>
    Object.entries(c.services)
      .filter(([, s]) => (s.image ?? '').includes('temporalio/auto-setup'))
      .map(([name]) => `${name} uses the deprecated temporalio/auto-setup image`),

  imagesPinned: (c) =>
    Object.entries(c.services).flatMap(([name, s]) => {
      if (!s.image) return s.build ? [] : [`${name} has neither image nor build`];
      const ref = imageRef(s.image);
      if (ref.tag === 'latest') return [`${name}: image ${s.image} uses latest`];
      if (s.build) return ref.tag ? [] : [`${name}: built image ${s.image} has no tag`];
      if (ref.digest) return [];
      if (!ref.tag) return [`${name}: image ${s.image} has no tag`];
      if (!/\d/.test(ref.tag)) return [`${name}: image ${s.image} is not pinned to a version`];
      return [];
    }),

  temporalImagesConsistent: (c) => {
    const problems: string[] = [];
    const server = imageRef(service(c, 'temporal').image ?? '');
    if (server.repository !== 'temporalio/server') problems.push(`temporal runs ${server.repository}, expected temporalio/server`);
    for (const name of ['temporal-admin-tools', 'temporal-create-namespace']) {
      const tools = imageRef(service(c, name).image ?? '');
      if (tools.repository !== 'temporalio/admin-tools') problems.push(`${name} runs ${tools.repository}, expected temporalio/admin-tools`);
      // The admin tools carry the schema files for their server version: keep them in step.
      if (!server.tag || !tools.tag?.startsWith(server.tag))
        problems.push(`${name} tag ${tools.tag} does not match temporal/server ${server.tag}`);
    }
    if (imageRef(service(c, 'temporal-ui').image ?? '').repository !== 'temporalio/ui')
      problems.push('temporal-ui does not run temporalio/ui');
    if (imageRef(service(c, 'postgres').image ?? '').repository !== 'postgres') problems.push('postgres does not run the postgres image');
    return problems;
  },

  healthDependenciesHaveHealthchecks: (c) =>
    Object.entries(c.services).flatMap(([name, s]) =>
      Object.entries(dependencies(s)).flatMap(([dep, condition]) => {
        const target = c.services[dep];
        if (!target) return [`${name} depends on unknown service ${dep}`];
        if (condition === 'service_healthy' && (!target.healthcheck?.test || target.healthcheck.disable)) {
          return [`${name} waits for ${dep} to be healthy but ${dep} has no healthcheck`];
        }
        if (condition === 'service_completed_successfully' && ['always', 'unless-stopped'].includes(target.restart ?? '')) {
          return [`${name} waits for ${dep} to complete but ${dep} restarts forever`];
        }
        return [];
      }),
    ),

  temporalWiring: (c) => {
    const expected: [string, string, string][] = [
      ['temporal-admin-tools', 'postgres', 'service_healthy'],
      ['temporal', 'postgres', 'service_healthy'],
      ['temporal', 'temporal-admin-tools', 'service_completed_successfully'],
      ['temporal-create-namespace', 'temporal', 'service_healthy'],
      ['temporal-ui', 'temporal', 'service_healthy'],
    ];
    return expected
      .filter(([from, to, condition]) => dependencies(service(c, from))[to] !== condition)
      .map(([from, to, condition]) => `${from} should depend on ${to} with ${condition}`);
  },

  appWiring: (c) => {
    const expected: [string, string, string][] = [
      ['scimflow-migrate', 'postgres', 'service_healthy'],
      ...APP_SERVICES.flatMap((app): [string, string, string][] => [
        [app, 'temporal', 'service_healthy'],
        [app, 'temporal-create-namespace', 'service_completed_successfully'],
        [app, 'scimflow-migrate', 'service_completed_successfully'],
      ]),
    ];
    return expected
      .filter(([from, to, condition]) => dependencies(service(c, from))[to] !== condition)
      .map(([from, to, condition]) => `${from} should depend on ${to} with ${condition}`);
  },

  temporalServerEnvironment: (c) => {
    const e = env(service(c, 'temporal'));
    const pg = env(service(c, 'postgres'));
    const problems: string[] = [];
    if (e.DB !== 'postgres12') problems.push(`temporal DB=${e.DB}, expected postgres12`);
    if (e.BIND_ON_IP !== '0.0.0.0') problems.push(`temporal BIND_ON_IP=${e.BIND_ON_IP}, expected 0.0.0.0`);
    if (!e.POSTGRES_SEEDS || imageRef(c.services[e.POSTGRES_SEEDS]?.image ?? '').repository !== 'postgres') {
      problems.push(`temporal POSTGRES_SEEDS=${e.POSTGRES_SEEDS} is not the postgres service`);
    }
    if (e.DB_PORT !== '5432') problems.push(`temporal DB_PORT=${e.DB_PORT}, expected 5432`);
    if (e.POSTGRES_USER !== (pg.POSTGRES_USER ?? 'postgres') || e.POSTGRES_PWD !== pg.POSTGRES_PASSWORD) {
      problems.push('temporal POSTGRES_USER/POSTGRES_PWD differ from the postgres service credentials');
    }
    if (!e.DYNAMIC_CONFIG_FILE_PATH) problems.push('temporal has no DYNAMIC_CONFIG_FILE_PATH');
    return problems;
  },

  dynamicConfigOnDisk: (c) => {
    const s = service(c, 'temporal');
    const path = env(s).DYNAMIC_CONFIG_FILE_PATH;
    if (!path) return ['temporal has no DYNAMIC_CONFIG_FILE_PATH'];
    // The server resolves a relative path against its working directory, /etc/temporal.
    const inContainer = posix.isAbsolute(path) ? path : posix.join('/etc/temporal', path);
    const onHost = hostPathOf(s, inContainer);
    if (!onHost) return [`${inContainer} is not on a bind mount of the temporal service`];
    if (!existsSync(onHost)) return [`dynamic config ${onHost} does not exist`];
    const doc: unknown = parse(readFileSync(onHost, 'utf8'));
    if (typeof doc !== 'object' || doc === null) return [`${onHost} is not a YAML mapping`];
    return Object.entries(doc)
      .filter(([, values]) => !Array.isArray(values) || values.some((v: unknown) => typeof v !== 'object' || v === null || !('value' in v)))
      .map(([key]) => `${onHost}: ${key} should be a list of { value, constraints }`);
  },

  schemaJob: (c) => {
    const s = service(c, 'temporal-admin-tools');
    const e = env(s);
    const pg = env(service(c, 'postgres'));
    const problems: string[] = [];
    if (e.POSTGRES_SEEDS !== env(service(c, 'temporal')).POSTGRES_SEEDS)
      problems.push('schema job and server use different Postgres hosts');
    if (e.POSTGRES_USER !== (pg.POSTGRES_USER ?? 'postgres') || e.POSTGRES_PWD !== pg.POSTGRES_PASSWORD) {
      problems.push('schema job credentials differ from the postgres service');
    }
    const script = words(s.command)
      .concat(words(s.entrypoint))
      .find((w) => w.endsWith('.sh'));
    const hostScript = script ? hostPathOf(s, script) : undefined;
    if (!hostScript || !existsSync(hostScript)) return [...problems, `schema job script ${script} is not mounted from the repository`];
    const text = readFileSync(hostScript, 'utf8');
    const needed = [
      'temporal-sql-tool',
      '--plugin postgres12',
      'setup-schema -v 0.0',
      'update-schema -d',
      '/etc/temporal/schema/postgresql/v12',
      '/temporal/versioned',
      '/visibility/versioned',
      'prepare temporal ',
      'prepare temporal_visibility ',
    ];
    return [...problems, ...needed.filter((n) => !text.includes(n)).map((n) => `${hostScript} lacks "${n}"`)];
  },

  namespaceJob: (c) => {
    const s = service(c, 'temporal-create-namespace');
    const e = env(s);
    const problems: string[] = [];
    if (e.TEMPORAL_ADDRESS !== 'temporal:7233') problems.push(`namespace job TEMPORAL_ADDRESS=${e.TEMPORAL_ADDRESS}`);
    for (const app of APP_SERVICES) {
      const ns = env(service(c, app)).TEMPORAL_NAMESPACE ?? 'default';
      if ((e.NAMESPACE ?? 'default') !== ns) problems.push(`namespace job creates ${e.NAMESPACE}, ${app} uses ${ns}`);
    }
    const script = words(s.command)
      .concat(words(s.entrypoint))
      .find((w) => w.endsWith('.sh'));
    const hostScript = script ? hostPathOf(s, script) : undefined;
    if (!hostScript || !existsSync(hostScript)) return [...problems, `namespace job script ${script} is not mounted from the repository`];
    const text = readFileSync(hostScript, 'utf8');
    for (const needed of ['temporal operator namespace create', 'temporal operator search-attribute create']) {
      if (!text.includes(needed)) problems.push(`${hostScript} lacks "${needed}"`);
    }
    const declared = /^SEARCH_ATTRIBUTES="([^"]*)"/m.exec(text)?.[1]?.split(/\s+/) ?? [];
    for (const [name, type] of Object.entries(CUSTOM_SEARCH_ATTRIBUTES)) {
      if (!declared.includes(`${name}=${type}`)) problems.push(`${hostScript} does not register search attribute ${name} (${type})`);
    }
    return problems;
  },

  publishedPorts: (c) => {
    const problems: string[] = [];
    const has = (name: string, published: number, target: number) =>
      ports(service(c, name)).some((p) => p.published === published && p.target === target);
    const apiPort = Number(env(service(c, 'scimflow-api')).PORT ?? 3000);
    if (!has('scimflow-api', 3000, apiPort)) problems.push(`scimflow-api should publish 3000 → ${apiPort} (its PORT)`);
    if (!has('temporal-ui', 8080, 8080)) problems.push('temporal-ui should publish 8080 → 8080');
    if (!has('temporal', 7233, 7233)) problems.push('temporal should publish 7233 → 7233');
    const health = words(service(c, 'scimflow-api').healthcheck?.test).join(' ');
    if (!health.includes(`:${apiPort}/healthz`)) problems.push(`scimflow-api healthcheck does not probe :${apiPort}/healthz`);
    return problems;
  },

  appEnvironment: (c) => {
    const problems: string[] = [];
    const pg = env(service(c, 'postgres'));
    for (const name of [...APP_SERVICES, 'scimflow-migrate']) {
      const e = resolvedEnv(c, name);
      const required =
        name === 'scimflow-migrate'
          ? ['DATABASE_URL', 'TEMPORAL_ADDRESS']
          : ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'SCALEKIT_WEBHOOK_SECRET', 'OPERATOR_API_TOKEN'];
      for (const key of required) if (!e[key]) problems.push(`${name}: ${key} is not set`);
      // With TEMPORAL_ADDRESS set, scripts/setup.ts migrates without installing a Temporal CLI.
      if (e.TEMPORAL_ADDRESS !== 'temporal:7233') problems.push(`${name}: TEMPORAL_ADDRESS=${e.TEMPORAL_ADDRESS}, expected temporal:7233`);
      if (!e.DATABASE_URL) continue;
      const url = new URL(e.DATABASE_URL);
      if (imageRef(c.services[url.hostname]?.image ?? '').repository !== 'postgres') {
        problems.push(`${name}: DATABASE_URL host ${url.hostname} is not the postgres service`);
      }
      if (
        decodeURIComponent(url.username) !== (pg.POSTGRES_USER ?? 'postgres') ||
        decodeURIComponent(url.password) !== pg.POSTGRES_PASSWORD
      ) {
        problems.push(`${name}: DATABASE_URL credentials differ from the postgres service`);
      }
      if (url.pathname !== '/scimflow') problems.push(`${name}: DATABASE_URL database is ${url.pathname}, expected /scimflow`);
    }
    const urls = new Set(SCIMFLOW_SERVICES.map((name) => env(service(c, name)).DATABASE_URL));
    if (urls.size !== 1) problems.push('migrate, worker and api use different DATABASE_URLs');
    return problems;
  },

  hostVariables: (c) => {
    const problems: string[] = [];
    const refs = stringsIn(c).flatMap(references);
    for (const ref of refs) {
      if (!CONFIG_NAMES.includes(ref.name)) problems.push(`\${${ref.name}} is not a variable config/index.ts knows`);
    }
    for (const app of APP_SERVICES) {
      const raw = env(service(c, app));
      for (const key of ['SCALEKIT_WEBHOOK_SECRET', 'OPERATOR_API_TOKEN']) {
        const r = references(raw[key] ?? '');
        if (r.length !== 1 || r[0]?.name !== key || r[0].operator !== ':?' || !r[0].argument.trim()) {
          problems.push(`${app}: ${key} should be \${${key}:?<what to set>} (required, with a message)`);
        }
      }
      for (const key of ['SCALEKIT_ENVIRONMENT_URL', 'SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET']) {
        if (raw[key] !== `\${${key}:-}`) problems.push(`${app}: ${key} should be \${${key}:-} (optional, empty by default)`);
      }
    }
    return problems;
  },

  configAcceptsEnvironment: (c) => {
    const problems: string[] = [];
    for (const name of SCIMFLOW_SERVICES) {
      try {
        const config = parseConfig(resolvedEnv(c, name));
        if (config.databaseUrlIsDefault) problems.push(`${name}: config falls back to the default DATABASE_URL`);
        if (config.temporal.address !== 'temporal:7233') problems.push(`${name}: config sees Temporal at ${config.temporal.address}`);
        if (name !== 'scimflow-migrate' && config.webhookSecrets.length === 0)
          problems.push(`${name}: no webhook secret reaches the config`);
      } catch (err) {
        problems.push(`${name}: config rejects the compose environment: ${(err as Error).message}`);
      }
      // Without either required secret Compose must refuse to start the api and the worker.
      if (name === 'scimflow-migrate') continue;
      for (const key of ['SCALEKIT_WEBHOOK_SECRET', 'OPERATOR_API_TOKEN'] as const) {
        try {
          resolvedEnv(c, name, { ...SAMPLE_HOST_ENV, [key]: undefined });
          problems.push(`${name}: starts without ${key}`);
        } catch (err) {
          if (!(err instanceof MissingVariable)) throw err;
        }
      }
    }
    return problems;
  },

  variablesReachTheirReaders: (c) => variablePassingProblems(c, DOCUMENTED),

  buildsFromDockerfile: (c) => {
    const problems: string[] = [];
    const images = new Set<string | undefined>();
    for (const name of SCIMFLOW_SERVICES) {
      const s = service(c, name);
      images.add(s.image);
      const build = typeof s.build === 'string' ? { context: s.build } : s.build;
      if (!build) {
        problems.push(`${name} is not built from the repository`);
        continue;
      }
      const context = resolve(ROOT, build.context ?? '.');
      if (resolve(context) !== resolve(ROOT)) problems.push(`${name}: build context ${build.context} is not the repository root`);
      const dockerfile = join(context, build.dockerfile ?? 'Dockerfile');
      if (!existsSync(dockerfile) || !statSync(dockerfile).isFile()) problems.push(`${name}: ${dockerfile} does not exist`);
    }
    if (images.size !== 1) problems.push('migrate, worker and api should share one image');
    return problems;
  },

  commands: (c) => {
    const problems: string[] = [];
    // The image holds the build (npm run build): each process is `node dist/<entry>.js`.
    const expectations: [string, EntryPoint][] = [
      ['scimflow-api', 'api'],
      ['scimflow-worker', 'worker'],
      ['scimflow-migrate', 'setup'],
    ];
    for (const [name, entry] of expectations) {
      const line = commandLine(service(c, name));
      if (line !== `node dist/${entry}.js`) problems.push(`${name} runs "${line}"`);
      if (!existsSync(fromRoot(ENTRY_POINTS[entry]))) problems.push(`${ENTRY_POINTS[entry]} does not exist`);
    }
    return problems;
  },

  /** The profiles' services stay out of `docker compose up`, and the default stack needs none of them. */
  profilesApart: (c) => {
    const problems: string[] = [];
    for (const [name, profile] of Object.entries(PROFILE_SERVICES)) {
      const s = c.services[name];
      if (!s) problems.push(`service ${name} (profile ${profile}) is missing`);
      else if (!(s.profiles ?? []).includes(profile)) problems.push(`${name} is not in the profile ${profile}`);
    }
    for (const [name, s] of Object.entries(c.services)) {
      if (name in PROFILE_SERVICES) continue;
      if (s.profiles?.length) problems.push(`${name} is in a profile: \`docker compose up\` would leave it out`);
      for (const dep of Object.keys(dependencies(s))) {
        if (dep in PROFILE_SERVICES) problems.push(`${name} depends on ${dep}, which only a profile starts`);
      }
    }
    return problems;
  },

  /** `docker compose run --rm cli <command>`: the CLI in scimflow's image, with the api's settings, once the stack is up. */
  cliService: (c) => {
    const problems: string[] = [];
    const s = service(c, 'cli');
    const line = words(s.entrypoint).join(' ');
    if (line !== 'node dist/cli.js') problems.push(`cli's entrypoint is "${line}", not the CLI`);
    if (!existsSync(fromRoot(ENTRY_POINTS.cli))) problems.push(`${ENTRY_POINTS.cli} does not exist`);
    if (s.image !== service(c, 'scimflow-api').image) problems.push("cli does not run scimflow's image");
    if (env(s).SCIMFLOW_CLI_PREFIX !== 'docker compose run --rm cli') problems.push("cli's hints do not say `docker compose run --rm cli`");
    const mine = resolvedEnv(c, 'cli');
    const api = resolvedEnv(c, 'scimflow-api');
    for (const key of [
      'DATABASE_URL',
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TASK_QUEUE',
      'PAYLOAD_ENCRYPTION_KEYS',
      'PAYLOAD_COMPRESSION',
      'SCALEKIT_ENVIRONMENT_URL',
    ]) {
      if (mine[key] !== api[key]) problems.push(`cli: ${key} differs from the api's`);
    }
    const deps = dependencies(s);
    if (deps.temporal !== 'service_healthy') problems.push('cli should wait for temporal to be healthy');
    if (deps['scimflow-migrate'] !== 'service_completed_successfully') problems.push('cli should wait for the migrations');
    if (['always', 'unless-stopped'].includes(s.restart ?? '')) problems.push('cli restarts: a command would run again and again');
    return problems;
  },

  /** The local Scalekit: scimflow's credentials are its own, and it signs webhooks for scimflow-api. */
  /** `--profile monitoring`: Prometheus scrapes the API and the worker where they listen, with the alert rules; Grafana loads the dashboard. */
  monitoring: (c) => {
    const problems: string[] = [];
    const prom = service(c, 'prometheus');
    const configPath = hostPathOf(prom, '/etc/prometheus/prometheus.yml');
    if (!configPath || !existsSync(fromRoot(configPath))) return ['prometheus: deploy/prometheus is not mounted at /etc/prometheus'];
    const config = parse(read(configPath)) as { rule_files?: string[]; scrape_configs?: { static_configs?: { targets?: string[] }[] }[] };
    const targets = (config.scrape_configs ?? []).flatMap((j) => (j.static_configs ?? []).flatMap((sc) => sc.targets ?? []));
    const apiPort = env(service(c, 'scimflow-api')).PORT ?? 3000;
    const workerPort = resolvedEnv(c, 'scimflow-worker').WORKER_METRICS_PORT || 9464;
    for (const target of [`scimflow-api:${apiPort}`, `scimflow-worker:${workerPort}`]) {
      if (!targets.includes(target)) problems.push(`prometheus does not scrape ${target}`);
    }
    if (!(config.rule_files ?? []).includes('alerts.yml')) problems.push('prometheus does not load the alert rules (alerts.yml)');
    const grafana = service(c, 'grafana');
    const dashboard = hostPathOf(grafana, '/var/lib/grafana/dashboards/scimflow.json');
    if (!dashboard || !existsSync(fromRoot(dashboard))) problems.push('grafana does not mount deploy/grafana/scimflow.json');
    if (!hostPathOf(grafana, '/etc/grafana/provisioning/dashboards/scimflow.yml')) problems.push('grafana has no provisioning');
    return problems;
  },

  emulatorService: (c) => {
    const problems: string[] = [];
    const s = service(c, 'emulator');
    const args = [...words(s.entrypoint), ...words(s.command)];
    const line = args.join(' ');
    if (!/^node dist\/emulator\.js( |$)/.test(line)) problems.push(`emulator runs "${line}"`);
    if (!existsSync(fromRoot(ENTRY_POINTS.emulator))) problems.push(`${ENTRY_POINTS.emulator} does not exist`);
    const option = (name: string) => {
      const i = args.indexOf(name);
      return i >= 0 ? args[i + 1] : undefined;
    };
    // Reachable from the other containers, and from the host for its control API.
    if (option('--host') !== '0.0.0.0') problems.push('emulator listens only inside its container (--host 0.0.0.0)');
    const port = Number(option('--port') ?? 8280);
    if (!ports(s).some((p) => p.target === port)) problems.push(`emulator does not publish its port ${port}`);
    if (!args.includes('--seed-demo')) problems.push('emulator starts without the demo organization (--seed-demo)');
    const apiPort = Number(env(service(c, 'scimflow-api')).PORT ?? 3000);
    if (option('--webhook-url') !== `http://scimflow-api:${apiPort}/webhooks/scalekit`)
      problems.push(`emulator delivers webhooks to ${option('--webhook-url')}, not to scimflow-api`);
    if (dependencies(s)['scimflow-api'] !== 'service_healthy') problems.push('emulator should wait for scimflow-api to be healthy');
    // The credentials the app services are given are the emulator's own.
    const raw = env(s);
    for (const [key, from] of [
      ['SCALEKIT_EMULATOR_CLIENT_ID', 'SCALEKIT_CLIENT_ID'],
      ['SCALEKIT_EMULATOR_CLIENT_SECRET', 'SCALEKIT_CLIENT_SECRET'],
      ['SCALEKIT_EMULATOR_WEBHOOK_SECRET', 'SCALEKIT_WEBHOOK_SECRET'],
    ] as const) {
      const host = { ...SAMPLE_HOST_ENV, [from]: 'from-the-host' };
      if (interpolate(raw[key] ?? '', host) !== interpolate(env(service(c, 'scimflow-worker'))[from] ?? '', host))
        problems.push(`emulator: ${key} is not what scimflow-worker gets as ${from}`);
    }
    return problems;
  },
} satisfies Record<string, ComposeRule>;

type ComposeRuleName = keyof typeof composeRules;

// ---------------------------------------------------------------------------------------------
// Dockerfile rules

interface Instruction {
  keyword: string;
  args: string;
}

function instructions(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  if (current) logical.push(current);
  return logical.map((l) => {
    const [keyword = '', ...rest] = l.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

type DockerfileRule = (text: string, dockerignore: string) => string[];

const dockerfileRules = {
  debianNodeBase: (text) => {
    const froms = instructions(text).filter((i) => i.keyword === 'FROM');
    if (froms.length === 0) return ['no FROM'];
    const engines = (JSON.parse(read('package.json')) as { engines?: { node?: string } }).engines?.node ?? '>=20';
    const [minMajor = 20, minMinor = 0] = (/>=\s*(\d+)(?:\.(\d+))?/.exec(engines) ?? []).slice(1).map(Number);
    return froms.flatMap(({ args }) => {
      const image = args.split(/\s+/).find((w) => !w.startsWith('--')) ?? '';
      if (/alpine/i.test(image)) return [`${image}: Alpine (musl) cannot load Temporal's native worker`];
      const m = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)(?:\.(\d+))?[\w.]*-(bookworm|bullseye|trixie)(?:-slim)?$/.exec(image);
      if (!m) return [`${image}: expected a Debian-based node image such as node:20-bookworm-slim`];
      const major = Number(m[1]);
      const minor = m[2] === undefined ? undefined : Number(m[2]);
      if (major !== 20) return [`${image}: expected Node 20`];
      if (minor !== undefined && (major < minMajor || (major === minMajor && minor < minMinor)))
        return [`${image}: older than engines ${engines}`];
      return [];
    });
  },

  npmCiWithLayerCaching: (text) => {
    const list = instructions(text);
    const manifests = list.findIndex(
      (i) => i.keyword === 'COPY' && /\bpackage\.json\b/.test(i.args) && /\bpackage-lock\.json\b/.test(i.args),
    );
    const ci = list.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    const source = list.findIndex((i) => i.keyword === 'COPY' && /^(--\S+\s+)*\.\s+\S+$/.test(i.args));
    const problems: string[] = [];
    if (ci < 0) problems.push('dependencies are not installed with `npm ci`');
    if (manifests < 0) problems.push('package.json and package-lock.json are not copied on their own');
    if (source < 0) problems.push('the source is not copied (COPY . …)');
    if (ci >= 0 && manifests >= 0 && !(manifests < ci)) problems.push('npm ci runs before the manifests are copied');
    if (ci >= 0 && source >= 0 && !(ci < source)) problems.push('the source is copied before npm ci: every change reinstalls dependencies');
    return problems;
  },

  nonRootUser: (text) => {
    const list = instructions(text);
    const lastFrom = list.map((i) => i.keyword).lastIndexOf('FROM');
    const user = list
      .slice(lastFrom + 1)
      .filter((i) => i.keyword === 'USER')
      .pop()
      ?.args.split(':')[0];
    if (!user) return ['the final stage runs as root (no USER)'];
    if (user === 'root' || user === '0') return [`the final stage runs as ${user}`];
    return [];
  },

  dockerignore: (_text, ignore) => {
    const patterns = ignore.split('\n').map((l) => l.trim().replace(/^\/+|\/+$/g, ''));
    return ['node_modules', '.git', '.env', '.tools', '.data']
      .filter((p) => !patterns.includes(p))
      .map((p) => `.dockerignore does not exclude ${p}`);
  },
} satisfies Record<string, DockerfileRule>;

type DockerfileRuleName = keyof typeof dockerfileRules;

// ---------------------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  const compose = loadCompose(COMPOSE_TEXT);

  it('reads the variable names from config/index.ts', () => {
    for (const name of [
      'DATABASE_URL',
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TASK_QUEUE',
      'SCALEKIT_WEBHOOK_SECRET',
      'OPERATOR_API_TOKEN',
      'SCALEKIT_ENVIRONMENT_URL',
      'SCALEKIT_CLIENT_ID',
      'SCALEKIT_CLIENT_SECRET',
      'PORT',
      'LOG_LEVEL',
    ]) {
      expect(CONFIG_NAMES).toContain(name);
    }
    // Cross-check the regex against the module: parseConfig reads every name it found (e.NAME).
    const source = read('config/index.ts');
    expect(CONFIG_NAMES.filter((name) => !source.includes(`e.${name}`))).toEqual([]);
  });

  it.each(Object.keys(composeRules) as ComposeRuleName[])('%s', (rule) => {
    expect(composeRules[rule](compose)).toEqual([]);
  });

  it('finds the documented variables in .env.example, the README and config/index.ts', () => {
    for (const name of [
      'RETENTION_SYNC_RUNS',
      'WORKER_SCALEKIT_SLOTS',
      'TRUST_PROXY',
      'SETTINGS_FRAME_ANCESTORS',
      'EMULATOR_PORT',
      'SCIMFLOW_EXIT_WITH_PARENT',
    ]) {
      expect(DOCUMENTED).toContain(name);
    }
  });

  it('a variable documented later, and not classified, is a problem', () => {
    expect(variablePassingProblems(compose, [...DOCUMENTED, 'NEW_SETTING'])).toContain(
      'NEW_SETTING is documented, but not in COMPOSE_VARIABLES: pass it to the services that read it, or say why Compose does not',
    );
  });
});

describe('Dockerfile and .dockerignore', () => {
  it.each(Object.keys(dockerfileRules) as DockerfileRuleName[])('%s', (rule) => {
    expect(dockerfileRules[rule](DOCKERFILE_TEXT, DOCKERIGNORE_TEXT)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// The rules can fail: each mutation breaks a copy of the real file and one rule must notice.

function mutated(edit: (c: Compose) => void): Compose {
  const copy = structuredClone(loadCompose(COMPOSE_TEXT));
  edit(copy);
  return copy;
}
const setEnv = (c: Compose, name: string, key: string, value: string | undefined) => {
  const s = service(c, name);
  const e = env(s);
  if (value === undefined) delete e[key];
  else e[key] = value;
  s.environment = e;
};

const composeMutations: [string, ComposeRuleName, (c: Compose) => void][] = [
  [
    'the UI is gone',
    'servicesPresent',
    (c) => {
      delete c.services['temporal-ui'];
    },
  ],
  [
    'a version key',
    'noVersionKey',
    (c) => {
      c.version = '3.8';
    },
  ],
  [
    'auto-setup comes back',
    'noAutoSetup',
    (c) => {
      service(c, 'temporal').image = 'temporalio/auto-setup:1.29.7';
    },
  ],
  [
    'postgres floats',
    'imagesPinned',
    (c) => {
      service(c, 'postgres').image = 'postgres:latest';
    },
  ],
  [
    'the UI has no tag',
    'imagesPinned',
    (c) => {
      service(c, 'temporal-ui').image = 'temporalio/ui';
    },
  ],
  [
    'admin tools from another release',
    'temporalImagesConsistent',
    (c) => {
      service(c, 'temporal-admin-tools').image = 'temporalio/admin-tools:1.30.6';
    },
  ],
  [
    'temporal has no healthcheck',
    'healthDependenciesHaveHealthchecks',
    (c) => {
      delete service(c, 'temporal').healthcheck;
    },
  ],
  [
    'migrate restarts forever',
    'healthDependenciesHaveHealthchecks',
    (c) => {
      service(c, 'scimflow-migrate').restart = 'unless-stopped';
    },
  ],
  [
    'temporal starts before its schema',
    'temporalWiring',
    (c) => {
      service(c, 'temporal').depends_on = {
        postgres: { condition: 'service_healthy' },
        'temporal-admin-tools': { condition: 'service_started' },
      };
    },
  ],
  [
    'temporal does not wait for postgres',
    'temporalWiring',
    (c) => {
      service(c, 'temporal').depends_on = ['temporal-admin-tools'];
    },
  ],
  [
    'the api skips migrations',
    'appWiring',
    (c) => {
      delete (service(c, 'scimflow-api').depends_on as Record<string, unknown>)['scimflow-migrate'];
    },
  ],
  [
    'the worker does not wait for the namespace',
    'appWiring',
    (c) => {
      delete (service(c, 'scimflow-worker').depends_on as Record<string, unknown>)['temporal-create-namespace'];
    },
  ],
  ['temporal on another store', 'temporalServerEnvironment', (c) => setEnv(c, 'temporal', 'DB', 'mysql8')],
  ['temporal binds loopback', 'temporalServerEnvironment', (c) => setEnv(c, 'temporal', 'BIND_ON_IP', '127.0.0.1')],
  ['postgres password changed on one side', 'temporalServerEnvironment', (c) => setEnv(c, 'postgres', 'POSTGRES_PASSWORD', 'other')],
  [
    'dynamic config file missing',
    'dynamicConfigOnDisk',
    (c) => setEnv(c, 'temporal', 'DYNAMIC_CONFIG_FILE_PATH', 'config/dynamicconfig/missing.yaml'),
  ],
  [
    'dynamic config not mounted',
    'dynamicConfigOnDisk',
    (c) => {
      service(c, 'temporal').volumes = [];
    },
  ],
  [
    'schema job script not mounted',
    'schemaJob',
    (c) => {
      service(c, 'temporal-admin-tools').volumes = [];
    },
  ],
  ['schema job with other credentials', 'schemaJob', (c) => setEnv(c, 'temporal-admin-tools', 'POSTGRES_USER', 'temporal')],
  ['namespace job for another namespace', 'namespaceJob', (c) => setEnv(c, 'temporal-create-namespace', 'NAMESPACE', 'scimflow')],
  [
    'api port not published',
    'publishedPorts',
    (c) => {
      service(c, 'scimflow-api').ports = [];
    },
  ],
  [
    'UI on another host port',
    'publishedPorts',
    (c) => {
      service(c, 'temporal-ui').ports = ['8088:8080'];
    },
  ],
  ['api listens elsewhere', 'publishedPorts', (c) => setEnv(c, 'scimflow-api', 'PORT', '4000')],
  [
    'DATABASE_URL points at a host that is not a service',
    'appEnvironment',
    (c) => setEnv(c, 'scimflow-worker', 'DATABASE_URL', 'postgres://postgres:postgres@db:5432/scimflow'),
  ],
  [
    'DATABASE_URL with the wrong database',
    'appEnvironment',
    (c) => setEnv(c, 'scimflow-api', 'DATABASE_URL', 'postgres://postgres:postgres@postgres:5432/postgres'),
  ],
  ['TEMPORAL_ADDRESS on localhost', 'appEnvironment', (c) => setEnv(c, 'scimflow-api', 'TEMPORAL_ADDRESS', '127.0.0.1:7233')],
  ['migrate without TEMPORAL_ADDRESS', 'appEnvironment', (c) => setEnv(c, 'scimflow-migrate', 'TEMPORAL_ADDRESS', undefined)],
  ['operator token missing', 'appEnvironment', (c) => setEnv(c, 'scimflow-api', 'OPERATOR_API_TOKEN', undefined)],
  ['a host variable config does not know', 'hostVariables', (c) => setEnv(c, 'scimflow-api', 'EXTRA', '${POSTGRES_PASSWORD}')],
  [
    'webhook secret made optional',
    'hostVariables',
    (c) => setEnv(c, 'scimflow-worker', 'SCALEKIT_WEBHOOK_SECRET', '${SCALEKIT_WEBHOOK_SECRET:-}'),
  ],
  [
    'client secret made required',
    'hostVariables',
    (c) => setEnv(c, 'scimflow-api', 'SCALEKIT_CLIENT_SECRET', '${SCALEKIT_CLIENT_SECRET:?}'),
  ],
  ['a malformed webhook secret', 'configAcceptsEnvironment', (c) => setEnv(c, 'scimflow-api', 'SCALEKIT_WEBHOOK_SECRET', 'not-a-secret')],
  [
    'api starts without secrets',
    'configAcceptsEnvironment',
    (c) => setEnv(c, 'scimflow-api', 'SCALEKIT_WEBHOOK_SECRET', '${SCALEKIT_WEBHOOK_SECRET:-}'),
  ],
  [
    'the worker loses a retention period',
    'variablesReachTheirReaders',
    (c) => setEnv(c, 'scimflow-worker', 'RETENTION_SYNC_RUNS', undefined),
  ],
  ['the worker slots fixed in the file', 'variablesReachTheirReaders', (c) => setEnv(c, 'scimflow-worker', 'WORKER_SCALEKIT_SLOTS', '10')],
  ['TRUST_PROXY only for the worker', 'variablesReachTheirReaders', (c) => setEnv(c, 'scimflow-api', 'TRUST_PROXY', undefined)],
  [
    'worker pulls instead of building',
    'buildsFromDockerfile',
    (c) => {
      delete service(c, 'scimflow-worker').build;
    },
  ],
  [
    'build points at a missing Dockerfile',
    'buildsFromDockerfile',
    (c) => {
      service(c, 'scimflow-api').build = { context: '.', dockerfile: 'Dockerfile.missing' };
    },
  ],
  [
    'migrate runs something else',
    'commands',
    (c) => {
      service(c, 'scimflow-migrate').command = ['npm', 'run', 'migrate'];
    },
  ],
  [
    'worker runs the api',
    'commands',
    (c) => {
      service(c, 'scimflow-worker').command = ['node', 'dist/api.js'];
    },
  ],
  [
    'the emulator joins the default stack',
    'profilesApart',
    (c) => {
      delete service(c, 'emulator').profiles;
    },
  ],
  [
    'the api waits for the CLI',
    'profilesApart',
    (c) => {
      service(c, 'scimflow-api').depends_on = {
        ...(service(c, 'scimflow-api').depends_on as Record<string, { condition?: string }>),
        cli: {},
      };
    },
  ],
  [
    'the CLI runs the worker',
    'cliService',
    (c) => {
      service(c, 'cli').entrypoint = ['node', 'dist/worker.js'];
    },
  ],
  [
    'prometheus without the rules',
    'monitoring',
    (c) => {
      service(c, 'prometheus').volumes = [];
    },
  ],
  [
    'grafana without the dashboard',
    'monitoring',
    (c) => {
      service(c, 'grafana').volumes = ['./deploy/grafana/provisioning:/etc/grafana/provisioning:ro'];
    },
  ],
  ["the CLI's hints name npm", 'cliService', (c) => setEnv(c, 'cli', 'SCIMFLOW_CLI_PREFIX', undefined)],
  [
    'the CLI talks to another database',
    'cliService',
    (c) => setEnv(c, 'cli', 'DATABASE_URL', 'postgres://postgres:postgres@elsewhere:5432/scimflow'),
  ],
  [
    'the CLI restarts forever',
    'cliService',
    (c) => {
      service(c, 'cli').restart = 'unless-stopped';
    },
  ],
  [
    'the emulator listens on its loopback',
    'emulatorService',
    (c) => {
      service(c, 'emulator').command = words(service(c, 'emulator').command).map((w) => (w === '0.0.0.0' ? '127.0.0.1' : w));
    },
  ],
  [
    'the emulator delivers to itself',
    'emulatorService',
    (c) => {
      service(c, 'emulator').command = words(service(c, 'emulator').command).map((w) => w.replace('scimflow-api', 'emulator'));
    },
  ],
  [
    'the emulator makes up its own client secret',
    'emulatorService',
    (c) => setEnv(c, 'emulator', 'SCALEKIT_EMULATOR_CLIENT_SECRET', undefined),
  ],
];

const dockerfileMutations: [string, DockerfileRuleName, (text: string) => string][] = [
  ['Alpine base', 'debianNodeBase', (t) => t.replace(/^FROM .*$/m, 'FROM node:20.20-alpine')],
  ['Node 18', 'debianNodeBase', (t) => t.replace(/^FROM .*$/m, 'FROM node:18-bookworm-slim')],
  ['npm install instead of npm ci', 'npmCiWithLayerCaching', (t) => t.replace(/npm ci\b/g, 'npm install')],
  ['source copied before install', 'npmCiWithLayerCaching', (t) => t.replace('COPY package.json package-lock.json ./', 'COPY . .')],
  ['runs as root', 'nonRootUser', (t) => t.replace(/^USER .*$/m, 'USER root')],
  ['no USER', 'nonRootUser', (t) => t.replace(/^USER .*$/m, '')],
];

describe('each rule fails on a broken copy', () => {
  it('every compose and Dockerfile rule has at least one mutation', () => {
    const covered = new Set<string>([
      ...composeMutations.map(([, rule]) => rule),
      ...dockerfileMutations.map(([, rule]) => rule),
      'dockerignore',
    ]);
    expect([...Object.keys(composeRules), ...Object.keys(dockerfileRules)].filter((r) => !covered.has(r))).toEqual([]);
  });

  it.each(composeMutations)('%s → %s', (_label, rule, edit) => {
    const broken = mutated(edit);
    expect(composeRules[rule](broken)).not.toEqual([]);
  });

  it.each(dockerfileMutations)('%s → %s', (_label, rule, edit) => {
    const broken = edit(DOCKERFILE_TEXT);
    expect(broken).not.toBe(DOCKERFILE_TEXT);
    expect(dockerfileRules[rule](broken, DOCKERIGNORE_TEXT)).not.toEqual([]);
  });

  it('dockerignore: a context that ships .env → dockerignore', () => {
    expect(dockerfileRules.dockerignore(DOCKERFILE_TEXT, DOCKERIGNORE_TEXT.replace(/^\.env$/m, ''))).not.toEqual([]);
  });
});
