import Router, { type RouterOptions } from '@koa/router';
import type { Knex } from 'knex';
import type { DefaultContext, DefaultState } from 'koa';
import { z } from 'zod';
import { isOrganizationId, isRunId, NOT_AN_ORGANIZATION_ID } from '../domain/ids';
import { parse, requireKnownOrganization } from './request';

/** Every path parameter of the operator API and what it must look like; a bad one is a 400 naming what was expected. */
const PATH_PARAMS = {
  orgId: z.string().refine(isOrganizationId, { message: NOT_AN_ORGANIZATION_ID }),
  runId: z.string().refine(isRunId, { message: 'expected a run id (a number)' }),
  groupId: z.string().min(1).max(256, { message: 'expected a directory group id' }),
  userId: z.string().min(1).max(256, { message: 'expected a directory user id' }),
};

export type PathParam = keyof typeof PATH_PARAMS;

/** ctx.params in the handlers of a router that checks these parameters. */
export interface CheckedParams<N extends PathParam> {
  params: Record<N, string>;
}

/** A router whose handlers read the named path parameters already checked. */
export type CheckedRouter<N extends PathParam> = Router<DefaultState, DefaultContext & CheckedParams<N>>;

/**
 * A router that checks the named path parameters of its routes once, before their handlers run.
 * Parameter checks run first in every layer whose path has the parameter, router.use middleware
 * included: a prefix without parameters keeps the operator token ahead of them (401 before 400).
 * With `knownOrganizations`, an `orgId` scimflow has never heard of (for a read; never registered,
 * for a change) is a 404 with the next step, before any handler reads or starts anything for it (so put the token check in router.use, ahead
 * of it: nobody without the token learns which organizations exist).
 */
export function checkedRouter<N extends PathParam>(
  names: readonly N[],
  options?: RouterOptions,
  checks: { knownOrganizations?: Knex } = {},
): CheckedRouter<N> {
  const router: CheckedRouter<N> = new Router(options);
  for (const name of names) {
    const schema = PATH_PARAMS[name];
    const db = name === 'orgId' ? checks.knownOrganizations : undefined;
    router.param(name, async (value, ctx, next) => {
      parse(schema, value);
      if (db) {
        // Every parameter's shape first (400 names what was expected), then whether the organization
        // exists: reads answer for an organization only the ledger names; changes need it registered.
        const params = (ctx as { params?: Record<string, string> }).params ?? {};
        for (const other of names) if (params[other] !== undefined) parse(PATH_PARAMS[other], params[other]);
        await requireKnownOrganization(db, value, ctx.method === 'GET' || ctx.method === 'HEAD');
      }
      return next();
    });
  }
  return router;
}
