import { connectNodeAdapter } from '@connectrpc/connect-node';
import { randomInt } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { nowNs } from './clock';
import { handleControlRequest } from './control-api';
import { generateWebhookSecret, randomSecret, TokenIssuer, type TokenStats } from './credentials';
import { DeliveryEngine, type DeliveryLogEntry, type EmittedEvent, type FaultOptions } from './delivery';
import { DirectoryStore } from './directory-store';
import { generateLarge, seedDemo, type GenerateLargeOptions, type GenerateLargeResult, type SeedDemoOptions } from './generators';
import { createGrpcRoutes } from './grpc-services';
import { Portal } from './portal';
import { IdFactory, Rng } from './random';
import { readState, restoreOrganizations, saveOrganizations, STATE_VERSION, writeState } from './state';
import type {
  AddDirectoryInput,
  CreateGroupInput,
  CreateOrganizationInput,
  CreateUserInput,
  DirectoryOptions,
  DirectorySnapshot,
  DirectoryView,
  EmitOptions,
  GroupView,
  OrganizationView,
  RoleAssignmentInput,
  UpdateGroupInput,
  UpdateUserInput,
  UserView,
} from './types';
import { buildPayload, type EventDraft } from './webhook-payloads';

/** Options of {@link startEmulator}. Everything is optional. */
export interface EmulatorOptions {
  /** TCP port; 0 (the default here) picks a free one. The CLI defaults to 8280. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** OAuth client id accepted by `POST /oauth/token`; generated (`skc_…`) when absent. */
  clientId?: string;
  /** OAuth client secret; generated when absent. */
  clientSecret?: string;
  /** Webhook signing secrets (`whsec_<base64>`); each delivery carries one `v1,` signature per secret. */
  webhookSecrets?: string[];
  /** Where webhooks go; none are delivered until one is set. */
  webhookUrl?: string | null;
  /** Multiplies the retry schedule (0.0001 turns its ~27 h into ~10 s); default 1. */
  timeScale?: number;
  /** Seed of ids, generated data and fault decisions; default 1. */
  seed?: number;
  /** Access token lifetime; default 86399 s like Scalekit's. */
  tokenTtlSeconds?: number;
  /** Portal link validity; default 60 s. */
  portalLinkTtlSeconds?: number;
  /** Portal session length once a link is opened; default 6 h. */
  portalSessionSeconds?: number;
  /** Per-attempt webhook timeout; default 15000 ms. */
  deliveryTimeoutMs?: number;
  /** Attempts in flight at once; default 1, which keeps the delivery log reproducible. */
  deliveryConcurrency?: number;
  /** `environment_id` of every event; default derived from the seed. */
  environmentId?: string;
  /**
   * What a Directory API `page_size` above 30 does: 'reject' (InvalidArgument, as the SDK's
   * descriptors declare `lte: 30`) or 'cap' (serve 30). Default 'reject'.
   */
  oversizedPageSize?: 'reject' | 'cap';
  /** Faults active from the start. */
  faults?: FaultOptions;
  /** Called after every delivery attempt (for progress output). */
  onDeliveryAttempt?: (entry: DeliveryLogEntry) => void;
  /**
   * A JSON file holding the emulator's state across restarts: loaded at start when it exists,
   * written (atomically) shortly after every change and on close. Organizations, directories,
   * users, groups, memberships, role assignments, the id sequences, the webhook URL and the
   * deliveries still to be made are kept; the event history and the delivery log are not.
   */
  stateFile?: string;
  /**
   * Ids (and webhook message ids) that never repeat across starts, even when the state file is
   * lost: each id is at least the current time. Default: on with `stateFile`, else off (then one
   * seed gives one sequence of ids).
   */
  uniqueIds?: boolean;
  /** Queue webhooks (and saved deliveries) but send nothing until `resumeDeliveries()`. */
  holdDeliveries?: boolean;
}

export interface EmulatorStats {
  tokens: TokenStats;
  /** gRPC calls received per method name (including refused ones). */
  rpcCalls: Record<string, number>;
  eventsEmitted: number;
}

/**
 * A running local Scalekit. Point the SDK at `url` with `clientId`/`clientSecret`; script the
 * directory with the methods below (each sends the webhooks Scalekit would); wait for deliveries
 * with `settled()`.
 */
