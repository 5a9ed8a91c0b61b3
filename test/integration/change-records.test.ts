import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { reconcileAndWait } from '../support/reconcile';
import { useEmulatorStack } from '../support/emulator-stack';
import { eventually } from '../support/stack';
import { envelope, nanoTime, T, type Envelope } from '../support/webhooks';

/**
 * Change records, made by the mirror's writer with every write that changes what the application
 * sees, and only then: event batches, duplicates and stale events, reconcile repairs, role
 * mapping changes, quarantine retries, deferred events applied on resume. Real Temporal, real
 * Postgres, the emulator for reconciles.
 */

const env = useEmulatorStack({ webhooks: false });
const quiet = { emit: false } as const;
const db = () => env.stack.database.db;
const newOrg = () => `org_${randomBytes(6).toString('hex')}`;

interface Row {
  sequence: string;
  kind: string;
  subject_type: string;
  subject_id: string;
  view: Record<string, unknown>;
  changes: Record<string, { before: unknown; after: unknown }>;
  cause: Record<string, unknown>;
  occurred_at: Date | null;
}

const records = async (org: string, after = 0): Promise<Row[]> =>
  (await db()('change_records').where('organization_id', org).andWhere('sequence', '>', after).orderBy('sequence')) as Row[];
const brief = (rows: readonly Row[]) => rows.map((r) => `${r.kind} ${r.subject_id}`);
const lastSequence = async (org: string) =>
  Number((await db()('organizations').where('id', org).first('change_sequence'))?.change_sequence ?? 0);

/** Delivers the envelopes and waits until every one is settled in the ledger. */
async function deliver(...bodies: Envelope[]): Promise<void> {
  for (const b of bodies) expect((await env.stack.deliver(b)).status).toBe(202);
  await eventually(async () => {
    const rows = (await db()('directory_events')
      .whereIn('id', [...new Set(bodies.map((b) => b.id))])
      .select('outcome')) as { outcome: string }[];
    return rows.length === new Set(bodies.map((b) => b.id)).size && rows.every((r) => r.outcome !== 'pending');
  });
}

describe('event batches', () => {
  it('records each real change once, in order, and nothing for duplicates, stale events or updates to the same values', async () => {
    const org = newOrg();
    const eng = { id: 'dirgroup_eng', name: 'Engineering' };
    const ada = { id: 'diruser_ada', email: `ada.${org}@example.com`, given_name: 'Ada', family_name: 'Lovelace', active: true };
    await deliver(
      envelope(T.directoryEnabled, org, { id: 'dir_1', directory_type: 'SCIM', provider: 'OKTA', enabled: true }, nanoTime(0)),
      envelope(T.groupCreated, org, { id: eng.id, display_name: eng.name, directory_id: 'dir_1' }, nanoTime(1)),
      envelope(T.userCreated, org, { ...ada, groups: [eng] }, nanoTime(2)),
    );
    const first = await records(org);
    expect(brief(first)).toEqual(['directory.enabled dir_1', 'group.created dirgroup_eng', 'user.provisioned diruser_ada']);
    expect(first.map((r) => Number(r.sequence))).toEqual([1, 2, 3]);
    expect(first[2]!.view).toMatchObject({ id: ada.id, email: ada.email, active: true, groups: [{ id: eng.id, name: eng.name }] });
    expect(first[2]!.cause).toMatchObject({ type: 'event', eventType: T.userCreated, deferred: false });
    expect(first[2]!.occurred_at?.toISOString()).toBe(nanoTime(2).slice(0, 23) + 'Z');

    const update = envelope(T.userUpdated, org, { ...ada, given_name: 'Augusta', groups: [eng] }, nanoTime(10));
    await deliver(update);
    const [updated, ...none] = await records(org, 3);
    expect(none).toEqual([]);
    expect(updated).toMatchObject({
      kind: 'user.updated',
      subject_id: ada.id,
      changes: { givenName: { before: 'Ada', after: 'Augusta' } },
      cause: { type: 'event', eventId: update.id },
    });

    // The same delivery again, an older event, and a newer one with the same values: nothing.
    await deliver(update);
    await deliver(envelope(T.userUpdated, org, { ...ada, given_name: 'Old', groups: [eng] }, nanoTime(5)));
    await deliver(envelope(T.userUpdated, org, { ...ada, given_name: 'Augusta', groups: [eng] }, nanoTime(11)));
    expect(await records(org, 4)).toEqual([]);
    expect(await lastSequence(org)).toBe(4);

    // Deactivated, reactivated, the group deleted (its member loses it), the directory disabled.
    await deliver(envelope(T.userDeleted, org, { id: ada.id }, nanoTime(20)));
    await deliver(envelope(T.userCreated, org, { ...ada, given_name: 'Augusta', groups: [eng] }, nanoTime(21)));
    await deliver(
      envelope(T.groupDeleted, org, { id: eng.id }, nanoTime(30)),
      envelope(T.directoryDisabled, org, { id: 'dir_1', directory_type: 'SCIM', provider: 'OKTA', enabled: false }, nanoTime(31)),
    );
    const rest = await records(org, 4);
    expect(brief(rest)).toEqual([
      'user.deactivated diruser_ada',
      'user.reactivated diruser_ada',
      'user.updated diruser_ada',
      'group.deleted dirgroup_eng',
      'directory.disabled dir_1',
    ]);
    expect(rest[0]!.changes).toMatchObject({ active: { before: true, after: false } });
    expect(rest[0]!.view).toMatchObject({ active: false, groups: [], roles: [] });
    expect(rest[2]!.changes).toEqual({ groups: { before: [{ id: eng.id, name: eng.name }], after: [] } });
    expect(rest.map((r) => Number(r.sequence))).toEqual([5, 6, 7, 8, 9]);
  });

  it('a batch with an event that breaks a constraint records the rest and nothing of that one', async () => {
    const org = newOrg();
    const email = `same.${org}@example.com`;
    await deliver(
      envelope(T.userCreated, org, { id: 'diruser_a', email, active: true }, nanoTime(0)),
      envelope(T.userCreated, org, { id: 'diruser_b', email: email.toUpperCase(), active: true }, nanoTime(1)),
      envelope(T.userCreated, org, { id: 'diruser_c', email: `c.${org}@example.com`, active: true }, nanoTime(2)),
    );
    const outcomes = (await db()('directory_events').where('organization_id', org).select('outcome')).map(
      (r: { outcome: string }) => r.outcome,
    );
    expect(outcomes.sort()).toEqual(['applied', 'applied', 'quarantined']);
    const rows = await records(org);
    expect(rows.map((r) => r.kind)).toEqual(['user.provisioned', 'user.provisioned']);
    expect(rows.map((r) => r.subject_id)).toContain('diruser_c');
  });
});

