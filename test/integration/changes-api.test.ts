import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneChangeRecords } from '../../db/repositories/changes';
import type { ChangeRecord } from '../../domain/changes';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * The change stream over HTTP: GET /api/changes and /api/organizations/:orgId/changes, read with
 * the operator token or the application's read-only token (which reads nothing else), paged by
 * cursor, long-polled with `wait`, and 400/404/410 for what cannot be answered.
 */

const APP_TOKEN = 'app-read-token-0123456789abcdef';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

const newOrg = () => `org_${randomBytes(6).toString('hex')}`;

interface Page {
  records: ChangeRecord[];
  next: string;
  more: boolean;
}

async function get(base: string, path: string, token: string | null): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** An organization with three users provisioned by webhooks: three records. */
async function organizationWithRecords(): Promise<string> {
  const org = newOrg();
  const events = [0, 1, 2].map((i) =>
    envelope(T.userCreated, org, { id: `diruser_${i}`, email: `u${i}.${org}@example.com`, active: true }, nanoTime(i)),
  );
  for (const e of events) expect((await stack.deliver(e)).status).toBe(202);
  await eventually(
    async () => Number((await stack.database.db('change_records').where('organization_id', org).count('* as n').first())?.n) === 3,
  );
  return org;
}

describe('the change stream over HTTP', () => {
  it('pages one organization by sequence and every organization by cursor, for either token', async () => {
    const org = await organizationWithRecords();
    await stack.withApi({ appReadToken: APP_TOKEN }, async (base) => {
      for (const token of [stack.operatorToken, APP_TOKEN]) {
        const first = await get(base, `/api/organizations/${org}/changes?limit=2`, token);
        expect(first.status).toBe(200);
        const page = first.body as unknown as Page;
        expect(page.records.map((r) => [r.sequence, r.kind, r.subject.id])).toEqual([
          [1, 'user.provisioned', 'diruser_0'],
          [2, 'user.provisioned', 'diruser_1'],
        ]);
        expect(page).toMatchObject({ next: '2', more: true });
        expect(page.records[0]).toMatchObject({ organizationId: org, view: { email: `u0.${org}@example.com` }, cause: { type: 'event' } });
        const rest = (await get(base, `/api/organizations/${org}/changes?after=${page.next}`, token)).body as unknown as Page;
        expect(rest.records.map((r) => r.sequence)).toEqual([3]);
        expect(rest).toMatchObject({ next: '3', more: false });
      }

      // Every organization's stream, a page at a time, to the end.
      const mine: ChangeRecord[] = [];
      let after = '';
      for (let i = 0; i < 100; i++) {
        const page = (await get(base, `/api/changes?limit=1${after ? `&after=${after}` : ''}`, APP_TOKEN)).body as unknown as Page;
        mine.push(...page.records.filter((r) => r.organizationId === org));
        expect(page.next).toMatch(/^\d+-\d+$/);
        after = page.next;
        if (!page.more) break;
      }
      expect(mine.map((r) => r.sequence)).toEqual([1, 2, 3]);
      // The end of the stream: nothing more, the same cursor.
      expect((await get(base, `/api/changes?after=${after}`, APP_TOKEN)).body).toEqual({ records: [], next: after, more: false });
    });
  });

  it('the application token reads the change stream only; no token reads nothing', async () => {
    const org = await organizationWithRecords();
    await stack.withApi({ appReadToken: APP_TOKEN }, async (base) => {
      const refused = await get(base, `/api/organizations/${org}/users`, APP_TOKEN);
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ error: 'forbidden', message: expect.stringContaining('reads only the change stream') });
      expect((await get(base, `/api/organizations/${org}/roles`, APP_TOKEN)).status).toBe(403);
      expect((await get(base, `/api/organizations/${org}/users`, stack.operatorToken)).status).toBe(200);
      expect((await get(base, '/api/changes', null)).status).toBe(401);
      expect((await get(base, '/api/changes', 'not-the-token-0123456789')).status).toBe(401);
    });
    // Without APP_READ_TOKEN, that token is nobody's.
    expect((await get(stack.baseUrl, '/api/changes', APP_TOKEN)).status).toBe(401);
  });

  it('answers 400 for a malformed cursor or limit, 404 for an unknown organization, 410 for a cursor retention passed', async () => {
    const org = await organizationWithRecords();
    const base = stack.baseUrl;
    const token = stack.operatorToken;
    for (const path of [
      '/api/changes?after=12',
      '/api/changes?after=x-1',
      `/api/organizations/${org}/changes?after=1-2`,
      `/api/organizations/${org}/changes?limit=0`,
      '/api/changes?limit=1001',
      '/api/changes?wait=31',
    ]) {
      const r = await get(base, path, token);
      expect([path, r.status]).toEqual([path, 400]);
    }
    expect((await get(base, `/api/organizations/org_never_seen_${randomBytes(4).toString('hex')}/changes`, token)).status).toBe(404);

    // Retention removes the first two records of the organization.
    const db = stack.database.db;
    const ids = (await db('change_records').where('organization_id', org).orderBy('sequence').limit(2).select('id')).map(
      (r: { id: string }) => r.id,
    );
    await db('change_records')
      .whereIn('id', ids)
      .update({ committed_at: db.raw(`now() - interval '2 days'`) });
    expect(await pruneChangeRecords(db, 86_400, 100)).toBe(2);
    const gone = await get(base, `/api/organizations/${org}/changes?after=0`, token);
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ error: 'cursor_expired', message: expect.stringContaining('read again from the start') });
    expect((await get(base, `/api/organizations/${org}/changes?after=2`, token)).body).toMatchObject({ records: [{ sequence: 3 }] });
    expect((await get(base, `/api/organizations/${org}/changes`, token)).body).toMatchObject({ records: [{ sequence: 3 }] });
    expect((await get(base, '/api/changes?after=0-0', token)).status).toBe(410);
    expect((await get(base, '/api/changes', token)).status).toBe(200);
  });

  it('waits for records with `wait`, and answers as soon as one is committed', async () => {
    const org = await organizationWithRecords();
    const base = stack.baseUrl;
    const token = stack.operatorToken;
    const started = Date.now();
    const empty = await get(base, `/api/organizations/${org}/changes?after=3&wait=1`, token);
    expect(empty.body).toEqual({ records: [], next: '3', more: false });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);

    const waiting = get(base, `/api/organizations/${org}/changes?after=3&wait=20`, token);
    await new Promise((r) => setTimeout(r, 300));
    const at = Date.now();
    expect(
      (
        await stack.deliver(
          envelope(T.userCreated, org, { id: 'diruser_late', email: `late.${org}@example.com`, active: true }, nanoTime(10)),
        )
      ).status,
    ).toBe(202);
    const answered = await waiting;
    expect(answered.body).toMatchObject({
      records: [{ sequence: 4, kind: 'user.provisioned', subject: { id: 'diruser_late' } }],
      next: '4',
    });
    expect(Date.now() - at).toBeLessThan(10_000);
  });
});
