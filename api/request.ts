import type { Context } from 'koa';
import type { Knex } from 'knex';
import type { z } from 'zod';
import { organizationExists, organizationHeardOf } from '../db/repositories/organizations';
import { ApiError } from './errors';
import { readRawBody } from './raw-body';
import { cliPrefix } from '../domain/cli-command';

/** Request parsing shared by the operator API's routes: one 400 shape for every bad input. */

export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new ApiError(400, 'invalid_request', `${where}${issue?.message ?? 'invalid request'}`);
  }
  return r.data;
}

export async function readJson(ctx: Context, limitBytes = 16 * 1024): Promise<unknown> {
  const raw = await readRawBody(ctx, limitBytes);
  if (raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ApiError(400, 'invalid_request', 'the request body is not valid JSON');
  }
}

/**
 * 404 with the next step for an organization scimflow has never registered (no workflow is
 * started for it). With `reading`, one only named by events in the ledger may be read.
 */
export async function requireKnownOrganization(db: Knex, organizationId: string, reading = false): Promise<void> {
  if (!(await (reading ? organizationHeardOf : organizationExists)(db, organizationId))) {
    throw new ApiError(
      404,
      'not_found',
      `scimflow does not know organization ${organizationId} yet; register it first (${cliPrefix()} orgs add ${organizationId})`,
    );
  }
}
