import { randomInt } from 'node:crypto';
import { defaultPayloadConverter, msToTs, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { expect, it } from 'vitest';
import { upsertOrganization } from '../../db/repositories/organizations';
import { organizationWorkflowId } from '../../workflows/messages';
import { reconcileAndWait } from '../support/reconcile';
import { useEmulatorStack } from '../support/emulator-stack';
import { eventually, startStack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * What the Temporal UI shows of an organization's workflow, read back through the client as the
 * UI reads it: the summary it was started with, its current details (the built-in metadata
 * query), the `ScimState` search attribute the list filters on, and the summary of each activity
 * in its history. Real Temporal, real Postgres, the emulator's signed webhooks.
 */

const env = useEmulatorStack({ webhooks: true });

const quiet = { emit: false } as const;

const decode = (p: Payload | null | undefined) => (p ? defaultPayloadConverter.fromPayload<string>(p) : undefined);

async function currentDetails(org: string): Promise<string> {
  const metadata = await env.stack.client.workflow
    .getHandle(organizationWorkflowId(org))
    .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return metadata.currentDetails ?? '';
}

/** The organizations whose workflow the list shows for `ScimState = "<state>"` (eventually consistent). */
async function listed(org: string, state: string): Promise<boolean> {
  for await (const wf of env.stack.client.workflow.list({
    query: `ScimState = "${state}" AND ScimOrgId = "${org}" AND ExecutionStatus = "Running"`,
  })) {
    if (wf.workflowId === organizationWorkflowId(org)) return true;
  }
  return false;
}

/** Every run's history of the organization's workflow: activity summaries and ScimState upserts, in order. */
async function history(org: string): Promise<{ summaries: string[]; states: string[] }> {
  const summaries: string[] = [];
  const states: string[] = [];
  const runs: { start: number; runId: string }[] = [];
  for await (const wf of env.stack.client.workflow.list({ query: `WorkflowId = "${organizationWorkflowId(org)}"` })) {
    runs.push({ start: wf.startTime.getTime(), runId: wf.runId });
  }
  for (const { runId } of runs.sort((a, b) => a.start - b.start)) {
    const h = await env.stack.client.workflow.getHandle(organizationWorkflowId(org), runId).fetchHistory();
    for (const e of h.events ?? []) {
      if (e.activityTaskScheduledEventAttributes) summaries.push(decode(e.userMetadata?.summary) ?? '(none)');
      const upserted = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.ScimState;
      if (upserted) states.push(decode(upserted) as string);
    }
  }
  return { summaries, states };
}

it("shows an organization's state, its activities and its name, and filters the list by state, with no personal data", async () => {
  const displayName = `Umbrella ${randomInt(1, 1e9)}`;
  const org = env.emulator.createOrganization({ displayName }, quiet).id;
  const people: { email: string; givenName: string; familyName: string }[] = [];
  for (let i = 0; i < 20; i++) {
    const person = { email: `ui${i}.${org}@example.com`, givenName: `Gwendolyn${i}`, familyName: `Marchbanks${i}` };
    env.emulator.createUser(org, person, quiet);
    people.push(person);
  }
  // Registered before its workflow starts: the workflow is named after it.
  await upsertOrganization(env.stack.database.db, { organizationId: org, displayName, directories: [] });
  const imported = await reconcileAndWait(env.stack.workflows, org, { trigger: 'import' });
  expect(imported.status).toBe('completed');

  const handle = env.stack.client.workflow.getHandle(organizationWorkflowId(org));
  expect(await (await handle.describe()).staticSummary()).toBe(`Directory sync for ${displayName} (${org})`);

  const texts: string[] = [];
  await eventually(async () => (await currentDetails(org)).includes(`Last run ${imported.runId} (full): completed`));
  texts.push(await currentDetails(org));
  expect(texts.at(-1)).toMatch(/^\*\*Idle\*\*/);
  await eventually(() => listed(org, 'idle'));

  // Paused, with the operator's note: the list finds it.
  await env.stack.workflows.pauseSync(org, 'IdP migration');
  await eventually(async () => (await currentDetails(org)).startsWith('**Paused** since'));
  texts.push(await currentDetails(org));
  expect(texts.at(-1)).toContain('IdP migration');
  expect(texts.at(-1)).toContain(`resume ${org}`);
  await eventually(() => listed(org, 'paused'));
  expect(await listed(org, 'idle')).toBe(false);

  // An event kept while paused, applied on resume; then one applied as it comes.
  env.emulator.createUser(org, { email: `kept.${org}@example.com`, givenName: 'Kept', familyName: 'Whilepaused' });
  await eventually(async () => (await env.stack.workflows.status(org))?.deferred === 1);
  await env.stack.workflows.resumeSync(org);
  await eventually(async () => (await env.stack.workflows.status(org))?.resuming === false);
  env.emulator.createUser(org, { email: `live.${org}@example.com`, givenName: 'Live', familyName: 'Afterresume' });
  await eventually(async () => (await env.stack.workflows.status(org))?.applied === 2);
  await eventually(async () => (await currentDetails(org)).startsWith('**Idle**'));
  texts.push(await currentDetails(org));
  expect(texts.at(-1)).toMatch(/Last applied: batch \d+ at \S+ \(2 events applied in all\)/);
  await eventually(() => listed(org, 'idle'));

  // A run the deprovision guard stops waits for a person: the list finds it, the details say what to do.
  for (const u of env.emulator.snapshot(org).users.slice(0, 12)) env.emulator.deleteUser(org, u.id, quiet);
  const guarded = await env.stack.workflows.startReconcile(org, { kind: 'full', dryRun: false, trigger: 'test' });
  await eventually(async () => (await currentDetails(org)).startsWith('**Awaiting approval**'));
  texts.push(await currentDetails(org));
  expect(texts.at(-1)).toContain(`Run ${guarded.runId} (full, test): waiting for approval: it would deactivate 12 of 22 active users`);
  expect(texts.at(-1)).toContain(`approve ${org} ${guarded.runId}`);
  await eventually(() => listed(org, 'awaiting_approval'));
  await env.stack.workflows.cancelRun(org, guarded.runId);
  await eventually(() => listed(org, 'idle'));

  const { summaries, states } = await history(org);
  // Every activity says what it does.
  expect(summaries).not.toContain('(none)');
  expect(summaries).toEqual(
    expect.arrayContaining([
      'register the organization and its schedules',
      'is search attribute ScimState registered',
      'open a full run (import)',
      `run ${imported.runId}: read users (0 so far, 0 pages in all)`,
      `run ${imported.runId}: read groups (0 so far, 1 page in all)`,
      `run ${imported.runId}: plan`,
      `run ${imported.runId}: apply`,
      'record the pause',
      'keep 1 event (sync paused)',
      'record the resume',
      'apply up to 250 events kept during the pause',
      'apply 1 event',
      'open a full run (asked by test)',
      `run ${guarded.runId}: record it cancelled`,
    ]),
  );
  // The search attribute followed the state, each change upserted once.
  expect(states).toEqual(expect.arrayContaining(['reconciling', 'idle', 'paused', 'applying', 'awaiting_approval']));
  expect(states.filter((s, i) => s === states[i - 1])).toEqual([]);
  expect(states.at(-1)).toBe('idle');

  // Counts, ids and times only: no one's name or e-mail address.
  for (const text of [...texts, ...summaries, ...states]) {
    expect(text).not.toContain('@');
    for (const p of people) {
      expect(text).not.toContain(p.givenName);
      expect(text).not.toContain(p.familyName);
    }
  }
});

it('keeps applying events in a namespace without the ScimState search attribute, showing the details alone', async () => {
  // A namespace set up before ScimState existed: it has ScimOrgId only.
  const namespace = `scimflow-no-state-${randomInt(1, 1e9)}`;
  const { client } = env.stack;
  await client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  await client.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: { ScimOrgId: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD },
  });
  const stack = await startStack({ namespace });
  try {
    const org = `org_bare_${randomInt(1, 1e9)}`;
    // A new namespace reaches every cache of the server in a few seconds: until then, deliveries are refused (503).
    await eventually(
      async () =>
        (await stack.deliver(envelope(T.userCreated, org, { id: 'diruser_1', email: 'bare@example.com', active: true }, nanoTime(1)))).ok,
    );
    await eventually(async () => (await stack.workflows.status(org))?.applied === 1);
    const handle = stack.client.workflow.getHandle(organizationWorkflowId(org));
    await eventually(async () => {
      const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
      return metadata.currentDetails?.startsWith('**Idle**') ?? false;
    });
    const events = (await handle.fetchHistory()).events ?? [];
    const asked = events.find((e) => decode(e.userMetadata?.summary) === 'is search attribute ScimState registered');
    expect(asked?.activityTaskScheduledEventAttributes).toBeTruthy();
    expect(events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.ScimState)).toEqual([]);
    expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toEqual([]);
  } finally {
    await stack.stop();
  }
});
