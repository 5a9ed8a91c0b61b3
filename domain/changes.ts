/**
 * The change stream: what the application needs to know about an organization's directory, one
 * record per real change, in the order the changes were committed.
 *
 * Records are written by the directory mirror's one writer, in the same transaction as the change
 * they describe, so a change and its record exist together or not at all. A write that changes
 * nothing the application sees (a duplicate, a stale event, an update to the same values) records
 * nothing; a reconcile that repairs drift records exactly the repair.
 *
 * These types are the contract with the application: they are exported for TypeScript consumers
 * and described as JSON Schema for other languages (`contract/`). Add fields; never rename or
 * remove one.
 */

export const CHANGE_KINDS = [
  'user.provisioned',
  'user.updated',
  'user.deactivated',
  'user.reactivated',
  'user.roles_changed',
  'group.created',
  'group.updated',
  'group.deleted',
  'directory.enabled',
  'directory.disabled',
] as const;

/**
 * - `user.provisioned`: the user's first appearance as active (and not held by the organization's
 *   allowed e-mail domains): create them in the application.
 * - `user.updated`: profile fields changed (`changes` lists them, before and after).
 * - `user.deactivated`: deprovision: disable the account and end its sessions. Never a deletion.
 * - `user.reactivated`: active again after a deactivation.
 * - `user.roles_changed`: the effective roles changed (`changes.roles`, with `reasons`).
 * - `group.*`: a directory group appeared, was renamed, or was deleted.
 * - `directory.enabled|disabled`: the organization's directory (one of them) was turned on or off.
 */
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** The user as the application should now see them (after the change). */
export interface UserView {
  /** The directory user id (Scalekit's): stable, the key the application stores beside its own id. */
  id: string;
  /** The identity provider's id for the user, when the directory sends one. */
  externalId: string | null;
  /** The directory the user came from. */
  directoryId: string | null;
  email: string | null;
  preferredUsername: string | null;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  /**
   * Whether the user may use the application: active in the directory and not held by the
   * organization's allowed e-mail domains.
   */
  active: boolean;
  /**
   * Why the user is kept out of the application although active in the directory (their e-mail is
   * outside the organization's allowed domains), or null. A held user the application was told
   * about is deactivated in it (`user.deactivated`, `changes.held`), and reactivated when released.
   */
  held: string | null;
  /** Live groups the user is a member of, by id and name. */
  groups: { id: string; name: string | null }[];
  /** Effective roles (resolved: Scalekit's roles, group mappings, the default role); none when not active. */
  roles: string[];
}

export interface GroupView {
  id: string;
  directoryId: string | null;
  name: string | null;
  externalId: string | null;
  deleted: boolean;
}

export interface DirectoryView {
  id: string;
  enabled: boolean;
  type: string | null;
  provider: string | null;
}

/** One changed field: its value before and after. */
export interface FieldChange<T = unknown> {
  before: T;
  after: T;
}

/** What made the change. */
export type ChangeCause =
  /** A directory event (webhook), applied live or after a pause (`deferred`). */
  | { type: 'event'; eventId: string; eventType: string; deferred: boolean }
  /** A reconcile (full, delta or import) repairing drift. */
  | { type: 'sync_run'; runId: string; runKind: string }
  /** A role mapping or default role change. */
  | { type: 'role_mapping'; summary: string }
  /** A quarantined event applied on retry. */
  | { type: 'quarantine_retry'; eventId: string; eventType: string }
  /** Retention cleared a deactivated user's personal fields. */
  | { type: 'retention' }
  /** Scalekit's listing of the organization's directories (registration, a reconcile's start) said how they stand. */
  | { type: 'directory_listing' }
  /** The organization's allowed e-mail domains changed: users held or released. */
  | { type: 'email_policy'; summary: string };

interface ChangeRecordBase {
  /**
   * The record's id, a decimal string: unique, the idempotency key. Within an organization,
   * records come in commit order and `sequence` grows by one; the stream of every organization
   * is read in commit order with the cursor `GET /api/changes` returns (ids alone do not give it).
   */
  id: string;
  organizationId: string;
  /** 1, 2, 3… per organization, without gaps. */
  sequence: number;
  cause: ChangeCause;
  /** When the directory change happened (the event's `occurred_at`), when known. */
  occurredAt: string | null;
  /** When the change was committed to the mirror. */
  committedAt: string;
}

export type UserChangeRecord = ChangeRecordBase & {
  kind: 'user.provisioned' | 'user.updated' | 'user.deactivated' | 'user.reactivated' | 'user.roles_changed';
  subject: { type: 'user'; id: string };
  view: UserView;
  /**
   * The fields that changed, before and after. `user.roles_changed` has `roles` (effective roles)
   * and `reasons` (role → why the user holds it, after the change).
   */
  changes: Partial<Record<keyof UserView | 'reasons', FieldChange>>;
};

export type GroupChangeRecord = ChangeRecordBase & {
  kind: 'group.created' | 'group.updated' | 'group.deleted';
  subject: { type: 'group'; id: string };
  view: GroupView;
  changes: Partial<Record<keyof GroupView, FieldChange>>;
};

export type DirectoryChangeRecord = ChangeRecordBase & {
  kind: 'directory.enabled' | 'directory.disabled';
  subject: { type: 'directory'; id: string };
  view: DirectoryView;
  changes: Partial<Record<keyof DirectoryView, FieldChange>>;
};

export type ChangeRecord = UserChangeRecord | GroupChangeRecord | DirectoryChangeRecord;

/**
 * What the application's worker is given: records of ONE organization, in order, consecutive
 * (`records[i].sequence + 1 === records[i + 1].sequence`). The same batch may be given again
 * (a retry): the application applies each record at most once, keyed by `record.id`, in the same
 * transaction as its own writes.
 */
export interface ChangeBatch {
  organizationId: string;
  records: ChangeRecord[];
}

/** What the application answers for a batch. */
export interface ChangeBatchResult {
  /** Records applied now. */
  applied: number;
  /** Records it had applied before (a retry): skipped. */
  alreadyApplied: number;
}

/**
 * The activity the application implements on its own task queue (`APP_TASK_QUEUE`) for
 * Temporal-native delivery. A non-retryable ApplicationFailure means "this batch can never be
 * applied": delivery for that organization stops (others go on) until an operator acts.
 */
export interface ApplicationActivities {
  applyDirectoryChanges(batch: ChangeBatch): Promise<ChangeBatchResult>;
}

/** The activity type name of `ApplicationActivities.applyDirectoryChanges`, for other SDKs. */
export const APPLY_DIRECTORY_CHANGES = 'applyDirectoryChanges';
