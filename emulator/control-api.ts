import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Emulator } from './emulator';
import { renderPortalPage } from './portal';
import { DIRECTORY_PROVIDERS, EmulatorError } from './types';

/**
 * Everything on the HTTP/1.1 side of the port: Scalekit's `POST /oauth/token` (and an empty
 * `/keys`), the admin portal pages, and the emulator's own control API under `/_emulator`, a
 * prefix Scalekit never uses. Control requests and responses are JSON in the same camelCase
 * shapes as the in-process methods.
 */

const CONTROL_PREFIX = '/_emulator';
const MAX_BODY = 16 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'payload_too_large', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const text = await readBody(req);
  let json: unknown = {};
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'invalid_json', 'request body is not valid JSON');
    }
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
      .join('; ');
    throw new HttpError(400, 'invalid_argument', detail);
  }
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------
// Schemas of control requests

const record = z.record(z.string(), z.unknown());
const profileShape = {
  email: z.string().min(1),
  preferredUsername: z.string(),
  givenName: z.string(),
  familyName: z.string(),
  name: z.string(),
  nickname: z.string(),
  picture: z.string(),
  profile: z.string(),
  phoneNumber: z.string(),
  locale: z.string(),
  language: z.string(),
  zoneinfo: z.string(),
  employeeId: z.string(),
  department: z.string(),
  costCenter: z.string(),
  division: z.string(),
  title: z.string(),
  userType: z.string(),
  organization: z.string(),
  address: record,
  customAttributes: record,
  rawAttributes: record,
  dpId: z.string().min(1),
};
type ProfileKey = keyof typeof profileShape;
const optionalProfile = Object.fromEntries(Object.entries(profileShape).map(([k, v]) => [k, v.optional()])) as {
  [K in ProfileKey]: z.ZodOptional<(typeof profileShape)[K]>;
};
const nullableProfile = Object.fromEntries(Object.entries(profileShape).map(([k, v]) => [k, v.nullable().optional()])) as {
  [K in ProfileKey]: z.ZodOptional<z.ZodNullable<(typeof profileShape)[K]>>;
};

const createUserSchema = z
  .object({
    ...optionalProfile,
    email: z.string().min(1),
    active: z.boolean().optional(),
    groupIds: z.array(z.string()).optional(),
    directoryId: z.string().min(1).optional(),
  })
  .strict();
const updateUserSchema = z.object({ ...nullableProfile, active: z.boolean().optional() }).strict();
const createOrganizationSchema = z
  .object({
    displayName: z.string().min(1),
    externalId: z.string().min(1).optional(),
    provider: z.enum(DIRECTORY_PROVIDERS).optional(),
    directoryEnabled: z.boolean().optional(),
    directoryName: z.string().min(1).optional(),
  })
  .strict();
const addDirectorySchema = z
  .object({ provider: z.enum(DIRECTORY_PROVIDERS).optional(), name: z.string().min(1).optional(), enabled: z.boolean().optional() })
  .strict();
const createGroupSchema = z
  .object({
    displayName: z.string().min(1),
    directoryId: z.string().min(1).optional(),
    externalId: z.string().nullable().optional(),
    dpId: z.string().min(1).optional(),
    rawAttributes: record.optional(),
    memberIds: z.array(z.string()).optional(),
  })
  .strict();
const updateGroupSchema = z
  .object({ displayName: z.string().min(1).optional(), externalId: z.string().nullable().optional(), rawAttributes: record.optional() })
  .strict();
const userGroupsSchema = z.object({ groupIds: z.array(z.string()) }).strict();
const groupMembersSchema = z.object({ userIds: z.array(z.string()) }).strict();
const directorySchema = z.object({ enabled: z.boolean() }).strict();
const directoryDetailsSchema = z.object({ hidden: z.boolean() }).strict();
const roleAssignmentsSchema = z
  .object({
    assignments: z.array(z.object({ groupId: z.string(), roleName: z.string() }).strict()),
    emitUserUpdates: z.boolean().optional(),
    directoryId: z.string().min(1).optional(),
  })
  .strict();
const webhookSchema = z.object({ url: z.string().url().nullable() }).strict();
const faultsSchema = z
  .object({
    seed: z.number().int().optional(),
    dropRate: z.number().min(0).max(1).optional(),
    duplicateRate: z.number().min(0).max(1).optional(),
    reorderWindow: z.number().int().min(0).optional(),
    delayRate: z.number().min(0).max(1).optional(),
    delayMinMs: z.number().min(0).optional(),
    delayMaxMs: z.number().min(0).optional(),
  })
  .strict();
