import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EmailPolicyResult } from '../../domain/email-policy';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T, type Envelope } from '../support/webhooks';

/**
 * The organization's allowed e-mail domains decide who reaches the application: a user active in
 * the directory outside them stays in the mirror but is held (no record tells the application
 * about them, or it is told to deactivate them), visible through the API and /metrics, and
 * released by a policy change or a directory fix, through the same change records. Real Temporal
 * (the policy goes through the organization workflow), real Postgres.
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const db = () => stack.database.db;
const newOrg = () => `org_${randomBytes(6).toString('hex')}`;

interface Row {
  sequence: string;
  kind: string;
  subject_id: string;
  view: Record<string, unknown>;
  changes: Record<string, { before: unknown; after: unknown }>;
  cause: Record<string, unknown>;
}

const records = async (org: string, after = 0): Promise<Row[]> =>
  (await db()('change_records').where('organization_id', org).andWhere('sequence', '>', after).orderBy('sequence')) as Row[];
const brief = (rows: readonly Row[]) => rows.map((r) => `${r.kind} ${r.subject_id}`);
const lastSequence = async (org: string) =>
  Number((await db()('organizations').where('id', org).first('change_sequence'))?.change_sequence ?? 0);
const held = async (org: string) =>
  Object.fromEntries(
    (
      (await db()('directory_users').where('organization_id', org).whereNotNull('held_reason').select('id', 'held_reason')) as {
        id: string;
        held_reason: string;
      }[]
    ).map((r) => [r.id, r.held_reason]),
  );

async function deliver(...bodies: Envelope[]): Promise<void> {
  for (const b of bodies) expect((await stack.deliver(b)).status).toBe(202);
  await eventually(async () => {
    const rows = (await db()('directory_events')
      .whereIn(
        'id',
        bodies.map((b) => b.id),
      )
      .select('outcome')) as { outcome: string }[];
    return rows.length === new Set(bodies.map((b) => b.id)).size && rows.every((r) => r.outcome !== 'pending');
  });
}

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${stack.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.operatorToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const gauge = async (name: string) => {
  const text = await (await fetch(`${stack.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
};

const user = (id: string, email: string | null, extra: Record<string, unknown> = {}) => ({
  id,
  email,
  given_name: id,
  family_name: 'Test',
  active: true,
  ...extra,
});

describe('allowed e-mail domains', () => {
  it('hold users outside them out of the application, and release them by a policy change or a directory fix', async () => {
    const org = newOrg();
    // The organization starts with no policy: everyone is provisioned.
    await deliver(
      envelope(T.userCreated, org, user('diruser_ada', `ada@corp.example`), nanoTime(0)),
      envelope(T.userCreated, org, user('diruser_cy', `cy@contractor.example`), nanoTime(1)),
    );
    expect(brief(await records(org))).toEqual(['user.provisioned diruser_ada', 'user.provisioned diruser_cy']);

    // A dry run lists who would be held, through the workflow, and changes nothing.
    const start = await lastSequence(org);
    const preview = await stack.workflows.setEmailPolicy(org, { allowedDomains: ['Corp.Example', '*.eu.corp.example'], dryRun: true });
    expect(preview).toMatchObject({
      dryRun: true,
      before: [],
      after: ['*.eu.corp.example', 'corp.example'],
      held: 1,
      released: 0,
      heldAfter: 1,
      heldUsers: [
        {
          id: 'diruser_cy',
          email: 'cy@contractor.example',
          reason: "e-mail domain contractor.example is not among the organization's allowed domains",
        },
      ],
    });
    expect((preview satisfies EmailPolicyResult).heldUsers[0]?.name).toBe('diruser_cy Test');
    expect(await lastSequence(org)).toBe(start);
    expect(await held(org)).toEqual({});

    // Applied: the contractor the application knew is deactivated there, with the policy as the cause.
    const applied = await stack.workflows.setEmailPolicy(org, { allowedDomains: ['corp.example', '*.eu.corp.example'], dryRun: false });
    expect(applied).toMatchObject({ dryRun: false, held: 1, released: 0 });
    const [off, ...none] = await records(org, start);
    expect(none).toEqual([]);
    expect(off).toMatchObject({
      kind: 'user.deactivated',
      subject_id: 'diruser_cy',
      view: { active: false, held: expect.stringContaining('contractor.example'), roles: [] },
      cause: { type: 'email_policy', summary: 'allowed e-mail domains: *.eu.corp.example, corp.example' },
    });
    expect(off!.changes.active).toEqual({ before: true, after: false });
    expect(await held(org)).toEqual({ diruser_cy: expect.stringContaining('contractor.example') });
    // Still in the mirror, active in the directory.
    expect(await db()('directory_users').where({ organization_id: org, id: 'diruser_cy' }).first('active')).toEqual({ active: true });

    // New people: inside the domains (a subdomain included) they are provisioned; outside, held with no record.
    const before = await lastSequence(org);
    await deliver(
      envelope(T.userCreated, org, user('diruser_eu', 'eu@paris.eu.corp.example'), nanoTime(2)),
      envelope(T.userCreated, org, user('diruser_gmail', 'someone@gmail.example'), nanoTime(3)),
      envelope(T.userCreated, org, user('diruser_none', null), nanoTime(4)),
    );
    expect(brief(await records(org, before))).toEqual(['user.provisioned diruser_eu']);
    expect(Object.keys(await held(org)).sort()).toEqual(['diruser_cy', 'diruser_gmail', 'diruser_none']);
    // Changes to a held user the application never knew tell it nothing.
    const quiet = await lastSequence(org);
    await deliver(envelope(T.userUpdated, org, user('diruser_gmail', 'someone@gmail.example', { given_name: 'Renamed' }), nanoTime(5)));
    expect(await records(org, quiet)).toEqual([]);

    // Operators see them: the API and /metrics.
    const policy = await api('GET', `/api/organizations/${org}/email-policy`);
    expect(policy).toEqual({
      status: 200,
      body: { organizationId: org, allowedDomains: ['*.eu.corp.example', 'corp.example'], heldUsers: 3 },
    });
    const list = await api('GET', `/api/organizations/${org}/held-users?limit=2`);
    expect(list.status).toBe(200);
    expect(list.body.users).toEqual([
      { id: 'diruser_cy', email: 'cy@contractor.example', name: 'diruser_cy Test', reason: expect.stringContaining('contractor.example') },
      { id: 'diruser_gmail', email: 'someone@gmail.example', name: 'Renamed Test', reason: expect.stringContaining('gmail.example') },
    ]);
    expect(list.body.nextCursor).toBe('diruser_gmail');
    const rest = await api('GET', `/api/organizations/${org}/held-users?after=diruser_gmail`);
    expect(rest.body.users).toEqual([
      { id: 'diruser_none', email: null, name: 'diruser_none Test', reason: expect.stringMatching(/no e-mail address/) },
    ]);
    expect(await gauge('scimflow_held_users')).toBeGreaterThanOrEqual(3);

    // A directory fix releases one: their e-mail moves into an allowed domain; the event is the cause.
    const fix = await lastSequence(org);
    await deliver(envelope(T.userUpdated, org, user('diruser_none', 'none@corp.example'), nanoTime(6)));
    const [released] = await records(org, fix);
    expect(released).toMatchObject({
      kind: 'user.provisioned',
      subject_id: 'diruser_none',
      view: { active: true, held: null, email: 'none@corp.example' },
      cause: { type: 'event' },
    });
    // Leaving the allowed domains in the directory deactivates in the application.
    const leave = await lastSequence(org);
    await deliver(envelope(T.userUpdated, org, user('diruser_eu', 'eu@elsewhere.example'), nanoTime(7)));
    const [left] = await records(org, leave);
    expect(left).toMatchObject({ kind: 'user.deactivated', subject_id: 'diruser_eu', cause: { type: 'event' } });
    expect(left!.changes).toMatchObject({
      held: { before: null, after: expect.stringContaining('elsewhere.example') },
      email: { before: 'eu@paris.eu.corp.example', after: 'eu@elsewhere.example' },
    });

    // A policy change releases the rest: the one the application knew is reactivated, the others provisioned.
    const widen = await lastSequence(org);
    const cleared = await stack.workflows.setEmailPolicy(org, { allowedDomains: [], dryRun: false });
    expect(cleared).toMatchObject({ held: 0, released: 3, heldAfter: 0 });
    expect(brief(await records(org, widen))).toEqual([
      'user.reactivated diruser_cy',
      'user.reactivated diruser_eu',
      'user.provisioned diruser_gmail',
    ]);
    expect(await held(org)).toEqual({});
    // The same policy again changes nothing and records nothing.
    const same = await lastSequence(org);
    expect(await stack.workflows.setEmailPolicy(org, { allowedDomains: [], dryRun: false })).toMatchObject({ held: 0, released: 0 });
    expect(await lastSequence(org)).toBe(same);
  });

  it('refuses a bad policy and an unknown organization, changing nothing', async () => {
    const org = newOrg();
    await deliver(envelope(T.userCreated, org, user('diruser_a', 'a@corp.example'), nanoTime(0)));
    const bad = await api('PUT', `/api/organizations/${org}/email-policy`, { allowedDomains: ['corp.example', 'not a domain'] });
    expect(bad).toEqual({
      status: 400,
      body: {
        error: 'invalid_request',
        message: expect.stringContaining('"not a domain" is not an e-mail domain: expected a domain such as example.com'),
      },
    });
    const shape = await api('PUT', `/api/organizations/${org}/email-policy`, { allowedDomains: 'corp.example' });
    expect(shape.status).toBe(400);
    const unknown = await api('PUT', `/api/organizations/org_never_seen_${randomBytes(3).toString('hex')}/email-policy`, {
      allowedDomains: ['corp.example'],
    });
    expect(unknown.status).toBe(404);
    expect((await api('GET', `/api/organizations/org_never_seen/email-policy`)).status).toBe(404);
    expect((await api('GET', `/api/organizations/org_never_seen/held-users`)).status).toBe(404);
    // The workflow refuses a malformed request before it is accepted (nothing is run).
    await expect(stack.workflows.setEmailPolicy(org, { allowedDomains: 'x' as unknown as string[], dryRun: false })).rejects.toThrow(
      /expected a list of e-mail domains/,
    );
    // And a well-formed one through the API is applied, its preview first.
    const preview = await api('PUT', `/api/organizations/${org}/email-policy`, { allowedDomains: ['other.example'], dryRun: true });
    expect(preview).toMatchObject({ status: 200, body: { dryRun: true, held: 1, heldUsers: [{ id: 'diruser_a' }] } });
    expect((await api('GET', `/api/organizations/${org}/email-policy`)).body).toMatchObject({ allowedDomains: [], heldUsers: 0 });
  });
});
