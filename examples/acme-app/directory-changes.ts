import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import { z } from 'zod';
import {
  CHANGE_KINDS,
  directoryChangeRecordSchema,
  groupChangeRecordSchema,
  userChangeRecordSchema,
  type ApplicationActivities,
  type ChangeBatch,
  type ChangeBatchResult,
  type ChangeRecord,
  type UserChangeRecord,
  type UserView,
} from '../../contract/index';
import { mapDirectoryRoles, type Role } from './permissions';
import { createUsers, deactivateUser, reactivateUser, setRoles, updateProfile, type NewUser, type Profile } from './users';

/**
 * Directory changes from scimflow, applied through Acme's own user functions (users.ts): the same
 * create / update / role / deactivate paths as the rest of the product, not a parallel one.
 *
 * Exactly once: a batch's records are claimed in `applied_changes` (by record id) in the same
 * transaction as the writes they cause. A record claimed before (a retry, a replay after a rewind)
 * is skipped; a transaction that fails claims nothing, so the batch is applied whole or not at all.
 */

export interface ChangeLogger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
}

/** A record Acme can never apply (malformed, or of another organization): retrying will not help. */
export class RecordRejected extends Error {
  constructor(
    readonly recordId: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'RecordRejected';
  }
}

const knownKinds: ReadonlySet<string> = new Set(CHANGE_KINDS);

/** The contract's records, with any cause: a cause is for the reader, and scimflow may add causes. */
const anyCause = z.looseObject({ type: z.string() });
const recordSchema = z.discriminatedUnion('kind', [
  userChangeRecordSchema.extend({ cause: anyCause }),
  groupChangeRecordSchema.extend({ cause: anyCause }),
  directoryChangeRecordSchema.extend({ cause: anyCause }),
]);

/** The parts of a record of a kind Acme does not know yet (scimflow may add kinds): enough to skip it once. */
const anyRecordSchema = z.object({
  id: z.string().regex(/^[0-9]+$/),
  organizationId: z.string(),
  sequence: z.number().int().min(1),
  kind: z.string(),
});

type Parsed = { record: ChangeRecord; known: true } | { record: z.infer<typeof anyRecordSchema>; known: false };

function parseRecord(raw: unknown): Parsed | { error: z.ZodError } {
  if (knownKinds.has(String((raw as { kind?: unknown } | null)?.kind))) {
    const result = recordSchema.safeParse(raw);
    // The cause, given any shape here, is not read.
    return result.success ? { record: result.data as ChangeRecord, known: true } : { error: result.error };
  }
  const result = anyRecordSchema.safeParse(raw);
  return result.success ? { record: result.data, known: false } : { error: result.error };
}

/** Checks a batch against the contract; throws RecordRejected naming the first record that fails. */
export function parseBatch(input: unknown): { organizationId: string; records: Parsed[] } {
  const shape = z.object({ organizationId: z.string().min(1), records: z.array(z.unknown()) }).safeParse(input);
  if (!shape.success) throw new RecordRejected(null, `not a change batch: ${z.prettifyError(shape.error)}`);
  const { organizationId } = shape.data;
  const records = shape.data.records.map((raw, index): Parsed => {
    const rawId = (raw as { id?: unknown } | null)?.id;
    const where = `record ${index} (id ${typeof rawId === 'string' ? rawId : 'missing'})`;
    const parsed = parseRecord(raw);
    if ('error' in parsed) {
      throw new RecordRejected(
        typeof rawId === 'string' ? rawId : null,
        `${where} does not match the change record contract: ${z.prettifyError(parsed.error)}`,
      );
    }
    const record = parsed.record;
    if (record.organizationId !== organizationId) {
      throw new RecordRejected(
        record.id,
        `${where} belongs to organization ${record.organizationId}, not to the batch's ${organizationId}`,
      );
    }
    if (parsed.known && parsed.record.subject.id !== parsed.record.view.id) {
      throw new RecordRejected(record.id, `${where}: its subject (${parsed.record.subject.id}) is not its view (${parsed.record.view.id})`);
    }
    return parsed;
  });
  return { organizationId, records };
}

/** Applies a batch (what the Temporal activity and the HTTP push handler both call). */
export async function applyDirectoryChanges(db: Knex, input: ChangeBatch | unknown, logger: ChangeLogger): Promise<ChangeBatchResult> {
  const batch = parseBatch(input);
  if (batch.records.length === 0) return { applied: 0, alreadyApplied: 0 };
  return db.transaction(async (trx) => {
    // Claim every record of the batch at once; the rows inserted now are the records to apply.
    const records = batch.records.map((p) => p.record);
    const { rows } = await trx.raw<{ rows: { record_id: string }[] }>(
      `INSERT INTO applied_changes (record_id, organization_id, sequence, kind)
       SELECT * FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[])
       ON CONFLICT (record_id) DO NOTHING
       RETURNING record_id`,
      [records.map((r) => r.id), records.map((r) => r.organizationId), records.map((r) => r.sequence), records.map((r) => r.kind)],
    );
    const claimed = new Set(rows.map((r) => r.record_id));
    const toApply = batch.records.filter((p) => claimed.delete(p.record.id));
    const applier = new BatchApplier(trx, batch.organizationId, logger);
    await applier.load(toApply.flatMap((p) => (p.known && p.record.subject.type === 'user' ? [p.record.subject.id] : [])));
    for (const parsed of toApply) {
      if (!parsed.known) {
        logger.warn('skipped a change record of a kind this version does not know', {
          recordId: parsed.record.id,
          kind: parsed.record.kind,
        });
        continue;
      }
      if (isUserRecord(parsed.record)) await applier.apply(parsed.record);
      // Groups and directories: Acme grants by role, which user records carry; nothing else to do.
    }
    await applier.flush();
    return { applied: toApply.length, alreadyApplied: records.length - toApply.length };
  });
}

