import type { Knex } from 'knex';
import type { DirectoryWrite } from '../../domain/plan';

/**
 * The organization's directories as the mirror records them (organization_directories): their
 * enabled states and whether a full reconcile found them gone. Only the writer
 * (db/mirror/writer.ts) calls these, under the organization's lock.
 */

type Db = Knex | Knex.Transaction;

/**
 * Records directories' states, from enabled/disabled events or from Scalekit's listing. An event
 * or a listing says the directory exists (it is no longer marked removed). The enabled state
 * follows the freshness rule: a state older than the stored one changes nothing, so a listing
 * asked for before a newer directory_disabled event (one that arrived meanwhile) cannot enable
 * the directory again. A listing's time is when scimflow asked for it: what Scalekit answered is
 * at least that fresh.
 */
export async function writeDirectoryStates(
  trx: Knex.Transaction,
  organizationId: string,
  directories: readonly DirectoryWrite[],
): Promise<void> {
  await trx.raw(
    `INSERT INTO organization_directories AS d (organization_id, id, directory_type, provider, enabled, state_ns, listed_at)
     SELECT ?, v.id, v.directory_type, v.provider, v.enabled, v.state_ns, CASE WHEN v.listed THEN now() END
       FROM unnest(?::text[], ?::text[], ?::text[], ?::boolean[], ?::bigint[], ?::boolean[]) AS v(id, directory_type, provider, enabled, state_ns, listed)
     ON CONFLICT (organization_id, id) DO UPDATE
        SET directory_type = coalesce(excluded.directory_type, d.directory_type), provider = coalesce(excluded.provider, d.provider),
            enabled = CASE WHEN d.state_ns IS NULL OR excluded.state_ns >= d.state_ns THEN excluded.enabled ELSE d.enabled END,
            state_ns = greatest(d.state_ns, excluded.state_ns),
            listed_at = coalesce(excluded.listed_at, d.listed_at), removed_at = NULL, updated_at = now()`,
    [
      organizationId,
      directories.map((d) => d.directoryId),
      directories.map((d) => d.directoryType) as string[],
      directories.map((d) => d.provider) as string[],
      directories.map((d) => d.enabled),
      directories.map((d) => d.sourceNs),
      directories.map((d) => d.listed === true),
    ],
  );
}

/**
 * A full reconcile's finding: the organization's directories Scalekit no longer lists are marked
 * removed, those its users and groups name included (the first full run that misses one; its
 * users are deactivated by the next). One that something listed, or an event named, since the
 * run started is not: the run's listing is older than that.
 */
export async function markRemovedDirectories(
  db: Db,
  organizationId: string,
  listedIds: readonly string[],
  runStartedAt: string,
): Promise<void> {
  await db.raw(
    `INSERT INTO organization_directories (organization_id, id, removed_at)
     SELECT ?, e.directory_id, now() FROM (
       SELECT directory_id FROM directory_users WHERE organization_id = ? AND directory_id IS NOT NULL
       UNION
       SELECT directory_id FROM directory_groups WHERE organization_id = ? AND directory_id IS NOT NULL) e
      WHERE NOT (e.directory_id = ANY(?::text[]))
     ON CONFLICT (organization_id, id) DO NOTHING`,
    [organizationId, organizationId, organizationId, listedIds as string[]],
  );
  await db.raw(
    `UPDATE organization_directories SET removed_at = now(), updated_at = now()
      WHERE organization_id = ? AND removed_at IS NULL AND NOT (id = ANY(?::text[])) AND updated_at < ?::timestamptz`,
    [organizationId, listedIds as string[], runStartedAt],
  );
}