const seedDemoSchema = z
  .object({
    seed: z.number().int().optional(),
    displayName: z.string().min(1).optional(),
    externalId: z.string().min(1).optional(),
    provider: z.enum(DIRECTORY_PROVIDERS).optional(),
    emitWebhooks: z.boolean().optional(),
  })
  .strict();
const generateLargeSchema = z
  .object({
    users: z.number().int().min(0).max(2_000_000).optional(),
    groups: z.number().int().min(0).max(100_000).optional(),
    seed: z.number().int().optional(),
    organizationId: z.string().optional(),
    directoryId: z.string().min(1).optional(),
    directories: z.number().int().min(1).max(20).optional(),
    displayName: z.string().min(1).optional(),
    externalId: z.string().min(1).optional(),
    provider: z.enum(DIRECTORY_PROVIDERS).optional(),
    minGroupsPerUser: z.number().int().min(0).optional(),
    maxGroupsPerUser: z.number().int().min(0).optional(),
    roleAssignedGroups: z.number().int().min(0).optional(),
    emitWebhooks: z.boolean().optional(),
  })
  .strict();
const portalDirectorySchema = z.object({ enabled: z.boolean() }).strict();

/** Drops keys whose value is undefined (exactOptionalPropertyTypes-friendly inputs). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

// ---------------------------------------------------------------------------------------------

type Handler = (ctx: { req: IncomingMessage; res: ServerResponse; params: string[]; url: URL; emu: Emulator }) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

const ID = '([A-Za-z0-9_-]+)';
const routes: Route[] = [];
function route(method: string, path: string, handler: Handler): void {
  routes.push({ method, pattern: new RegExp(`^${path.replaceAll(':id', ID)}$`), handler });
}

function emitOption(url: URL): { emit: boolean } {
  return { emit: url.searchParams.get('emit') !== 'false' };
}

function param(params: string[], i: number): string {
  return params[i] ?? '';
}

// Scalekit's own HTTP/1.1 endpoints ------------------------------------------------------------

route('POST', '/oauth/token', async ({ req, res, emu }) => {
  const form = new URLSearchParams(await readBody(req));
  let clientId = form.get('client_id') ?? '';
  let clientSecret = form.get('client_secret') ?? '';
  const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (basic && !clientId) {
    const [id = '', secret = ''] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
    clientId = decodeURIComponent(id);
    clientSecret = decodeURIComponent(secret);
  }
  if (form.get('grant_type') !== 'client_credentials') {
    send(res, 400, { error: 'unsupported_grant_type', error_description: 'grant_type must be client_credentials' });
    return;
  }
  const token = emu.tokens.issue(clientId, clientSecret);
  if (!token) {
    send(res, 401, { error: 'invalid_client', error_description: 'unknown client id or bad client secret' });
    return;
  }
  send(res, 200, { access_token: token.accessToken, token_type: 'Bearer', expires_in: token.expiresIn, scope: 'openid' });
});

route('GET', '/keys', async ({ res }) => send(res, 200, { keys: [] }));

// Admin portal ---------------------------------------------------------------------------------

route('GET', '/portal/:id', async ({ res, params, url, emu }) => {
  const result = emu.portal.open(param(params, 0), url.searchParams.get('token'));
  const html = renderPortalPage(emu.portal.pageConfig(result));
  res.writeHead(result.state === 'ok' ? 200 : 410, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
  });
  res.end(html);
});

route('POST', '/portal/session/:id/directory', async ({ req, res, params, emu }) => {
  const body = await readJson(req, portalDirectorySchema);
  const result = emu.portal.setDirectoryEnabled(param(params, 0), body.enabled);
  send(res, result.status, result.body);
});

// Control API ----------------------------------------------------------------------------------

const P = CONTROL_PREFIX;
const ORG = `${P}/organizations/:id`;

route('GET', P, async ({ res, emu }) =>
  send(res, 200, {
    url: emu.url,
    environmentId: emu.environmentId,
    clientId: emu.clientId,
    webhookUrl: emu.webhookUrl,
    faults: emu.getFaults(),
    organizations: emu.listOrganizations().length,
    stats: emu.stats(),
  }),
);
route('POST', `${P}/reset`, async ({ res, emu }) => {
  emu.reset();
  send(res, 200, { reset: true });
});

route('GET', `${P}/organizations`, async ({ res, emu }) => send(res, 200, { organizations: emu.listOrganizations() }));
route('POST', `${P}/organizations`, async ({ req, res, url, emu }) => {
  const body = await readJson(req, createOrganizationSchema);
  send(res, 201, emu.createOrganization(defined(body), emitOption(url)));
});
route('GET', ORG, async ({ res, params, emu }) => send(res, 200, emu.snapshot(param(params, 0))));

route('POST', `${ORG}/users`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, createUserSchema);
  send(res, 201, emu.createUser(param(params, 0), defined(body), emitOption(url)));
});
route('GET', `${ORG}/users/:id`, async ({ res, params, emu }) => send(res, 200, emu.getUser(param(params, 0), param(params, 1))));
route('PATCH', `${ORG}/users/:id`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, updateUserSchema);
  send(res, 200, emu.updateUser(param(params, 0), param(params, 1), defined(body), emitOption(url)));
});
route('DELETE', `${ORG}/users/:id`, async ({ res, params, url, emu }) => {
  emu.deleteUser(param(params, 0), param(params, 1), emitOption(url));
  send(res, 200, { deleted: true });
});
route('PUT', `${ORG}/users/:id/groups`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, userGroupsSchema);
  send(res, 200, emu.setUserGroups(param(params, 0), param(params, 1), body.groupIds, emitOption(url)));
});

route('POST', `${ORG}/groups`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, createGroupSchema);
  send(res, 201, emu.createGroup(param(params, 0), defined(body), emitOption(url)));
});
route('GET', `${ORG}/groups/:id`, async ({ res, params, emu }) => send(res, 200, emu.getGroup(param(params, 0), param(params, 1))));
route('PATCH', `${ORG}/groups/:id`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, updateGroupSchema);
  send(res, 200, emu.updateGroup(param(params, 0), param(params, 1), defined(body), emitOption(url)));
});
route('DELETE', `${ORG}/groups/:id`, async ({ res, params, url, emu }) => {
  emu.deleteGroup(param(params, 0), param(params, 1), emitOption(url));
  send(res, 200, { deleted: true });
});
route('PUT', `${ORG}/groups/:id/members`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, groupMembersSchema);
  send(res, 200, emu.setGroupMembers(param(params, 0), param(params, 1), body.userIds, emitOption(url)));
});

route('PUT', `${ORG}/directory`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, directorySchema);
  const changed = emu.setDirectoryEnabled(param(params, 0), body.enabled, emitOption(url));
  send(res, 200, { enabled: body.enabled, changed });
});
route('GET', `${ORG}/directories`, async ({ res, params, emu }) =>
  send(res, 200, { directories: emu.snapshot(param(params, 0)).directories }),
);
route('POST', `${ORG}/directories`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, addDirectorySchema);
  send(res, 201, emu.addDirectory(param(params, 0), defined(body), emitOption(url)));
});
route('PUT', `${ORG}/directories/:id`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, directorySchema);
  const changed = emu.setDirectoryEnabled(param(params, 0), body.enabled, { ...emitOption(url), directoryId: param(params, 1) });
  send(res, 200, { enabled: body.enabled, changed });
});
route('PUT', `${ORG}/directories/:id/details`, async ({ req, res, params, emu }) => {
  const body = await readJson(req, directoryDetailsSchema);
  emu.setDirectoryDetailsHidden(param(params, 0), param(params, 1), body.hidden);
  send(res, 200, { hidden: body.hidden });
});
route('DELETE', `${ORG}/directories/:id`, async ({ res, params, emu }) => {
  emu.deleteDirectory(param(params, 0), param(params, 1));
  send(res, 200, { deleted: true });
});
route('PUT', `${ORG}/role-assignments`, async ({ req, res, params, url, emu }) => {
  const body = await readJson(req, roleAssignmentsSchema);
  const assignments = emu.setRoleAssignments(param(params, 0), body.assignments, {
    ...emitOption(url),
    emitUserUpdates: body.emitUserUpdates === true,
    ...(body.directoryId ? { directoryId: body.directoryId } : {}),
  });
  send(res, 200, { assignments });
});
route('POST', `${ORG}/portal-links`, async ({ res, params, emu }) => send(res, 201, emu.createPortalLink(param(params, 0))));

route('GET', `${P}/webhook`, async ({ res, emu }) => send(res, 200, { url: emu.webhookUrl }));
route('PUT', `${P}/webhook`, async ({ req, res, emu }) => {
  const body = await readJson(req, webhookSchema);
  emu.setWebhookUrl(body.url);
  send(res, 200, { url: emu.webhookUrl });
});
route('GET', `${P}/faults`, async ({ res, emu }) => send(res, 200, emu.getFaults()));
route('PUT', `${P}/faults`, async ({ req, res, emu }) => {
  const body = await readJson(req, faultsSchema);
  emu.setFaults(defined(body));
  send(res, 200, emu.getFaults());
});

route('GET', `${P}/deliveries`, async ({ res, url, emu }) => {
  let entries = emu.deliveryLog();
  const eventId = url.searchParams.get('eventId');
  if (eventId) entries = entries.filter((e) => e.eventId === eventId);
  send(res, 200, { deliveries: entries, settled: emu.delivery.isSettled() });
});
route('DELETE', `${P}/deliveries`, async ({ res, emu }) => {
  emu.clearDeliveryLog();
  send(res, 200, { cleared: true });
});
route('POST', `${P}/deliveries/settle`, async ({ res, url, emu }) => {
  const timeoutMs = Number(url.searchParams.get('timeoutMs') ?? 30_000);
  try {
    await emu.settled(Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : 30_000);
    send(res, 200, { settled: true });
  } catch {
    send(res, 408, { settled: false, error: 'timeout', message: `deliveries still pending after ${timeoutMs} ms` });
  }
});
route('GET', `${P}/events`, async ({ res, url, emu }) => {
  const org = url.searchParams.get('organizationId');
  const events = emu.events().filter((e) => !org || e.organizationId === org);
  send(res, 200, { events: events.map((e) => e.payload) });
});

route('POST', `${P}/seed/demo`, async ({ req, res, emu }) => {
  const body = await readJson(req, seedDemoSchema);
  send(res, 201, emu.seedDemo(defined(body)));
});
route('POST', `${P}/seed/large`, async ({ req, res, emu }) => {
  const body = await readJson(req, generateLargeSchema);
  send(res, 201, emu.generateLarge(defined(body)));
});

/**
 * The control API has no authentication (it binds 127.0.0.1), so no web page may drive it: a
 * browser sends a page's cross-site request without asking (no CORS preflight) only with a
 * form or text/plain body, or none, and always with an Origin header. Bodies must be JSON, and
 * another site's Origin is refused.
 */
