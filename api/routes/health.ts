import Router from '@koa/router';
import type { Knex } from 'knex';
import type { Metrics } from '../../observability/metrics';
import type { OrganizationWorkflows } from '../../temporal/client';

export interface HealthDeps {
  db: Knex;
  workflows: Pick<OrganizationWorkflows, 'reachable'>;
  metrics: Metrics;
}

async function postgresReachable(db: Knex): Promise<boolean> {
  try {
    await db.raw('SELECT 1');
    return true;
  } catch {
    return false;
  }
}

/** /healthz (the process is up), /readyz (its dependencies answer), /metrics (Prometheus). */
export function healthRouter(deps: HealthDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [postgres, temporal] = await Promise.all([postgresReachable(deps.db), deps.workflows.reachable()]);
    const ready = postgres && temporal;
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready', checks: { postgres, temporal } };
  });
  router.get('/metrics', (ctx) => {
    ctx.type = 'text/plain; version=0.0.4';
    ctx.body = deps.metrics.render();
  });
  return router;
}
