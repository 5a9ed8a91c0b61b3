import type { Knex } from 'knex';
import { nowNs } from '../../emulator/clock';
import type { EmulatorHandle } from '../../emulator/index';
import type { OrganizationWorkflows } from '../../temporal/client';
import type { ReconcileOutcome, ReconcileRequest } from '../../domain/reconcile';
import { eventually, StopWaiting } from './stack';

/** Starts a run through the organization workflow and waits until it has ended. */
export async function reconcileAndWait(
  workflows: OrganizationWorkflows,
  organizationId: string,
  request: Partial<ReconcileRequest> = {},
  timeoutMs = 120_000,
): Promise<ReconcileOutcome> {
  const accepted = await workflows.startReconcile(organizationId, { kind: 'full', dryRun: false, trigger: 'test', ...request });
  return waitForRun(workflows, organizationId, accepted.runId, timeoutMs);
}

export async function waitForRun(
  workflows: OrganizationWorkflows,
  organizationId: string,
  runId: string,
  timeoutMs = 120_000,
): Promise<ReconcileOutcome> {
  return eventually(
    async () => {
      const s = await workflows.status(organizationId);
      const current = s?.reconcile;
      // A run the deprovision guard stopped waits a day for a person: fail now, not at the timeout.
      if (current?.runId === runId && current.phase === 'awaiting_approval') {
        throw new StopWaiting(`run ${runId} is waiting for approval: ${JSON.stringify(current.plan)}`);
      }
      return s?.lastReconcile?.runId === runId && current?.runId !== runId ? s.lastReconcile : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/**
 * Waits until the emulator's clock, which stamps each change made to its directory, has passed
 * the snapshot of the organization's newest run: a change made from then on is newer than that
 * snapshot, so a delta after it reads the change. Usually true at once; the condition, not a
 * pause, is what keeps it true on a busy machine.
 */
export async function pastLastSnapshot(db: Knex, organizationId: string): Promise<void> {
  const row = (await db('sync_runs').where('organization_id', organizationId).max('snapshot_ns as ns').first()) as
    { ns: string | null } | undefined;
  if (!row?.ns) throw new Error(`${organizationId} has no run yet`);
  const snapshotNs = BigInt(row.ns);
  await eventually(async () => nowNs() > snapshotNs, { timeoutMs: 30_000, intervalMs: 1 });
}

export interface Comparable {
  users: Record<string, { email: string | null; givenName: string | null; familyName: string | null; groups: string[]; roles: string[] }>;
  groups: Record<string, string | null>;
}

/** What the Directory API shows, in a shape comparable with the database. */
export function directoryView(emulator: EmulatorHandle, organizationId: string): Comparable {
  const snap = emulator.snapshot(organizationId);
  const users: Comparable['users'] = {};
  for (const u of snap.users) {
    users[u.id] = {
      email: u.email || null,
      givenName: u.profile.givenName || null,
      familyName: u.profile.familyName || null,
      groups: [...u.groupIds].sort(),
      roles: [...u.roles].sort(),
    };
  }
  const groups: Comparable['groups'] = {};
  for (const g of snap.groups) groups[g.id] = g.displayName;
  return { users, groups };
}

/** Active users and live groups of the organization in scimflow's database. */
export async function databaseView(db: Knex, organizationId: string): Promise<Comparable> {
  const rows = (
    await db.raw(
      `SELECT u.id, u.email, u.given_name, u.family_name, u.roles,
            coalesce((SELECT array_agg(m.group_id ORDER BY m.group_id) FROM group_memberships m
                       WHERE m.organization_id = u.organization_id AND m.user_id = u.id), '{}') AS groups
       FROM directory_users u WHERE u.organization_id = ? AND u.active`,
      [organizationId],
    )
  ).rows as {
    id: string;
    email: string | null;
    given_name: string | null;
    family_name: string | null;
    roles: string[];
    groups: string[];
  }[];
  const users: Comparable['users'] = {};
  for (const r of rows) {
    users[r.id] = { email: r.email, givenName: r.given_name, familyName: r.family_name, groups: r.groups, roles: [...r.roles].sort() };
  }
  const groupRows = (await db('directory_groups')
    .where('organization_id', organizationId)
    .whereNull('deleted_at')
    .select('id', 'display_name')) as {
    id: string;
    display_name: string | null;
  }[];
  const groups: Comparable['groups'] = {};
  for (const g of groupRows) groups[g.id] = g.display_name;
  return { users, groups };
}