describe('role mapping changes', () => {
  it('records the users whose effective roles changed, with the reasons; a dry run records nothing', async () => {
    const org = newOrg();
    const eng = { id: 'dirgroup_eng', name: 'Engineering' };
    await deliver(
      envelope(T.groupCreated, org, { id: eng.id, display_name: eng.name }, nanoTime(0)),
      envelope(T.userCreated, org, { id: 'diruser_a', email: `a.${org}@example.com`, active: true, groups: [eng] }, nanoTime(1)),
      envelope(T.userCreated, org, { id: 'diruser_b', email: `b.${org}@example.com`, active: true, groups: [] }, nanoTime(2)),
    );
    const start = await lastSequence(org);
    const change = { action: 'map' as const, groupId: eng.id, role: 'admin', precedence: 10 };
    await env.stack.workflows.changeRoles(org, { change, dryRun: true });
    expect(await lastSequence(org)).toBe(start);
    await env.stack.workflows.changeRoles(org, { change, dryRun: false });
    const [r, ...none] = await records(org, start);
    expect(none).toEqual([]);
    expect(r).toMatchObject({
      kind: 'user.roles_changed',
      subject_id: 'diruser_a',
      view: { roles: ['admin'] },
      cause: { type: 'role_mapping', summary: expect.stringContaining(eng.id) },
    });
    expect(r!.changes.roles).toEqual({ before: [], after: ['admin'] });
    expect((r!.changes.reasons!.after as Record<string, string>).admin).toContain(`"${eng.name}" (${eng.id})`);
    // The same mapping again changes nobody's roles.
    await env.stack.workflows.changeRoles(org, { change, dryRun: false });
    expect(await records(org, start + 1)).toEqual([]);
  });
});

