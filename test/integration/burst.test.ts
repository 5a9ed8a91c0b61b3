import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/** A burst of 2,000 events for one organization arrives complete and in order. */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

it('applies 2,000 events for one organization completely, each user ending at its newest version', async () => {
  const org = `org_${randomBytes(6).toString('hex')}`;
  const usersCount = 200;
  const versions = 10;
  // Each user's versions are sent in order; users are interleaved by 20 concurrent senders.
  const perUser = (u: number) =>
    Array.from({ length: versions }, (_, v) =>
      envelope(
        v === 0 ? T.userCreated : T.userUpdated,
        org,
        {
          id: `diruser_${u}`,
          email: `user${u}.v${v}@example.com`,
          given_name: `User${u}`,
          family_name: `V${v}`,
          groups: [{ id: `dirgroup_${v % 3}`, name: `G${v % 3}` }],
        },
        nanoTime(v * 1000 + u),
      ),
    );
  const queue = Array.from({ length: usersCount }, (_, u) => u);
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let u = queue.shift(); u !== undefined; u = queue.shift()) {
        for (const e of perUser(u)) statuses.push((await stack.deliver(e)).status);
      }
    }),
  );
  expect(statuses).toHaveLength(usersCount * versions);
  expect(statuses.every((s) => s === 202)).toBe(true);

  await eventually(
    async () => {
      const [row] = await stack.database
        .db('directory_events')
        .where({ organization_id: org, outcome: 'applied' })
        .count<{ count: string }[]>('* as count');
      return Number(row?.count) === usersCount * versions;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  const stale = await stack.database.db('directory_events').where('organization_id', org).whereNot('outcome', 'applied');
  expect(stale).toEqual([]);
  const rows = await stack.database.db('directory_users').where('organization_id', org);
  expect(rows).toHaveLength(usersCount);
  for (const r of rows as { id: string; email: string; family_name: string }[]) {
    const u = r.id.replace('diruser_', '');
    expect(r.email).toBe(`user${u}.v${versions - 1}@example.com`);
    expect(r.family_name).toBe(`V${versions - 1}`);
  }
  const memberships = await stack.database.db('group_memberships').where('organization_id', org);
  expect(memberships).toHaveLength(usersCount);
  expect(new Set(memberships.map((m: { group_id: string }) => m.group_id))).toEqual(new Set([`dirgroup_${(versions - 1) % 3}`]));
  // In order: each user's versions were applied in the order they happened (never an older one later).
  const ledger = (await stack.database.db('directory_events').where('organization_id', org).select('payload', 'applied_at')) as {
    payload: { user: { id: string }; occurredAtNs: string };
    applied_at: Date;
  }[];
  const byUser = new Map<string, { ns: bigint; at: number }[]>();
  for (const r of ledger) {
    const list = byUser.get(r.payload.user.id) ?? [];
    list.push({ ns: BigInt(r.payload.occurredAtNs), at: r.applied_at.getTime() });
    byUser.set(r.payload.user.id, list);
  }
  for (const list of byUser.values()) {
    list.sort((a, b) => (a.ns < b.ns ? -1 : 1));
    for (let i = 1; i < list.length; i++) expect(list[i]!.at).toBeGreaterThanOrEqual(list[i - 1]!.at);
  }
});
