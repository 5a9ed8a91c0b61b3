import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { reconcileAndWait } from '../support/reconcile';
import { useEmulatorStack } from '../support/emulator-stack';
import { eventually } from '../support/stack';
import { envelope, eventId, T } from '../support/webhooks';

/**
 * An operator's retry of quarantined events: a constraint conflict that has cleared without any
 * event (a reconcile deactivated the holder of the email), and deliveries an older version could not
 * read, parsed again from their raw body. Real Temporal, Postgres, the emulator through the SDK.
 */

const env = useEmulatorStack({ webhooks: false });

const quiet = { emit: false } as const;
const ledgerRow = (id: string) => env.stack.database.db('directory_events').where('id', id).first('outcome', 'detail');
const now = () => new Date().toISOString();

async function importedOrganization() {
  const org = env.emulator.createOrganization({ displayName: `Retry ${randomInt(1, 1e9)}` }, quiet);
  const holder = env.emulator.createUser(
    org.id,
    { email: `shared.${org.id}@example.com`, givenName: 'Holder', familyName: 'First' },
    quiet,
  );
  expect((await reconcileAndWait(env.stack.workflows, org.id, { trigger: 'import' })).status).toBe('completed');
  return { org: org.id, holder: holder.id, email: `shared.${org.id}@example.com` };
}

