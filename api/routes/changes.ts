import type { Context } from 'koa';
import type { Knex } from 'knex';
import { z } from 'zod';
import { ChangeCursorError, MAX_CHANGES_LIMIT, readChanges, type ChangePage } from '../../db/repositories/changes';
import { requireChangeReader } from '../auth';
import { ApiError } from '../errors';
import { checkedRouter, type CheckedRouter } from '../params';
import { parse, requireKnownOrganization } from '../request';

export interface ChangesDeps {
  db: Knex;
  operatorApiToken: string | undefined;
  /** The application's read-only token: it reads these routes and nothing else. */
  appReadToken: string | undefined;
}

/** The longest a request may wait for records (seconds). */
export const MAX_WAIT_SECONDS = 30;
/** How often a waiting request looks again: each look takes a pooled connection for one short query. */
const POLL_MS = 250;

const changesQuery = z.object({
  after: z.string().max(100).optional(),
  limit: z.coerce
    .number({ message: `expected a number from 1 to ${MAX_CHANGES_LIMIT}` })
    .int({ message: `expected a whole number from 1 to ${MAX_CHANGES_LIMIT}` })
    .min(1, { message: `expected a number from 1 to ${MAX_CHANGES_LIMIT}` })
    .max(MAX_CHANGES_LIMIT, { message: `expected a number from 1 to ${MAX_CHANGES_LIMIT}` })
    .default(100),
  wait: z.coerce
    .number({ message: `expected a number of seconds from 0 to ${MAX_WAIT_SECONDS}` })
    .min(0, { message: `expected a number of seconds from 0 to ${MAX_WAIT_SECONDS}` })
    .max(MAX_WAIT_SECONDS, { message: `expected a number of seconds from 0 to ${MAX_WAIT_SECONDS}` })
    .default(0),
});

/**
 * Reads a page; with `wait`, looks again until records come, the wait is over, or the client
 * hangs up. No connection is held between looks.
 */
async function readWaiting(ctx: Context, read: () => Promise<ChangePage>, waitSeconds: number): Promise<ChangePage> {
  const deadline = Date.now() + waitSeconds * 1000;
  let closed = false;
  ctx.req.once('close', () => (closed = true));
  for (;;) {
    let page: ChangePage;
    try {
      page = await read();
    } catch (err) {
      if (err instanceof ChangeCursorError) {
        throw new ApiError(err.status, err.status === 410 ? 'cursor_expired' : 'invalid_request', err.message);
      }
      throw err;
    }
    const left = deadline - Date.now();
    if (page.records.length > 0 || left <= 0 || closed) return page;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, left)));
  }
}

/**
 * The change stream under /api: every organization's records (`/changes`, cursor `<txid>-<id>`)
 * or one organization's (`/organizations/:orgId/changes`, cursor: a sequence number), in commit
 * order, `{ records, next, more }`. Read with the operator token or the application's read-only one.
 */
export function changesRouter(deps: ChangesDeps): CheckedRouter<'orgId'> {
  const router = checkedRouter(['orgId'], { prefix: '/api' });
  const auth = requireChangeReader(deps.operatorApiToken, deps.appReadToken);

  router.get('/changes', auth, async (ctx) => {
    const q = parse(changesQuery, ctx.query);
    ctx.body = await readWaiting(ctx, () => readChanges(deps.db, { after: q.after ?? null, limit: q.limit }), q.wait);
  });

  router.get('/organizations/:orgId/changes', auth, async (ctx) => {
    const organizationId = ctx.params.orgId;
    const q = parse(changesQuery, ctx.query);
    await requireKnownOrganization(deps.db, organizationId);
    ctx.body = await readWaiting(ctx, () => readChanges(deps.db, { organizationId, after: q.after ?? null, limit: q.limit }), q.wait);
  });

  return router;
}
