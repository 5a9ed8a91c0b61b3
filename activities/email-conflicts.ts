import type { Knex } from 'knex';
import { activeEmailHolder, loadGroups, loadUsers } from '../db/repositories/directory';
import { describeEmailConflict } from '../domain/conflicts';
import type { DirectoryEvent } from '../domain/events';
import { userDirectory } from '../domain/plan';

/** The unique index that keeps two active users of one organization from sharing an e-mail. */
const ACTIVE_EMAIL_INDEX = 'directory_users_active_email';

/**
 * Why a user event could not be applied, when it is because another active user has its e-mail:
 * both users and both directories, in the ledger's words (`unique constraint violated (23505): …`,
 * so the conflict is retried like any other once it may have cleared). Undefined for any other
 * failure. Runs in the transaction whose savepoint the failure rolled back.
 */
export async function explainEmailConflict(
  trx: Knex.Transaction,
  organizationId: string,
  event: DirectoryEvent,
  err: unknown,
): Promise<string | undefined> {
  const e = err as { code?: string; constraint?: string };
  if (event.kind !== 'user' || e?.code !== '23505' || e.constraint !== ACTIVE_EMAIL_INDEX) return undefined;
  const rec = event.user;
  const stored = (await loadUsers(trx, organizationId, [rec.id])).get(rec.id);
  const email = rec.email ?? stored?.email ?? null;
  if (!email) return undefined;
  const holder = await activeEmailHolder(trx, organizationId, email, rec.id);
  if (!holder) return undefined;
  const groups = await loadGroups(
    trx,
    organizationId,
    (rec.groups ?? []).map((g) => g.id),
  );
  const directoryId = userDirectory(rec, stored, (id) => groups.get(id));
  return `unique constraint violated (23505): ${describeEmailConflict(
    { id: rec.id, directoryId },
    { id: holder.id, directoryId: holder.directory_id },
  )}`;
}