function isUserRecord(record: ChangeRecord): record is UserChangeRecord {
  return record.subject.type === 'user';
}

function profileOf(view: UserView): Profile {
  const fullName = [view.givenName, view.familyName].filter(Boolean).join(' ');
  return { email: view.email, name: view.name ?? (fullName || view.preferredUsername || view.email) };
}

/**
 * Applies one batch's user records, in order, through users.ts. The batch's users are looked up at
 * once; users to create are created together (an import is a few statements, not a few per user),
 * before anything else touches one of them.
 */
class BatchApplier {
  /** Directory user id → Acme's user (id, active), for the users of this batch. */
  private readonly users = new Map<string, { id: string | null; active: boolean }>();
  private pending: (NewUser & { directoryUserId: string })[] = [];

  constructor(
    private readonly trx: Knex.Transaction,
    private readonly organizationId: string,
    private readonly logger: ChangeLogger,
  ) {}

  async load(directoryUserIds: string[]): Promise<void> {
    if (directoryUserIds.length === 0) return;
    const rows = (await this.trx('users')
      .where({ organization_id: this.organizationId })
      .whereIn('directory_user_id', [...new Set(directoryUserIds)])
      .select('id', 'directory_user_id', 'active')) as { id: string; directory_user_id: string; active: boolean }[];
    for (const r of rows) this.users.set(r.directory_user_id, { id: r.id, active: r.active });
  }

  /** Creates the users waiting to be created. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const created = this.pending;
    this.pending = [];
    const ids = await createUsers(this.trx, created);
    created.forEach((u, i) => this.users.set(u.directoryUserId, { id: ids[i]!, active: true }));
    this.logger.info('users created', { count: created.length, directoryUserIds: created.slice(0, 20).map((u) => u.directoryUserId) });
  }

  private rolesOf(record: UserChangeRecord): Role[] {
    const { roles, unknown } = mapDirectoryRoles(record.view.active ? record.view.roles : []);
    if (unknown.length > 0) {
      this.logger.warn('directory roles with no Acme role grant nothing', { recordId: record.id, userId: record.view.id, roles: unknown });
    }
    return roles;
  }

  async apply(record: UserChangeRecord): Promise<void> {
    const { view } = record;
    const roles = this.rolesOf(record);
    let existing = this.users.get(view.id);
    if (!existing) {
      // Acme learns of the user now (their first record, or Acme restored an older backup): create
      // them as the record shows them. A deactivation of someone Acme never had changes nothing.
      if (record.kind === 'user.deactivated' || !view.active) return;
      this.pending.push({ organizationId: this.organizationId, directoryUserId: view.id, ...profileOf(view), roles });
      this.users.set(view.id, { id: null, active: true });
      return;
    }
    if (existing.id === null) {
      await this.flush();
      existing = this.users.get(view.id)!;
    }
    const id = existing.id!;
    switch (record.kind) {
      case 'user.provisioned':
      case 'user.reactivated':
        if (!existing.active) await reactivateUser(this.trx, id);
        existing.active = true;
        await updateProfile(this.trx, id, profileOf(view));
        await setRoles(this.trx, id, roles);
        return;
      case 'user.updated':
        await updateProfile(this.trx, id, profileOf(view));
        return;
      case 'user.roles_changed':
        await setRoles(this.trx, id, roles);
        this.logger.info('roles changed', { recordId: record.id, userId: id, roles });
        return;
      case 'user.deactivated': {
        const revoked = await deactivateUser(this.trx, id, `deprovisioned by the directory (change ${record.id})`);
        existing.active = false;
        await setRoles(this.trx, id, []);
        this.logger.info('user deactivated', { recordId: record.id, userId: id, tokensRevoked: revoked });
        return;
      }
    }
  }
}

/** The activities of Acme's worker: the contract's one activity, over Acme's database. */
export function createAcmeActivities(db: Knex, logger: ChangeLogger): ApplicationActivities {
  return {
    async applyDirectoryChanges(batch: ChangeBatch): Promise<ChangeBatchResult> {
      try {
        return await applyDirectoryChanges(db, batch, logger);
      } catch (err) {
        if (err instanceof RecordRejected) {
          // Never retried: scimflow stops this organization's delivery here until an operator acts.
          throw ApplicationFailure.create({
            message: err.message,
            type: 'RecordRejected',
            nonRetryable: true,
            details: [{ recordId: err.recordId }],
          });
        }
        throw err;
      }
    },
  };
}
