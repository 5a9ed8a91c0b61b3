import { createHmac, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../../db/connection';
import { MAX_WEBHOOK_BYTES } from '../../api/raw-body';
import { decodeSecret } from '../../scalekit/webhook';
import { freePort } from '../../scripts/lib/ports';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';
import { counterValue } from '../support/metrics';

/**
 * Scalekit retries a 5xx a few times over hours and then drops the event: a 5xx that is not an
 * outage loses it. Whatever a signed body holds, while PostgreSQL and Temporal are up it is answered
 * 202 (accepted, ignored or quarantined) and recorded once, and a redelivery of it changes no row.
 */

let stack: Stack;
let key: Buffer;
beforeAll(async () => {
  // Hundreds of large events at once on a busy machine: Temporal may take seconds to answer, and
  // that is not what these tests are about (an unreachable Temporal is: temporal-outage.test.ts).
  stack = await startStack({ deliverTimeoutMs: 60_000 });
  key = decodeSecret(stack.secret);
});
afterAll(async () => stack?.stop());

const run = randomBytes(4).toString('hex');
let sequence = 0;
const next = () => (sequence += 1);

/** Standard Webhooks headers over raw bytes (random bytes are no UTF-8 string to hand a library). */
function signed(body: Buffer, webhookId: string): Record<string, string> {
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = createHmac('sha256', key).update(`${webhookId}.${ts}.`).update(body).digest('base64');
  return { 'content-type': 'application/json', 'webhook-id': webhookId, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` };
}

async function post(
  body: Buffer,
  webhookId: string,
): Promise<{ status: number; json: { status?: string; eventId?: string; reason?: string } }> {
  const res = await fetch(`${stack.baseUrl}/webhooks/scalekit`, { method: 'POST', headers: signed(body, webhookId), body });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as { status?: string; eventId?: string }) : {} };
}

const ledgerRows = (ids: string[]) =>
  stack.database
    .db('directory_events')
    .whereIn('id', ids)
    .select('id', 'outcome', 'duplicate_count', 'detail', 'raw_body', 'payload') as Promise<
    { id: string; outcome: string; duplicate_count: number; detail: string | null; raw_body: string | null; payload: unknown }[]
  >;

describe('deliveries that were answered 503', () => {
  it('quarantines a non-JSON body that starts with a NUL byte, and counts its redelivery', async () => {
    const body = Buffer.from('\u0000{"id": "evt_nul"}', 'utf8');
    const webhookId = `msg_nul_${run}`;
    const first = await post(body, webhookId);
    expect(first).toMatchObject({ status: 202, json: { status: 'quarantined', eventId: `delivery:${webhookId}` } });
    expect(first.json.reason).toMatch(/^body is not valid JSON/);
    expect(first.json.reason).not.toContain('\u0000');
    expect((await post(body, webhookId)).status).toBe(202);
    const [row] = await ledgerRows([`delivery:${webhookId}`]);
    expect(row).toMatchObject({ outcome: 'quarantined', duplicate_count: 1, raw_body: '\uFFFD{"id": "evt_nul"}' });
  });

  it('quarantines an invalid envelope nested 5,000 deep, keeping its raw body', async () => {
    const depth = 5_000;
    const body = Buffer.from(
      `{"id":"evt_deep_${run}","type":"organization.directory.user_created","data":${'['.repeat(depth)}${']'.repeat(depth)}}`,
    );
    const res = await post(body, `msg_deep_${run}`);
    expect(res).toMatchObject({ status: 202, json: { status: 'quarantined', eventId: `evt_deep_${run}` } });
    const [row] = await ledgerRows([`evt_deep_${run}`]);
    expect(row).toMatchObject({ outcome: 'quarantined', payload: null, raw_body: body.toString() });
  });

  it('records an unknown event type whose organization id is too long for the index', async () => {
    const id = `evt_org_${run}`;
    const body = Buffer.from(
      JSON.stringify({
        id,
        type: 'organization.sso_enabled',
        occurred_at: nanoTime(0),
        organization_id: randomBytes(4_000).toString('hex'),
        data: {},
      }),
    );
    const res = await post(body, `msg_org_${run}`);
    expect(res).toMatchObject({ status: 202, json: { status: 'ignored', eventId: id } });
    expect(await ledgerRows([id])).toMatchObject([{ outcome: 'ignored' }]);
  });

  it('keys a signed delivery with an unusable event id and an overlong message id by a hash of the message id', async () => {
    const webhookId = `msg_${'x'.repeat(8_000)}_${run}`;
    const body = Buffer.from(
      JSON.stringify({
        id: 'evt_\u0000',
        type: 'organization.directory.user_created',
        occurred_at: nanoTime(0),
        organization_id: 'org_1',
        data: { id: 'diruser_1' },
      }),
    );
    const res = await post(body, webhookId);
    expect(res).toMatchObject({
      status: 202,
      json: { status: 'quarantined', eventId: expect.stringMatching(/^delivery:sha256:[0-9a-f]{64}$/) },
    });
    expect((await post(body, webhookId)).json.eventId).toBe(res.json.eventId);
    expect(await ledgerRows([res.json.eventId as string])).toMatchObject([{ duplicate_count: 1 }]);
  });
});

describe('the webhook address', () => {
  it('answers 405 to anything but POST', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetch(`${stack.baseUrl}/webhooks/scalekit`, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('counts an upload the client aborts as the client’s, not as an outage, and logs no error', async () => {
    const before = await counterValue(stack.metrics.webhookDeliveries, { status: '400', result: 'aborted' });
    const url = new URL(stack.baseUrl);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        // Asking for "100 Continue": Node's server answers it as it hands the request to the app,
        // so once it arrives the API is reading the body, whatever the machine's load.
        socket.write(
          `POST /webhooks/scalekit HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n`,
        );
      });
      let answer = '';
      socket.on('data', (d: Buffer) => {
        answer += d.toString('latin1');
        if (!answer.startsWith('HTTP/1.1 100 Continue\r\n')) return;
        // A first part of the body, then gone mid-upload.
        socket.write('{"id": "evt_', () => socket.destroy());
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    await eventually(
      async () => (await counterValue(stack.metrics.webhookDeliveries, { status: '400', result: 'aborted' })) === before + 1,
      {
        timeoutMs: 60_000,
      },
    );
    expect(await counterValue(stack.metrics.webhookDeliveries, { status: '500', result: 'unavailable' })).toBe(0);
    const lines = stack.logs.map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(lines.some((l) => l.msg.includes('aborted by the client'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Generated signed deliveries

/** JSON text: composed by hand so that bodies can hold what JSON.stringify would never write. */
type Json = string;
const object = (fields: [string, Json][]): Json => `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

const ORGS = [0, 1, 2].map((i) => `org_pb${run}${i}`);
const EVENT_ID = '"@EVENT_ID@"';

// Hostile but storable: what a valid event may carry and still be applied.
const oddChar = fc.constantFrom('\u2028', '\u0001', '"', '\\', '\uffff', '\ufeff', '😀', '\u00e9', '<', "'", '\u200b');
const oddText = fc.array(fc.oneof(oddChar, fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 12 }).map((p) => p.join(''));
const nested = (max: number) =>
  fc
    .tuple(fc.integer({ min: 1, max }), fc.boolean())
    .map(([n, arrays]) => (arrays ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`));
const hugeArray = fc.integer({ min: 100, max: 5_000 }).map((n) => `[${new Array<string>(n).fill('0').join(',')}]`);
// Past the 2.7 kB of an index entry at most lengths, yet small enough for thousands of deliveries on a busy machine.
const longText = (min: number) => fc.integer({ min, max: 5_000 }).map((n) => JSON.stringify('é'.repeat(n)));
const oddValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), weight: 6 },
  { arbitrary: oddText.map((s) => JSON.stringify(s)), weight: 6 },
  { arbitrary: fc.constantFrom('1e308', '-0', '12345678901234567890123', '0.1e-320', '{}', '[]', 'null', '"__proto__"'), weight: 2 },
  { arbitrary: nested(60), weight: 1 },
  { arbitrary: hugeArray, weight: 1 },
  { arbitrary: longText(1), weight: 1 },
);
const oddFields = fc.array(fc.tuple(fc.oneof(oddText, fc.constantFrom('__proto__', 'constructor', 'type', '')), oddValue), {
  maxLength: 3,
});
/** Extra envelope fields: never a second "id" (the last one wins), which would make deliveries share one. */
const envelopeExtras = oddFields.map((fields) => fields.filter(([k]) => k !== 'id'));

// What Postgres cannot store, or nothing may recurse over.
const unstorableChar = fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d');
const unstorableText = fc.tuple(oddText, unstorableChar, oddText).map(([a, b, c]) => a + b + c);
const deep = fc
  .tuple(fc.integer({ min: 65, max: 2_000 }), fc.boolean())
  .map(([n, arrays]) => (arrays ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`));
const unstorableValue = fc.oneof(
  unstorableText.map((s) => JSON.stringify(s)),
  deep,
);
const anyValue = fc.oneof({ arbitrary: oddValue, weight: 4 }, { arbitrary: unstorableValue, weight: 1 });

const userData = fc
  .record({
    user: fc.integer({ min: 0, max: 30 }),
    email: fc.oneof(fc.emailAddress(), oddText, fc.constant('')),
    given: oddText,
    groups: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
    roles: fc.array(
      oddText.filter((r) => r.length > 0),
      { maxLength: 2 },
    ),
    active: fc.option(fc.boolean()),
    extra: oddFields,
  })
  .map(({ user, email, given, groups, roles, active, extra }): [string, Json][] => [
    ['id', JSON.stringify(`diruser_${user}`)],
    ['email', JSON.stringify(email)],
    ['given_name', JSON.stringify(given)],
    [
      'groups',
      `[${groups
        .map((g) =>
          object([
            ['id', JSON.stringify(`dirgroup_${g}`)],
            ['name', JSON.stringify(`Group ${g}`)],
          ]),
        )
        .join(',')}]`,
    ],
    ['roles', `[${roles.map((r) => object([['role_name', JSON.stringify(r)]])).join(',')}]`],
    ...(active === null ? [] : ([['active', String(active)]] as [string, Json][])),
    ...extra,
  ]);
const groupData = fc
  .record({ group: fc.integer({ min: 0, max: 5 }), name: oddText, extra: oddFields })
  .map(({ group, name, extra }): [string, Json][] => [
    ['id', JSON.stringify(`dirgroup_${group}`)],
    ['display_name', JSON.stringify(name)],
    ...extra,
  ]);
const directoryData = oddFields.map((extra): [string, Json][] => [['id', '"dir_1"'], ['provider', '"OKTA"'], ...extra]);

/** One way to spoil a valid envelope (or none). */
const breakage = fc.option(
  fc.oneof(
    fc.record({
      kind: fc.constant('id' as const),
      value: fc.oneof(
        unstorableText.map((s) => JSON.stringify(s)),
        longText(129),
        fc.constant('""'),
        fc.constant('42'),
        deep,
      ),
    }),
    fc.record({
      kind: fc.constant('type' as const),
      value: fc.oneof(oddText, unstorableText, fc.constant('organization.sso_enabled')).map((t) => JSON.stringify(t)),
    }),
    fc.record({ kind: fc.constant('occurred_at' as const), value: anyValue }),
    fc.record({
      kind: fc.constant('organization_id' as const),
      value: fc.oneof(
        oddText.map((s) => JSON.stringify(s)),
        longText(129),
        anyValue,
      ),
    }),
    fc.record({ kind: fc.constant('data' as const), value: anyValue }),
    fc.record({ kind: fc.constant('drop' as const), value: fc.constantFrom('id', 'type', 'occurred_at', 'data', 'organization_id') }),
    fc.record({
      kind: fc.constant('extra' as const),
      value: fc.tuple(fc.oneof(oddText, unstorableText), unstorableValue).map(([k, v]) => object([[k, v]])),
    }),
    fc.record({
      kind: fc.constant('inData' as const),
      value: fc.tuple(fc.oneof(oddText, unstorableText), unstorableValue).map(([k, v]) => object([[k, v]])),
    }),
  ),
  { freq: 2 },
);

const KNOWN = Object.values(T);
const envelopeBody = fc
  .record({
    type: fc.constantFrom(...KNOWN),
    ms: fc.integer({ min: 0, max: 10_000_000 }),
    org: fc.constantFrom(...ORGS),
    userData,
    groupData,
    directoryData,
    extra: envelopeExtras,
    breakage,
  })
  .map((g) => {
    const b = g.breakage;
    let data = g.type.includes('.user_') ? g.userData : g.type.includes('.group_') ? g.groupData : g.directoryData;
    if (b?.kind === 'inData') data = [...data, ['x', b.value]];
    const fields: [string, Json][] = [
      ['spec_version', '"1"'],
      ['id', EVENT_ID],
      ['type', JSON.stringify(g.type)],
      ['occurred_at', JSON.stringify(nanoTime(g.ms, g.ms % 1000))],
      ['environment_id', '"env_1"'],
      ['organization_id', JSON.stringify(g.org)],
      ['data', object(data)],
      ...g.extra,
    ];
    const spoiled = fields
      .filter(([k]) => !(b?.kind === 'drop' && k === b.value))
      .map(([k, v]): [string, Json] => (b && b.kind === k ? [k, b.value] : [k, v]));
    if (b?.kind === 'extra') spoiled.push(['x', b.value]);
    return object(spoiled);
  });

const delivery: fc.Arbitrary<Buffer | string> = fc.oneof(
  { arbitrary: envelopeBody, weight: 16 },
  { arbitrary: fc.uint8Array({ maxLength: 3_000 }).map((b) => Buffer.from(b)), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('', '\u0000', '\ufeff', '{', '['), fc.oneof(oddText, unstorableText), anyValue)
      .map(([a, b, c]) => a + b + c),
    weight: 2,
  },
  { arbitrary: fc.oneof(deep, hugeArray, longText(1), anyValue), weight: 1 },
);

/** For a failure's message: what the API logged as an error last. */
const recentErrors = () =>
  stack.logs
    .filter((l) => l.includes('"level":"error"'))
    .slice(-3)
    .join('\n');

interface Sent {
  eventId: string;
  status: string;
  webhookId: string;
  body: Buffer;
}

/**
 * Property runs, each 16 to 24 deliveries at once (each delivered twice): 130 make more than 2,000
 * deliveries. SCIMFLOW_FUZZ_RUNS asks for more, for a longer fuzz on a developer's machine.
 */
const DEFAULT_RUNS = 130;
const RUNS = Math.max(DEFAULT_RUNS, Math.floor(Number(process.env.SCIMFLOW_FUZZ_RUNS ?? '') || 0));

describe('any signed delivery', () => {
  it(
    'is answered 202 and recorded exactly once while PostgreSQL and Temporal are up; a redelivery changes no row',
    async () => {
      const accepted: Sent[] = [];
      let deliveries = 0;
      // What was sent and answered, to report.
      let requests = 0;
      const statuses = new Map<number, number>();
      const outcomes = new Map<string, number>();
      const answered = async (body: Buffer, webhookId: string) => {
        const res = await post(body, webhookId);
        requests += 1;
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        return res;
      };
      await fc.assert(
        fc.asyncProperty(fc.array(delivery, { minLength: 16, maxLength: 24 }), async (generated) => {
          const sent: Sent[] = [];
          // Several at once, as Scalekit sends them.
          await Promise.all(
            generated.map(async (g) => {
              const n = next();
              const body = Buffer.from(typeof g === 'string' ? g.replace(EVENT_ID, JSON.stringify(`evt_pb${run}_${n}`)) : g);
              const webhookId = `msg_pb${run}_${n}`;
              const first = await answered(body, webhookId);
              if (body.length > MAX_WEBHOOK_BYTES) {
                expect(first.status).toBe(413);
                return;
              }
              expect(first.status, `${JSON.stringify(first.json)} ${recentErrors()}`).toBe(202);
              expect(['accepted', 'ignored', 'quarantined']).toContain(first.json.status);
              sent.push({ eventId: first.json.eventId as string, status: first.json.status as string, webhookId, body });
              outcomes.set(first.json.status as string, (outcomes.get(first.json.status as string) ?? 0) + 1);
            }),
          );
          // Scalekit's redelivery: the same message id and bytes, a fresh signature.
          await Promise.all(
            sent.map(async (s) => {
              const again = await answered(s.body, s.webhookId);
              expect(again.status, `${JSON.stringify(again.json)} ${recentErrors()}`).toBe(202);
              expect(again.json).toMatchObject({ status: s.status, eventId: s.eventId });
            }),
          );
          // No two deliveries share a ledger row.
          expect(new Set(sent.map((s) => s.eventId)).size).toBe(sent.length);
          const terminal = sent.filter((s) => s.status !== 'accepted');
          const rows = await ledgerRows(terminal.map((s) => s.eventId));
          expect(rows.length).toBe(terminal.length);
          for (const row of rows) expect(row.duplicate_count).toBe(1);
          accepted.push(...sent.filter((s) => s.status === 'accepted'));
          deliveries += sent.length;
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
      const serverErrors = [...statuses].filter(([status]) => status >= 500).reduce((n, [, count]) => n + count, 0);
      console.info(
        `generated signed deliveries: ${RUNS} runs, ${deliveries} deliveries (${JSON.stringify(Object.fromEntries(outcomes))}), ` +
          `${requests} requests with their redeliveries; statuses ${JSON.stringify(Object.fromEntries(statuses))}; 5xx: ${serverErrors}`,
      );
      expect(serverErrors).toBe(0);
      expect(deliveries).toBeGreaterThan(2_000);
      expect(accepted.length).toBeGreaterThan(200);

      // Every queued event ends up as one ledger row, settled; its redelivery is counted as a
      // duplicate (by the organization workflow, or by the ledger if it got that far).
      const ids = accepted.map((s) => s.eventId);
      const rows = await eventually(
        async () => {
          const found = [];
          for (let i = 0; i < ids.length; i += 1_000) found.push(...(await ledgerRows(ids.slice(i, i + 1_000))));
          return found.length === ids.length && found.every((r) => r.outcome !== 'pending') ? found : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 1_000 },
      );
      let duplicates = rows.reduce((n, r) => n + r.duplicate_count, 0);
      // Mostly ORGS; a generated organization id can be valid too.
      const orgs = new Set(accepted.map((s) => (JSON.parse(s.body.toString()) as { organization_id: string }).organization_id));
      for (const org of orgs) duplicates += (await stack.workflows.status(org))?.duplicates ?? 0;
      expect(duplicates).toBe(accepted.length);
      expect(await counterValue(stack.metrics.webhookDeliveries, { status: '503', result: 'unavailable' })).toBe(0);
    },
    900_000 * Math.ceil(RUNS / DEFAULT_RUNS),
  );
});

describe('a real outage', () => {
  it('is still answered 503, so Scalekit delivers again: PostgreSQL unreachable', async () => {
    const unreachable = createDatabase({ url: `postgres://postgres@127.0.0.1:${await freePort()}/scimflow`, quiet: true });
    try {
      await stack.withApi({ db: unreachable }, async (base) => {
        const body = Buffer.from('not json, to be quarantined');
        const res = await fetch(`${base}/webhooks/scalekit`, { method: 'POST', headers: signed(body, `msg_down_${run}`), body });
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('30');
        expect(await res.json()).toMatchObject({ error: 'database_unavailable' });
      });
    } finally {
      await unreachable.destroy();
    }
  });
});

describe('an event Temporal refuses', () => {
  it('is quarantined with the reason (202), not answered 503 forever', async () => {
    // Temporal refuses payloads over 2 MB; the API's own limit (1 MiB) keeps them out, so this
    // needs an API allowing larger bodies. Random text: compressed, it stays over the limit.
    await stack.withApi({ maxBodyBytes: 8 * 1024 * 1024 }, async (base) => {
      const org = `org_big${run}`;
      const e = envelope(
        T.userCreated,
        org,
        { id: 'diruser_big', email: 'big@example.com', note: randomBytes(3 * 1024 * 1024).toString('base64') },
        nanoTime(0),
      );
      const body = Buffer.from(JSON.stringify(e));
      const res = await fetch(`${base}/webhooks/scalekit`, { method: 'POST', headers: signed(body, `msg_big_${run}`), body });
      expect(res.status).toBe(202);
      expect(await res.json()).toMatchObject({
        status: 'quarantined',
        eventId: e.id,
        reason: expect.stringMatching(/^Temporal refused the event: it is too large/),
      });
      expect(await ledgerRows([e.id])).toMatchObject([{ outcome: 'quarantined', raw_body: body.toString() }]);

      // The same size of text that compresses (payloads are compressed before they reach Temporal) goes through.
      const fits = envelope(
        T.userCreated,
        org,
        { id: 'diruser_big2', email: 'big2@example.com', note: 'x'.repeat(3 * 1024 * 1024) },
        nanoTime(1),
      );
      const fitsBody = Buffer.from(JSON.stringify(fits));
      const accepted = await fetch(`${base}/webhooks/scalekit`, {
        method: 'POST',
        headers: signed(fitsBody, `msg_big2_${run}`),
        body: fitsBody,
      });
      expect(accepted.status).toBe(202);
      expect(await accepted.json()).toMatchObject({ status: 'accepted', eventId: fits.id });
    });
  });
});