export interface EmulatorHandle {
  /** `http://127.0.0.1:<port>`: SCALEKIT_ENVIRONMENT_URL. */
  readonly url: string;
  readonly port: number;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly webhookSecrets: readonly string[];
  readonly environmentId: string;
  readonly webhookUrl: string | null;
  /** True when the state was loaded from `stateFile` (a restart), false when it started empty. */
  readonly restored: boolean;

  createOrganization(input: CreateOrganizationInput, options?: EmitOptions): OrganizationView;
  listOrganizations(): OrganizationView[];
  createUser(organizationId: string, input: CreateUserInput, options?: EmitOptions): UserView;
  updateUser(organizationId: string, userId: string, patch: UpdateUserInput, options?: EmitOptions): UserView;
  deleteUser(organizationId: string, userId: string, options?: EmitOptions): void;
  getUser(organizationId: string, userId: string): UserView;
  createGroup(organizationId: string, input: CreateGroupInput, options?: EmitOptions): GroupView;
  updateGroup(organizationId: string, groupId: string, patch: UpdateGroupInput, options?: EmitOptions): GroupView;
  deleteGroup(organizationId: string, groupId: string, options?: EmitOptions): void;
  getGroup(organizationId: string, groupId: string): GroupView;
  /** Replaces one user's groups (one user_updated with the full groups[]). */
  setUserGroups(organizationId: string, userId: string, groupIds: string[], options?: EmitOptions): UserView;
  /** Replaces one group's members (a user_updated per user whose groups changed). */
  setGroupMembers(organizationId: string, groupId: string, userIds: string[], options?: EmitOptions): GroupView;
  /**
   * Adds a directory to the organization (it then has several; users and groups go to one with
   * `directoryId`). Enabled by default, which sends `directory_enabled`.
   */
  addDirectory(organizationId: string, input?: AddDirectoryInput, options?: EmitOptions): DirectoryView;
  /** Deletes a directory with its users and groups; sends nothing (the Directory API stops listing it). */
  deleteDirectory(organizationId: string, directoryId: string): void;
  /** Returns false when the directory already was in that state (nothing sent). Default: the primary directory. */
  setDirectoryEnabled(organizationId: string, enabled: boolean, options?: DirectoryOptions): boolean;
  /**
   * While hidden, GetDirectory answers NotFound for a directory ListDirectories still lists (as
   * an eventually consistent service can for a moment). Sends nothing.
   */
  setDirectoryDetailsHidden(organizationId: string, directoryId: string, hidden: boolean): void;
  setRoleAssignments(
    organizationId: string,
    assignments: RoleAssignmentInput[],
    options?: DirectoryOptions & { emitUserUpdates?: boolean },
  ): RoleAssignmentInput[];
  /** Makes a portal link, like GeneratePortalLink. */
  createPortalLink(organizationId: string): { id: string; location: string; expireTime: string };

  setWebhookUrl(url: string | null): void;
  /** Starts sending webhooks held by `holdDeliveries`. */
  resumeDeliveries(): void;
  /** Writes the state to `stateFile` now (it is also written shortly after each change, and on close). */
  saveState(): void;
  setFaults(faults: FaultOptions): void;
  getFaults(): FaultOptions;
  /** Every delivery attempt so far, in order. */
  deliveryLog(): DeliveryLogEntry[];
  clearDeliveryLog(): void;
  /** Every event emitted so far (delivered or not), in order. */
  events(): EmittedEvent[];
  /** Resolves when nothing is waiting to be delivered; rejects after `timeoutMs` if given. */
  settled(timeoutMs?: number): Promise<void>;

  /** The demo organization (about 50 users, 6 groups, role assignments); no webhooks by default. */
  seedDemo(options?: SeedDemoOptions): OrganizationView;
  /** A large directory (default 100,000 users, 1,000 groups); no webhooks by default. */
  generateLarge(options?: GenerateLargeOptions): GenerateLargeResult;
  /** What the Directory API would show for one organization. */
  snapshot(organizationId: string): DirectorySnapshot;
  stats(): EmulatorStats;
  /** Drops all organizations, links, queued deliveries, the log and faults; keeps URL and secrets. */
  reset(): void;
  close(): Promise<void>;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The implementation behind {@link EmulatorHandle}; internal (use startEmulator). */
export class Emulator implements EmulatorHandle {
  url = '';
  port = 0;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly webhookSecrets: readonly string[];
  readonly environmentId: string;
  webhookUrl: string | null;
  restored = false;