function refuseBrowserRequest(emu: Emulator, req: IncomingMessage): HttpError | null {
  if (req.method === 'GET' || req.method === 'HEAD') return null;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== new URL(emu.url).origin) {
    return new HttpError(403, 'forbidden', 'the control API does not answer web pages of other sites');
  }
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (hasBody && type !== 'application/json') {
    return new HttpError(415, 'unsupported_media_type', 'control requests are JSON: send Content-Type: application/json');
  }
  return null;
}

/** Handles one HTTP/1.1 request. */
export async function handleControlRequest(emu: Emulator, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://emulator.local');
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
  let pathMatched = false;
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    pathMatched = true;
    if (r.method !== req.method) continue;
    const refused = path.startsWith(CONTROL_PREFIX) ? refuseBrowserRequest(emu, req) : null;
    if (refused) {
      req.resume();
      send(res, refused.status, { error: refused.code, message: refused.message });
      return;
    }
    try {
      await r.handler({ req, res, params: m.slice(1), url, emu });
    } catch (err) {
      if (err instanceof HttpError) send(res, err.status, { error: err.code, message: err.message });
      else if (err instanceof EmulatorError) send(res, err.httpStatus, { error: err.code, message: err.message });
      else if (err instanceof RangeError || err instanceof TypeError) send(res, 400, { error: 'invalid_argument', message: err.message });
      else throw err;
    }
    return;
  }
  if (pathMatched) send(res, 405, { error: 'method_not_allowed', message: `${req.method} is not allowed on ${path}` });
  else send(res, 404, { error: 'not_found', message: `no route for ${req.method} ${path}` });
}
