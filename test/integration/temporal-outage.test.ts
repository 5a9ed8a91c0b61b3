import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { freePort } from '../../scripts/lib/ports';
import { startDevServer, type DevServer } from '../../scripts/lib/temporal-server';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/** Invariant 2: a signed event is either durably in Temporal before 2xx, or answered 5xx. */

let server: DevServer;
let stack: Stack;
let port: number;
const dbFile = join(inject('tmpRoot'), `outage-${randomBytes(4).toString('hex')}.sqlite`);

const start = () => startDevServer({ cli: inject('temporalCli'), port, dbFile, watchPid: process.pid });

beforeAll(async () => {
  port = await freePort();
  server = await start();
  stack = await startStack({ temporalAddress: server.address });
});
afterAll(async () => {
  await stack?.stop();
  await server?.stop();
});

it('answers 503 while Temporal is down, and applies the redelivered event once when it is back', async () => {
  const org = `org_${randomBytes(6).toString('hex')}`;
  const first = envelope(T.userCreated, org, { id: 'diruser_1', email: 'one@example.com' }, nanoTime(0));
  expect((await stack.deliver(first)).status).toBe(202);
  await eventually(async () => (await stack.database.db('directory_users').where('organization_id', org)).length === 1);

  await stack.stopWorker();
  await server.stop();

  const second = envelope(T.userCreated, org, { id: 'diruser_2', email: 'two@example.com' }, nanoTime(1));
  const body = JSON.stringify(second);
  const down = await stack.deliver(body);
  expect(down.status).toBe(503);
  expect(down.headers.get('retry-after')).toBe('30');
  expect(await down.json()).toMatchObject({ error: 'temporal_unavailable' });
  expect((await fetch(`${stack.baseUrl}/readyz`)).status).toBe(503);
  // The operator API answers the same way, sooner (Retry-After 5).
  const status = await fetch(`${stack.baseUrl}/api/organizations/${org}/sync`, {
    headers: { authorization: `Bearer ${stack.operatorToken}` },
  });
  expect(status.status).toBe(503);
  expect(status.headers.get('retry-after')).toBe('5');
  expect(await status.json()).toEqual({ error: 'temporal_unavailable', message: 'Temporal did not answer; retry later' });
  expect(stack.logs.some((l) => l.includes('answering 503'))).toBe(true);
  expect(await stack.database.db('directory_events').where('id', second.id).first()).toBeUndefined();

  server = await start();
  await stack.startWorker();
  // Scalekit redelivers the same event (same id, new signature); a second redelivery too.
  const up = await eventually(async () => {
    const res = await stack.deliver(body);
    return res.status === 202 ? res : undefined;
  });
  expect(await up.json()).toEqual({ status: 'accepted', eventId: second.id });
  expect((await stack.deliver(body)).status).toBe(202);

  await eventually(async () => {
    const row = await stack.database.db('directory_events').where('id', second.id).first();
    return row?.outcome === 'applied';
  });
  const rows = await stack.database.db('directory_users').where('organization_id', org).orderBy('id');
  expect(rows.map((r: { id: string }) => r.id)).toEqual(['diruser_1', 'diruser_2']);
  const ledger = await stack.database.db('directory_events').where('organization_id', org);
  expect(ledger).toHaveLength(2);
});