  readonly store: DirectoryStore;
  readonly tokens: TokenIssuer;
  readonly delivery: DeliveryEngine;
  readonly portal: Portal;
  private readonly emitted: EmittedEvent[] = [];
  private readonly eventIds: IdFactory;
  private readonly msgRng: Rng;
  private readonly rpcCounts = new Map<string, number>();
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private http1: http.Server | undefined;
  private h2: http2.Http2Server | undefined;
  private saveTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(readonly options: EmulatorOptions) {
    const seed = options.seed ?? 1;
    const uniqueIds = options.uniqueIds ?? options.stateFile !== undefined;
    // Unique ids: message ids and generated dp_ids from a seed of this start, not the fixed one.
    const startSeed = uniqueIds ? randomInt(2 ** 31) : seed;
    this.clientId = options.clientId ?? `skc_${new IdFactory(seed ^ 0xc11e).next('')}`;
    this.clientSecret = options.clientSecret ?? `emu_sec_${randomSecret(24)}`;
    this.webhookSecrets = Object.freeze([...(options.webhookSecrets ?? [generateWebhookSecret()])]);
    for (const s of this.webhookSecrets) {
      if (!/^whsec_[A-Za-z0-9+/=]+$/.test(s)) throw new Error('webhook secrets must look like whsec_<base64>');
    }
    this.environmentId = options.environmentId ?? new IdFactory(seed ^ 0xe7).next('env_');
    this.webhookUrl = options.webhookUrl ?? null;
    this.eventIds = new IdFactory(seed ^ 0xe0e0, { timeBased: uniqueIds });
    this.msgRng = new Rng(startSeed ^ 0x356);
    this.store = new DirectoryStore(seed, (draft) => this.emit(draft), { uniqueIds, uuidSeed: startSeed });
    this.tokens = new TokenIssuer(this.clientId, this.clientSecret, options.tokenTtlSeconds ?? 86_399);
    this.delivery = new DeliveryEngine({
      secrets: () => this.webhookSecrets,
      timeScale: options.timeScale ?? 1,
      timeoutMs: options.deliveryTimeoutMs ?? 15_000,
      seed,
      concurrency: options.deliveryConcurrency ?? 1,
      paused: options.holdDeliveries === true,
      onChange: () => this.stateChanged(),
      ...(options.onDeliveryAttempt ? { onAttempt: options.onDeliveryAttempt } : {}),
    });
    if (options.faults) this.delivery.setFaults(options.faults);
    this.portal = new Portal(
      this.store,
      { linkTtlSeconds: options.portalLinkTtlSeconds ?? 60, sessionSeconds: options.portalSessionSeconds ?? 6 * 3600 },
      () => this.url,
    );
    if (options.stateFile) this.loadState(options.stateFile);
    this.store.onChange = () => this.stateChanged();
  }

  // --- state across restarts ----------------------------------------------------------------------

  private loadState(file: string): void {
    const saved = readState(file);
    if (!saved) return;
    restoreOrganizations(this.store, saved.organizations);
    this.store.ids.restore(saved.ids.directory);
    this.eventIds.restore(saved.ids.events);
    if (this.options.webhookUrl === undefined) this.webhookUrl = saved.webhookUrl;
    this.delivery.restorePending(saved.pendingDeliveries ?? []);
    this.restored = true;
  }

  /** A change: the state is written within a quarter of a second (one write for a burst of changes). */
  private stateChanged(): void {
    if (!this.options.stateFile || this.closed || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saveState();
    }, 250);
  }

  saveState(): void {
    const file = this.options.stateFile;
    if (!file) return;
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    try {
      writeState(file, {
        version: STATE_VERSION,
        savedAt: new Date().toISOString(),
        ids: { directory: this.store.ids.position, events: this.eventIds.position },
        webhookUrl: this.webhookUrl,
        organizations: saveOrganizations(this.store),
        pendingDeliveries: this.delivery.pending(),
      });
    } catch (err) {
      process.stderr.write(`emulator: could not save its state to ${file}: ${(err as Error).message}\n`);
    }
  }

