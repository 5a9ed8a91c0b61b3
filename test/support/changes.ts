import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { expect } from 'vitest';
import { eventually, type Stack } from './stack';
import { envelope, nanoTime, T } from './webhooks';

let clock = 0;

/** The organization's newest change record's sequence (0 before its first). */
export async function recordedThrough(db: Knex, org: string): Promise<number> {
  const row = (await db('change_records').where('organization_id', org).max('sequence as n').first()) as { n: string | null } | undefined;
  return Number(row?.n ?? 0);
}

/** Creates groups (one record each), in order, through the webhook endpoint; waits until they are recorded. */
export async function createGroups(stack: Stack, org: string, names: string[]): Promise<void> {
  const before = await recordedThrough(stack.database.db, org);
  for (const name of names) {
    const body = envelope(T.groupCreated, org, { id: `dirgroup_${randomBytes(4).toString('hex')}`, display_name: name }, nanoTime(++clock));
    expect((await stack.deliver(body)).status).toBe(202);
  }
  await eventually(async () => (await recordedThrough(stack.database.db, org)) >= before + names.length);
}

/** The whole numbers from `from` to `to`. */
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