async function importedOrganization(users = 4) {
  const org = env.emulator.createOrganization({ displayName: `Changes ${randomInt(1, 1e9)}` }, quiet);
  const group = env.emulator.createGroup(org.id, { displayName: 'Team' }, quiet).id;
  const ids: string[] = [];
  for (let i = 0; i < users; i++) {
    ids.push(
      env.emulator.createUser(
        org.id,
        { email: `u${i}.${org.id}@example.com`, givenName: `U${i}`, familyName: 'Initial', groupIds: [group] },
        quiet,
      ).id,
    );
  }
  expect((await reconcileAndWait(env.stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');
  return { org: org.id, group, users: ids };
}

describe('reconciles', () => {
  it('an import provisions everyone; a repair records exactly the repair; a run with no drift records nothing', async () => {
    const { org, group, users } = await importedOrganization(4);
    const imported = await records(org);
    expect(imported.filter((r) => r.kind === 'user.provisioned').map((r) => r.subject_id)).toEqual([...users].sort());
    expect(brief(imported.filter((r) => r.subject_type !== 'user'))).toEqual(expect.arrayContaining([`group.created ${group}`]));
    expect(imported.find((r) => r.kind === 'user.provisioned')?.cause).toMatchObject({ type: 'sync_run', runKind: 'full' });
    const start = await lastSequence(org);

    // Drift without webhooks: a rename and a deletion.
    env.emulator.updateUser(org, users[0]!, { familyName: 'Renamed' }, quiet);
    env.emulator.deleteUser(org, users[1]!, quiet);
    const run = await reconcileAndWait(env.stack.workflows, org);
    expect(run.status).toBe('completed');
    const repair = await records(org, start);
    expect(brief(repair)).toEqual(
      [...[`user.updated ${users[0]}`, `user.deactivated ${users[1]}`]].sort((a, b) => (a.split(' ')[1]! < b.split(' ')[1]! ? -1 : 1)),
    );
    expect(repair.find((r) => r.kind === 'user.updated')!.changes).toMatchObject({ familyName: { before: 'Initial', after: 'Renamed' } });
    expect(repair.every((r) => r.cause.type === 'sync_run' && r.cause.runId === run.runId)).toBe(true);

    const again = await lastSequence(org);
    expect((await reconcileAndWait(env.stack.workflows, org)).status).toBe('completed');
    expect(await records(org, again)).toEqual([]);
  });
});

describe('quarantine retries and deferred events', () => {
  it('a quarantined event applied on retry records its change with that cause', async () => {
    const { org, users } = await importedOrganization(1);
    const email = `u0.${org}@example.com`;
    const newcomer = envelope(
      T.userCreated,
      org,
      { id: 'diruser_newcomer', email, given_name: 'New', active: true },
      new Date().toISOString(),
    );
    await deliver(newcomer);
    expect((await db()('directory_events').where('id', newcomer.id).first('outcome'))?.outcome).toBe('quarantined');
    const start = await lastSequence(org);
    expect(await records(org, start)).toEqual([]);

    env.emulator.deleteUser(org, users[0]!, quiet);
    const run = await reconcileAndWait(env.stack.workflows, org);
    expect(run.result).toMatchObject({ recoveredEvents: 1 });
    const rows = await records(org, start);
    expect(brief(rows)).toEqual(
      [`user.deactivated ${users[0]}`, 'user.provisioned diruser_newcomer'].sort((a, b) => (a.split(' ')[1]! < b.split(' ')[1]! ? -1 : 1)),
    );
    expect(rows.find((r) => r.subject_id === 'diruser_newcomer')!.cause).toEqual({
      type: 'quarantine_retry',
      eventId: newcomer.id,
      eventType: T.userCreated,
    });
    expect(rows.find((r) => r.subject_id === users[0])!.cause).toMatchObject({ type: 'sync_run' });
  });

  it('events deferred by a pause record nothing until resume, then their changes, marked deferred', async () => {
    const { org, users } = await importedOrganization(1);
    const start = await lastSequence(org);
    await env.stack.workflows.pauseSync(org, 'migration');
    const update = envelope(
      T.userUpdated,
      org,
      { id: users[0]!, email: `u0.${org}@example.com`, given_name: 'Paused', family_name: 'Initial', active: true },
      new Date().toISOString(),
    );
    expect((await env.stack.deliver(update)).status).toBe(202);
    await eventually(async () => (await db()('directory_events').where('id', update.id).first('outcome'))?.outcome === 'deferred');
    expect(await records(org, start)).toEqual([]);
    await env.stack.workflows.resumeSync(org);
    await eventually(async () => (await db()('directory_events').where('id', update.id).first('outcome'))?.outcome === 'applied');
    const [r, ...none] = await records(org, start);
    expect(none).toEqual([]);
    expect(r).toMatchObject({
      kind: 'user.updated',
      changes: { givenName: { before: 'U0', after: 'Paused' } },
      cause: { type: 'event', eventId: update.id, deferred: true },
    });
  });
});
