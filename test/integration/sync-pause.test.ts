import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WorkflowRefusedError } from '../../temporal/client';
import { databaseView, directoryView, reconcileAndWait, waitForRun } from '../support/reconcile';
import { useEmulatorStack } from '../support/emulator-stack';
import { eventually } from '../support/stack';

/**
 * Pausing an organization's sync: webhooks keep being accepted and are kept in the ledger in
 * arrival order; nothing changes until resume; resume applies them in that order, ahead of
 * anything newer. Real Temporal, real Postgres, the emulator's signed webhooks.
 */

const env = useEmulatorStack({ webhooks: true });

const quiet = { emit: false } as const;

async function importedOrganization(users = 20) {
  const org = env.emulator.createOrganization({ displayName: `Pause ${randomInt(1, 1e9)}` }, quiet);
  const groups = [0, 1, 2].map((i) => env.emulator.createGroup(org.id, { displayName: `Team ${i}` }, quiet).id);
  for (let i = 0; i < users; i++) {
    env.emulator.createUser(
      org.id,
      { email: `p${i}.${org.id}@example.com`, givenName: `P${i}`, familyName: 'Initial', groupIds: [groups[i % 3]!] },
      quiet,
    );
  }
  expect((await reconcileAndWait(env.stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');
  return { org: org.id, groups };
}

const ledger = (org: string) => env.stack.database.db('directory_events').where('organization_id', org);

describe('pause and resume', () => {
  it('keeps every event while paused, changes nothing, refuses what would change data, and applies it all on resume', async () => {
    const { org, groups } = await importedOrganization();
    const before = await databaseView(env.stack.database.db, org);
    const paused = await env.stack.workflows.pauseSync(org, 'IdP migration');
    expect(paused.paused.note).toBe('IdP migration');
    expect(await env.stack.database.db('organizations').where('id', org).first('sync_paused', 'sync_paused_note')).toEqual({
      sync_paused: true,
      sync_paused_note: 'IdP migration',
    });

    const users = env.emulator.snapshot(org).users;
    const emittedBefore = env.emulator.events().filter((e) => e.organizationId === org).length;
    env.emulator.createUser(org, { email: `new.${org}@example.com`, givenName: 'New', familyName: 'Hire', groupIds: [groups[0]!] });
    env.emulator.updateUser(org, users[0]!.id, { givenName: 'Renamed' });
    env.emulator.updateUser(org, users[0]!.id, { familyName: 'Twice' });
    env.emulator.deleteUser(org, users[1]!.id);
    env.emulator.setUserGroups(org, users[2]!.id, [groups[1]!, groups[2]!]);
    const extra = env.emulator.createGroup(org, { displayName: 'Paused team' }).id;
    env.emulator.deleteGroup(org, groups[2]!);
    await env.emulator.settled(30_000);
    const emitted = env.emulator
      .events()
      .filter((e) => e.organizationId === org)
      .slice(emittedBefore);
    expect(emitted.length).toBeGreaterThan(7);

    await eventually(
      async () => Number((await ledger(org).clone().where('outcome', 'deferred').count('* as n').first())?.n) === emitted.length,
    );
    expect(await databaseView(env.stack.database.db, org)).toEqual(before);
    const status = await env.stack.workflows.status(org);
    expect(status).toMatchObject({ paused: { note: 'IdP migration' }, resuming: false, deferred: emitted.length, queued: 0 });
    // Kept in the order they arrived.
    const kept = (await ledger(org).clone().where('outcome', 'deferred').orderBy('seq').select('id')).map((r: { id: string }) => r.id);
    const delivered = env.emulator
      .deliveryLog()
      .filter((d) => d.organizationId === org && d.outcome === 'delivered')
      .map((d) => d.eventId)
      .filter((id) => kept.includes(id));
    expect(kept).toEqual(delivered);

    // What would change data waits; looking does not.
    const refused = await env.stack.workflows
      .startReconcile(org, { kind: 'full', dryRun: false, trigger: 'test' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowRefusedError);
    expect((refused as Error).message).toMatch(
      new RegExp(`the sync of ${org} is paused since .* \\(IdP migration\\).*npm run cli -- resume ${org}`),
    );
    const dry = await reconcileAndWait(env.stack.workflows, org, { dryRun: true });
    expect(dry.status).toBe('planned');
    expect(dry.plan?.drift).toBeGreaterThan(0);
    await expect(env.stack.workflows.approveRun(org, dry.runId)).rejects.toThrow(/approving run .* waits until it is resumed/);
    await expect(env.stack.workflows.pauseSync(org, null)).rejects.toThrow(/already paused since/);
    await expect(env.stack.workflows.changeRoles(org, { change: { action: 'default', role: 'member' }, dryRun: false })).rejects.toThrow(
      /changing roles waits until it is resumed/,
    );
    const preview = await env.stack.workflows.changeRoles(org, { change: { action: 'default', role: 'member' }, dryRun: true });
    expect(preview.usersChanged).toBeGreaterThan(0);
    expect(await env.stack.api(`/api/organizations/${org}/sync`)).toMatchObject({ deferredWaiting: emitted.length });
    await env.stack.workflows.requestReconcile(org, { kind: 'full', dryRun: false, trigger: 'schedule' });
    await eventually(async () => (await env.stack.workflows.status(org))?.reconcilesSkipped === 1);
    expect(await databaseView(env.stack.database.db, org)).toEqual(before);

    const resumed = await env.stack.workflows.resumeSync(org);
    expect(resumed).toMatchObject({ resumed: { note: 'IdP migration' }, deferred: emitted.length });
    const after = await eventually(async () => {
      const s = await env.stack.workflows.status(org);
      return s && !s.paused && !s.resuming ? s : undefined;
    });
    expect(after.applied - (status?.applied ?? 0)).toBe(emitted.length);
    expect(await databaseView(env.stack.database.db, org)).toEqual(directoryView(env.emulator, org));
    expect((await databaseView(env.stack.database.db, org)).groups[extra]).toBe('Paused team');
    const outcomes = await ledger(org)
      .clone()
      .whereIn(
        'id',
        emitted.map((e) => e.id),
      )
      .select('outcome');
    expect(outcomes.map((o: { outcome: string }) => o.outcome)).toEqual(emitted.map(() => 'applied'));
    expect((await env.stack.database.db('organizations').where('id', org).first('sync_paused')).sync_paused).toBe(false);
    await expect(env.stack.workflows.resumeSync(org)).rejects.toThrow(/is not paused/);
  });

  it('applies the kept events before any that arrive while they are being applied', async () => {
    const { org } = await importedOrganization(300);
    const users = env.emulator.snapshot(org).users;
    await env.stack.workflows.pauseSync(org, null);
    // More than two deferred batches (250 each): the resume takes several steps.
    for (const u of users) env.emulator.updateUser(org, u.id, { givenName: `Kept ${u.id.slice(-4)}` });
    for (const u of users.slice(0, 300)) env.emulator.updateUser(org, u.id, { familyName: 'KeptToo' });
    await env.emulator.settled(60_000);
    await eventually(async () => (await env.stack.workflows.status(org))?.deferred === 600, { timeoutMs: 30_000 });

    await env.stack.workflows.resumeSync(org);
    // Newer changes to the same people arrive while the kept ones are being applied.
    for (const u of users.slice(0, 50)) env.emulator.updateUser(org, u.id, { familyName: 'AfterResume' });
    await env.emulator.settled(30_000);
    await eventually(
      async () => {
        const s = await env.stack.workflows.status(org);
        return (
          s &&
          !s.resuming &&
          s.queued === 0 &&
          Number((await ledger(org).clone().where('outcome', 'pending').count('* as n').first())?.n) === 0
        );
      },
      { timeoutMs: 60_000 },
    );

    // Had a newer event been applied first, the older kept ones for the same user would be stale.
    const stale = await ledger(org).clone().where('outcome', 'stale').select('id');
    expect(stale).toEqual([]);
    expect(await databaseView(env.stack.database.db, org)).toEqual(directoryView(env.emulator, org));
  });

  it('refuses to pause while a run changes data, and says how to go on', async () => {
    const { organization } = env.emulator.generateLarge({ users: 3_000, groups: 30, seed: randomInt(1, 2 ** 31) });
    const run = await env.stack.workflows.startReconcile(organization.id, { kind: 'full', dryRun: false, trigger: 'test' });
    const refused = await env.stack.workflows.pauseSync(organization.id, null).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowRefusedError);
    expect((refused as Error).message).toMatch(
      new RegExp(`run ${run.runId} \\(full, \\w+\\) is in progress .*npm run cli -- cancel ${organization.id} ${run.runId}`),
    );
    expect((await waitForRun(env.stack.workflows, organization.id, run.runId)).status).toBe('completed');
    expect((await env.stack.workflows.pauseSync(organization.id, null)).paused.since).toMatch(/^\d{4}-/);
    await env.stack.workflows.resumeSync(organization.id);
  });
});

describe('operator API', () => {
  const post = (path: string, body?: unknown) =>
    fetch(`${env.stack.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.stack.operatorToken}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('pauses and resumes, and answers bad input with the reason', async () => {
    const { org } = await importedOrganization(3);
    const paused = await post(`/api/organizations/${org}/pause`, { note: 'audit' });
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ paused: { note: 'audit' }, deferred: 0 });
    const again = await post(`/api/organizations/${org}/pause`);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: 'refused', message: expect.stringMatching(/already paused/) });
    const sync = await env.stack.api<{ paused: { note: string } }>(`/api/organizations/${org}/sync`);
    expect(sync.paused.note).toBe('audit');
    const resumed = await post(`/api/organizations/${org}/resume`);
    expect(resumed.status).toBe(200);

    const bad = async (path: string, body: unknown, status: number, message: RegExp) => {
      const res = await post(path, body);
      const json = (await res.json()) as { message: string };
      expect(res.status).toBe(status);
      expect(json.message).toMatch(message);
    };
    await bad(`/api/organizations/${org}/pause`, { note: 5 }, 400, /note: expected a short text/);
    await bad(`/api/organizations/${org}/pause`, { note: 'x'.repeat(501) }, 400, /at most 500 characters/);
    await bad(`/api/organizations/${org}/pause`, { reason: 'x' }, 400, /reason/);
    await bad(`/api/organizations/${org}/resume`, {}, 409, /is not paused/);
    await bad(`/api/organizations/org_${randomInt(1, 1e9)}/pause`, {}, 404, /does not know organization .*npm run cli -- orgs add/);
    expect((await env.stack.workflows.status(org))?.paused).toBeNull();
  });
});
