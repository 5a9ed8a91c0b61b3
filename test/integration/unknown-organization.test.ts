import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, startStack, type Stack } from '../support/stack';
import { envelope, nanoTime, T } from '../support/webhooks';

/**
 * An organization scimflow has never registered is a 404 with the next step on every operator
 * route that names one, reads included, before anything is read or started for it; and nobody
 * without the operator token learns whether an organization exists (401 first).
 */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const ROUTES: [string, string][] = [
  ['GET', 'users'],
  ['GET', 'users/diruser_1/roles'],
  ['GET', 'groups'],
  ['GET', 'directories'],
  ['GET', 'events'],
  ['POST', 'events/retry'],
  ['GET', 'changes'],
  ['GET', 'sync'],
  ['GET', 'runs'],
  ['GET', 'runs/1'],
  ['POST', 'runs/1/approve'],
  ['POST', 'runs/1/cancel'],
  ['GET', 'roles'],
  ['PUT', 'roles/default'],
  ['PUT', 'roles/mappings/dirgroup_1'],
  ['DELETE', 'roles/mappings/dirgroup_1'],
  ['GET', 'email-policy'],
  ['PUT', 'email-policy'],
  ['GET', 'held-users'],
  ['GET', 'delivery'],
  ['POST', 'delivery/pause'],
  ['POST', 'delivery/resume'],
  ['POST', 'delivery/retry'],
  ['POST', 'delivery/skip'],
  ['POST', 'delivery/rewind'],
  ['POST', 'reconcile'],
  ['POST', 'pause'],
  ['POST', 'resume'],
  ['POST', 'settings-link'],
  ['POST', 'portal-link'],
];

/** Every route of the API that names an organization, as its routers declare them. */
function declaredRoutes(): string[] {
  const dir = join(import.meta.dirname, '../../api/routes');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) =>
      [...readFileSync(join(dir, f), 'utf8').matchAll(/router\.(get|post|put|delete|patch)\(\s*'\/organizations\/:orgId\/([^']+)'/g)].map(
        (m) =>
          `${(m[1] as string).toUpperCase()} ${(m[2] as string)
            .replace(/:runId/, '1')
            .replace(/:userId/, 'diruser_1')
            .replace(/:groupId/, 'dirgroup_1')}`,
      ),
    )
    .sort();
}

it('the list below is every route that names an organization', () => {
  expect(ROUTES.map(([method, path]) => `${method} ${path}`).sort()).toEqual(declaredRoutes());
});

const call = (method: string, org: string, path: string, token?: string) =>
  fetch(`${stack.baseUrl}/api/organizations/${org}/${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
    },
    ...(method === 'GET' ? {} : { body: path === 'roles/default' ? '{"role":"member"}' : '{}' }),
  });

it('answers 404 with the next step for an organization never registered, on every route, and starts nothing', async () => {
  const org = `org_unknown_${randomBytes(4).toString('hex')}`;
  for (const [method, path] of ROUTES) {
    const res = await call(method, org, path, stack.operatorToken);
    expect(res.status, `${method} ${path}`).toBe(404);
    expect(((await res.json()) as { message: string }).message, `${method} ${path}`).toMatch(
      new RegExp(`does not know organization ${org} yet; register it first`),
    );
  }
  expect(await stack.workflows.status(org)).toBeNull();
  // Without the token, the same requests learn nothing: 401, for known and unknown organizations alike.
  const known = `org_known_${randomBytes(4).toString('hex')}`;
  expect(
    (await stack.deliver(envelope(T.userCreated, known, { id: 'diruser_1', email: 'a@example.com', active: true }, nanoTime(0)))).status,
  ).toBe(202);
  // A registered one (its first event registered it) is served.
  await eventually(async () => (await call('GET', known, 'users', stack.operatorToken)).status === 200);
  for (const o of [org, known]) {
    for (const [method, path] of ROUTES) expect((await call(method, o, path)).status, `${o} ${method} ${path}`).toBe(401);
  }
});