describe('retrying quarantined events', () => {
  it('applies an event whose conflict a reconcile cleared, by itself', async () => {
    const { org, holder, email } = await importedOrganization();
    const newcomer = envelope(
      T.userCreated,
      org,
      { id: 'diruser_newcomer', email, given_name: 'New', family_name: 'Comer', active: true },
      now(),
    );
    expect((await env.stack.deliver(newcomer)).status).toBe(202);
    await eventually(async () => (await ledgerRow(newcomer.id))?.outcome === 'quarantined');
    await eventually(async () => (await env.stack.workflows.status(org))?.quarantined === 1);

    // The holder leaves without a webhook; a reconcile finds out, and the conflict it clears is retried with it.
    env.emulator.deleteUser(org, holder, quiet);
    const run = await reconcileAndWait(env.stack.workflows, org);
    expect(run.result).toMatchObject({ users: { deactivated: 1 }, recoveredEvents: 1 });
    expect(await ledgerRow(newcomer.id)).toEqual({
      outcome: 'applied',
      detail: 'applied on retry: the conflict that quarantined it has cleared',
    });
    expect(
      await env.stack.database.db('directory_users').where({ organization_id: org, id: 'diruser_newcomer' }).first('email', 'active'),
    ).toEqual({ email, active: true });
    expect((await env.stack.workflows.status(org))?.quarantined).toBe(0);
  });

  it('applies an event whose conflict has cleared on an operator’s retry, and keeps one whose conflict has not', async () => {
    const { org, holder, email } = await importedOrganization();
    const newcomer = envelope(
      T.userCreated,
      org,
      { id: 'diruser_newcomer', email, given_name: 'New', family_name: 'Comer', active: true },
      now(),
    );
    expect((await env.stack.deliver(newcomer)).status).toBe(202);
    await eventually(async () => (await ledgerRow(newcomer.id))?.outcome === 'quarantined');

    const early = await env.stack.workflows.retryQuarantined(org, null);
    expect(early).toMatchObject({ tried: 1, applied: 0, stillQuarantined: 1 });
    expect(early.events[0]?.detail).toMatch(/^still: unique constraint violated/);

    // Quarantined long ago: past the automatic retries' window (a day), so a reconcile that frees
    // the email does not apply it by itself; the operator's retry does.
    await env.stack.database
      .db('directory_events')
      .where('id', newcomer.id)
      .update({ received_at: env.stack.database.db.raw(`now() - interval '2 days'`) });
    env.emulator.deleteUser(org, holder, quiet);
    expect((await reconcileAndWait(env.stack.workflows, org)).result?.users.deactivated).toBe(1);
    expect((await ledgerRow(newcomer.id))?.outcome).toBe('quarantined');

    const before = (await env.stack.workflows.status(org))?.quarantined ?? 0;
    expect(before).toBeGreaterThan(0);
    const retried = await env.stack.workflows.retryQuarantined(org, null);
    expect(retried).toMatchObject({ tried: 1, applied: 1, stillQuarantined: 0, notFound: 0, recovered: 1, remaining: 0 });
    expect((await env.stack.workflows.status(org))?.quarantined).toBe(before - 1);
    expect(await ledgerRow(newcomer.id)).toEqual({ outcome: 'applied', detail: 'applied on retry' });
    expect(
      await env.stack.database.db('directory_users').where({ organization_id: org, id: 'diruser_newcomer' }).first('email', 'active'),
    ).toEqual({ email, active: true });
    // Nothing left to retry.
    expect(await env.stack.workflows.retryQuarantined(org, null)).toMatchObject({ tried: 0, events: [] });
  });

  it('parses deliveries an older version could not read again from their raw body', async () => {
    const { org } = await importedOrganization();
    const readable = envelope(
      T.userCreated,
      org,
      { id: 'diruser_late', email: `late.${org}@example.com`, given_name: 'Late', active: true },
      now(),
    );
    const unknownType = envelope('organization.directory.something_new', org, { id: 'x' }, now());
    const unreadable = { id: eventId(), raw: '{"id": "evt_broken", "type": ' };
    const row = (id: string, raw: string) => ({
      id,
      organization_id: org,
      outcome: 'quarantined',
      detail: 'could not be parsed by scimflow 0.0.1',
      raw_body: raw,
    });
    await env.stack.database
      .db('directory_events')
      .insert([
        row(readable.id, JSON.stringify(readable, null, 2)),
        row(unknownType.id, JSON.stringify(unknownType)),
        row(unreadable.id, unreadable.raw),
      ]);

    const result = await env.stack.workflows.retryQuarantined(org, [readable.id, unknownType.id, unreadable.id, 'evt_missing']);
    expect(result).toMatchObject({ tried: 3, applied: 1, ignored: 1, stillQuarantined: 1, notFound: 1 });
    expect(await ledgerRow(readable.id)).toEqual({ outcome: 'applied', detail: 'applied on retry' });
    expect((await ledgerRow(unknownType.id))?.outcome).toBe('ignored');
    expect(await ledgerRow(unreadable.id)).toMatchObject({ outcome: 'quarantined', detail: expect.stringMatching(/JSON/) });
    expect(result.events.find((e) => e.id === 'evt_missing')).toEqual({
      id: 'evt_missing',
      outcome: 'not_found',
      detail: `no event evt_missing of ${org} in the ledger`,
    });
    expect(await env.stack.database.db('directory_users').where({ organization_id: org, id: 'diruser_late' }).first('given_name')).toEqual({
      given_name: 'Late',
    });
    const stored = await env.stack.database.db('directory_events').where('id', readable.id).first('type', 'occurred_at_ns');
    expect(stored.type).toBe(T.userCreated);
    expect(stored.occurred_at_ns).not.toBeNull();
  });

  it('gives a delivery kept under its delivery id (no event id could be read) a row of its own event', async () => {
    const { org } = await importedOrganization();
    const event = envelope(
      T.userCreated,
      org,
      { id: 'diruser_delivered', email: `d.${org}@example.com`, given_name: 'Delivered', active: true },
      now(),
    );
    const deliveryId = `delivery:msg_${randomInt(1, 1e9)}`;
    await env.stack.database.db('directory_events').insert({
      id: deliveryId,
      organization_id: org,
      outcome: 'quarantined',
      detail: 'no event id',
      raw_body: JSON.stringify(event),
      webhook_id: deliveryId.slice(9),
    });

    const result = await env.stack.workflows.retryQuarantined(org, null);
    expect(result).toMatchObject({ tried: 1, applied: 1, remaining: 0 });
    expect(await ledgerRow(deliveryId)).toEqual({ outcome: 'duplicate', detail: `parsed now as event ${event.id}: see that entry` });
    expect(await ledgerRow(event.id)).toEqual({ outcome: 'applied', detail: 'applied on retry' });
    expect(
      await env.stack.database.db('directory_users').where({ organization_id: org, id: 'diruser_delivered' }).first('given_name'),
    ).toEqual({ given_name: 'Delivered' });
  });

  it("does not touch another organization's events, or events that are not quarantined", async () => {
    const a = await importedOrganization();
    const b = await importedOrganization();
    const other = envelope(T.userCreated, b.org, { id: 'diruser_clash', email: b.email, given_name: 'Clash', active: true }, now());
    await env.stack.deliver(other);
    await eventually(async () => (await ledgerRow(other.id))?.outcome === 'quarantined');
    const fine = envelope(T.userUpdated, a.org, { id: a.holder, email: a.email, given_name: 'Still', active: true }, now());
    await env.stack.deliver(fine);
    await eventually(async () => (await ledgerRow(fine.id))?.outcome === 'applied');

    const result = await env.stack.workflows.retryQuarantined(a.org, [other.id, fine.id]);
    expect(result).toMatchObject({ tried: 0, notFound: 1 });
    expect(result.events).toEqual([
      { id: other.id, outcome: 'not_found', detail: `no event ${other.id} of ${a.org} in the ledger` },
      { id: fine.id, outcome: 'applied', detail: 'not quarantined (applied): nothing to retry' },
    ]);
    expect((await ledgerRow(other.id))?.outcome).toBe('quarantined');
  });
});

describe('operator API', () => {
  const post = (path: string, body: unknown) =>
    fetch(`${env.stack.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.stack.operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('retries, refuses while the sync is paused, and answers bad input with the reason', async () => {
    const { org } = await importedOrganization();
    const ok = await post(`/api/organizations/${org}/events/retry`, {});
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ tried: 0 });
    const expectBad = async (body: unknown, status: number, message: RegExp) => {
      const res = await post(`/api/organizations/${org}/events/retry`, body);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { message: string }).message).toMatch(message);
    };
    await expectBad({ eventIds: [] }, 400, /at least one event id/);
    await expectBad({ eventIds: Array.from({ length: 501 }, (_, i) => `evt_${i}`) }, 400, /at most 500 event ids/);
    await expectBad({ eventIds: 'evt_1' }, 400, /expected a list of event ids/);
    await expectBad({ all: true }, 400, /all/);
    await env.stack.workflows.pauseSync(org, 'audit');
    await expectBad({}, 409, /retrying quarantined events waits until it is resumed/);
    await env.stack.workflows.resumeSync(org);
    const unknown = await post(`/api/organizations/org_${randomInt(1, 1e9)}/events/retry`, {});
    expect(unknown.status).toBe(404);
  });
});