  resumeDeliveries(): void {
    this.delivery.resume();
  }

  private emit(draft: EventDraft): void {
    const id = this.eventIds.next('evt_');
    const webhookId = `msg_${Array.from({ length: 27 }, () => BASE62[this.msgRng.int(0, 61)]).join('')}`;
    const payload = buildPayload(draft, id, nowNs(), this.environmentId);
    const event: EmittedEvent = {
      id,
      webhookId,
      type: payload.type,
      organizationId: payload.organization_id,
      occurredAt: payload.occurred_at,
      payload,
      body: JSON.stringify(payload),
    };
    this.emitted.push(event);
    if (this.webhookUrl) this.delivery.enqueue(event, this.webhookUrl);
  }

  // --- network --------------------------------------------------------------------------------

  async listen(): Promise<void> {
    const grpc = createGrpcRoutes({
      store: this.store,
      tokens: this.tokens,
      baseUrl: () => this.url,
      createPortalLink: (orgId) => this.portal.createLink(orgId),
      oversizedPageSize: this.options.oversizedPageSize ?? 'reject',
      rpcCounts: this.rpcCounts,
    });
    const h2 = http2.createServer(connectNodeAdapter({ routes: grpc.routes, interceptors: grpc.interceptors }));
    h2.on('session', (s) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
    });
    const http1 = http.createServer((req, res) => {
      handleControlRequest(this, req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'internal', message: (err as Error).message }));
      });
    });
    this.h2 = h2;
    this.http1 = http1;

    const server = net.createServer((socket) => this.route(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as net.AddressInfo;
    this.port = address.port;
    const host = this.options.host && !['0.0.0.0', '::'].includes(this.options.host) ? this.options.host : '127.0.0.1';
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  /** One port, two protocols: the HTTP/2 preface goes to the gRPC server, anything else to HTTP/1.1. */
  private route(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const preface = Buffer.from('PRI * HTTP/2.0');
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, preface.length);
      const isH2 = seen.subarray(0, n).equals(preface.subarray(0, n));
      if (isH2 && seen.length < preface.length) return; // need more bytes to decide
      socket.off('data', onData);
      socket.pause();
      socket.unshift(seen);
      if (isH2) {
        // http2 replays the socket's buffered bytes into its session on the next tick; resuming
        // here would spill them as 'data' events first.
        this.h2?.emit('connection', socket);
      } else {
        this.http1?.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }

  async close(): Promise<void> {
    if (!this.closed) this.saveState();
    this.closed = true;
    this.delivery.close();
    for (const s of this.sessions) s.destroy();
    this.http1?.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  // --- control ----------------------------------------------------------------------------------

  createOrganization(input: CreateOrganizationInput, options?: EmitOptions): OrganizationView {
    return this.store.createOrganization(input, options);
  }

  listOrganizations(): OrganizationView[] {
    return [...this.store.organizations.values()].map((o) => this.store.organizationView(o));
  }

  createUser(organizationId: string, input: CreateUserInput, options?: EmitOptions): UserView {
    return this.store.createUser(organizationId, input, options);
  }

  updateUser(organizationId: string, userId: string, patch: UpdateUserInput, options?: EmitOptions): UserView {
    return this.store.updateUser(organizationId, userId, patch, options);
  }

  deleteUser(organizationId: string, userId: string, options?: EmitOptions): void {
    this.store.deleteUser(organizationId, userId, options);
  }

  getUser(organizationId: string, userId: string): UserView {
    return this.store.getUser(organizationId, userId);
  }

  createGroup(organizationId: string, input: CreateGroupInput, options?: EmitOptions): GroupView {
    return this.store.createGroup(organizationId, input, options);
  }

  updateGroup(organizationId: string, groupId: string, patch: UpdateGroupInput, options?: EmitOptions): GroupView {
    return this.store.updateGroup(organizationId, groupId, patch, options);
  }

  deleteGroup(organizationId: string, groupId: string, options?: EmitOptions): void {
    this.store.deleteGroup(organizationId, groupId, options);
  }

  getGroup(organizationId: string, groupId: string): GroupView {
    return this.store.getGroup(organizationId, groupId);
  }

  setUserGroups(organizationId: string, userId: string, groupIds: string[], options?: EmitOptions): UserView {
    return this.store.setUserGroups(organizationId, userId, groupIds, options);
  }

  setGroupMembers(organizationId: string, groupId: string, userIds: string[], options?: EmitOptions): GroupView {
    return this.store.setGroupMembers(organizationId, groupId, userIds, options);
  }

  addDirectory(organizationId: string, input?: AddDirectoryInput, options?: EmitOptions): DirectoryView {
    return this.store.addDirectory(organizationId, input, options);
  }

  deleteDirectory(organizationId: string, directoryId: string): void {
    this.store.deleteDirectory(organizationId, directoryId);
  }

  setDirectoryEnabled(organizationId: string, enabled: boolean, options?: DirectoryOptions): boolean {
    return this.store.setDirectoryEnabled(organizationId, enabled, options);
  }

  setDirectoryDetailsHidden(organizationId: string, directoryId: string, hidden: boolean): void {
    this.store.setDirectoryDetailsHidden(organizationId, directoryId, hidden);
  }

  setRoleAssignments(
    organizationId: string,
    assignments: RoleAssignmentInput[],
    options?: DirectoryOptions & { emitUserUpdates?: boolean },
  ): RoleAssignmentInput[] {
    return this.store.setRoleAssignments(organizationId, assignments, options);
  }

  createPortalLink(organizationId: string): { id: string; location: string; expireTime: string } {
    const link = this.portal.createLink(this.store.organization(organizationId).id);
    return { id: link.id, location: link.location, expireTime: new Date(Number(link.expireNs / 1_000_000n)).toISOString() };
  }

  setWebhookUrl(url: string | null): void {
    if (url !== null) {
      const parsed = new URL(url);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('webhook URL must be http(s)');
    }
    this.webhookUrl = url;
    this.stateChanged();
  }

  setFaults(faults: FaultOptions): void {
    this.delivery.setFaults(faults);
  }

  getFaults(): FaultOptions {
    return this.delivery.getFaults();
  }

  deliveryLog(): DeliveryLogEntry[] {
    return this.delivery.entries();
  }

  clearDeliveryLog(): void {
    this.delivery.clearLog();
  }

  events(): EmittedEvent[] {
    return [...this.emitted];
  }

  settled(timeoutMs?: number): Promise<void> {
    const done = this.delivery.settled();
    if (timeoutMs === undefined) return done;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`webhook deliveries not settled after ${timeoutMs} ms`)), timeoutMs);
      done.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err as Error);
        },
      );
    });
  }

  seedDemo(options?: SeedDemoOptions): OrganizationView {
    return seedDemo(this.store, options);
  }

  generateLarge(options?: GenerateLargeOptions): GenerateLargeResult {
    return generateLarge(this.store, options);
  }

  snapshot(organizationId: string): DirectorySnapshot {
    return this.store.snapshot(organizationId);
  }

  stats(): EmulatorStats {
    return {
      tokens: { ...this.tokens.stats },
      rpcCalls: Object.fromEntries(this.rpcCounts),
      eventsEmitted: this.emitted.length,
    };
  }

  reset(): void {
    this.store.reset();
    this.portal.reset();
    this.delivery.cancelAll();
    this.delivery.clearLog();
    this.delivery.setFaults({});
    this.emitted.length = 0;
  }
}

/**
 * Starts a local Scalekit on 127.0.0.1 (gRPC Directory/Organization services, `/oauth/token`,
 * the admin portal and the `/_emulator` control API, all on one port).
 *
 * @example
 * const emulator = await startEmulator({ webhookUrl: 'http://127.0.0.1:3000/webhooks/scalekit', timeScale: 0.001 });
 * const scalekit = new ScalekitClient(emulator.url, emulator.clientId, emulator.clientSecret);
 * const org = emulator.seedDemo();
 * emulator.createUser(org.id, { email: 'new.hire@acme.example', givenName: 'New', familyName: 'Hire' });
 * await emulator.settled();
 * await emulator.close();
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const emulator = new Emulator(options);
  await emulator.listen();
  return emulator;
}
