import { z } from 'zod';
import {
  APPLY_DIRECTORY_CHANGES,
  CHANGE_KINDS,
  type ChangeBatch,
  type ChangeBatchResult,
  type ChangeCause,
  type ChangeKind,
  type ChangeRecord,
  type DirectoryView,
  type GroupView,
  type UserView,
} from '../domain/changes';

/**
 * The change stream's contract as runtime schemas (zod), the one source of
 * `contract/change-records.schema.json` (JSON Schema, draft 2020-12) for applications in other
 * languages: `npm run contract:schema` writes it, and a unit test fails when the committed file
 * differs from what these schemas give. The compile-time checks at the bottom fail `tsc` when these
 * schemas and the TypeScript types of domain/changes.ts disagree.
 *
 * Objects accept fields they do not list: the contract adds fields and never renames or removes one,
 * so an application validating with it keeps working when a field is added.
 */

export const SCHEMA_ID = 'https://scimflow.dev/contract/change-records.schema.json';

const USER_KINDS = ['user.provisioned', 'user.updated', 'user.deactivated', 'user.reactivated', 'user.roles_changed'] as const;
const GROUP_KINDS = ['group.created', 'group.updated', 'group.deleted'] as const;
const DIRECTORY_KINDS = ['directory.enabled', 'directory.disabled'] as const;

const nullableString = z.string().nullable();
const timestamp = z.iso.datetime({ offset: true });

export const changeKindSchema = z.enum(CHANGE_KINDS).meta({
  id: 'ChangeKind',
  description: [
    "What changed. user.provisioned: the user's first appearance as active and not held (create them). user.updated: profile fields changed",
    '(`changes` lists them, before and after). user.deactivated: deprovision: disable the account and end its sessions, never a',
    'deletion. user.reactivated: active again after a deactivation. user.roles_changed: the effective roles changed (`changes.roles`,',
    'with `changes.reasons`). group.created|updated|deleted: a directory group appeared, was renamed, or was deleted.',
    "directory.enabled|disabled: one of the organization's directories was turned on or off. More kinds may be added: an",
    'application skips (and counts as applied) a kind it does not know.',
  ].join(' '),
});

export const fieldChangeSchema = z
  .object({ before: z.unknown(), after: z.unknown() })
  .meta({ id: 'FieldChange', description: 'One changed field: its value before and after the change.' });

export const changeCauseSchema = z
  .discriminatedUnion('type', [
    z
      .object({ type: z.literal('event'), eventId: z.string(), eventType: z.string(), deferred: z.boolean() })
      .meta({ description: 'A directory event (webhook), applied live or after a pause (`deferred`).' }),
    z
      .object({ type: z.literal('sync_run'), runId: z.string(), runKind: z.string() })
      .meta({ description: 'A reconcile (full, delta or import) repairing drift.' }),
    z.object({ type: z.literal('role_mapping'), summary: z.string() }).meta({ description: 'A role mapping or default role change.' }),
    z
      .object({ type: z.literal('quarantine_retry'), eventId: z.string(), eventType: z.string() })
      .meta({ description: 'A quarantined event applied on retry.' }),
    z.object({ type: z.literal('retention') }).meta({ description: "Retention cleared a deactivated user's personal fields." }),
    z
      .object({ type: z.literal('directory_listing') })
      .meta({ description: "Scalekit's listing of the organization's directories said how they stand." }),
    z
      .object({ type: z.literal('email_policy'), summary: z.string() })
      .meta({ description: "The organization's allowed e-mail domains changed: users held or released." }),
  ])
  .meta({
    id: 'ChangeCause',
    description:
      'What made the change: for the reader (logs, audits). Causes may be added: an application applies a record whatever its cause.',
  });

export const userViewSchema = z
  .object({
    id: z.string().meta({ description: "The directory user id (Scalekit's): stable, the key the application stores beside its own id." }),
    externalId: nullableString.meta({ description: "The identity provider's id for the user, when the directory sends one." }),
    directoryId: nullableString.meta({ description: 'The directory the user came from.' }),
    email: nullableString,
    preferredUsername: nullableString,
    name: nullableString,
    givenName: nullableString,
    familyName: nullableString,
    active: z.boolean().meta({
      description:
        "Whether the user may use the application: active in the directory and not held by the organization's allowed e-mail domains.",
    }),
    held: nullableString.meta({
      description:
        "Why the user is kept out of the application although active in the directory (their e-mail is outside the organization's allowed domains), or null. A held user the application was told about is deactivated in it (user.deactivated, with changes.held), and reactivated when released.",
    }),
    groups: z
      .array(z.object({ id: z.string(), name: nullableString }))
      .meta({ description: 'Live groups the user is a member of, by id and name.' }),
    roles: z
      .array(z.string())
      .meta({ description: "Effective roles (resolved: Scalekit's roles, group mappings, the default role); none when not active." }),
  })
  .meta({ id: 'UserView', description: 'The user as the application should now see them (after the change).' });

export const groupViewSchema = z
  .object({ id: z.string(), directoryId: nullableString, name: nullableString, externalId: nullableString, deleted: z.boolean() })
  .meta({ id: 'GroupView', description: 'The directory group after the change.' });

export const directoryViewSchema = z
  .object({ id: z.string(), enabled: z.boolean(), type: nullableString, provider: nullableString })
  .meta({ id: 'DirectoryView', description: 'The directory after the change.' });

/** `changes` of a view: any of its fields (and `extra`), before and after. */
function changesOf<K extends string>(keys: readonly K[], description: string) {
  const shape = Object.fromEntries(keys.map((k) => [k, fieldChangeSchema.optional()])) as {
    [P in K]: z.ZodOptional<typeof fieldChangeSchema>;
  };
  return z.object(shape).meta({ description });
}

const recordBase = {
  id: z
    .string()
    .regex(/^[0-9]+$/)
    .meta({
      description:
        "The record's position in the stream, a decimal string, and its idempotency key: apply a record at most once, keyed by this id, in the same transaction as the application's own writes. Across organizations, ids order records.",
    }),
  organizationId: z.string(),
  sequence: z.number().int().min(1).meta({ description: 'Position within the organization: 1, 2, 3… without gaps, in commit order.' }),
  cause: changeCauseSchema,
  occurredAt: timestamp.nullable().meta({ description: "When the directory change happened (the event's `occurred_at`), when known." }),
  committedAt: timestamp.meta({ description: 'When the change was committed to the mirror.' }),
};

const userViewKeys = Object.keys(userViewSchema.shape) as (keyof UserView)[];
const groupViewKeys = Object.keys(groupViewSchema.shape) as (keyof GroupView)[];
const directoryViewKeys = Object.keys(directoryViewSchema.shape) as (keyof DirectoryView)[];

export const userChangeRecordSchema = z
  .object({
    ...recordBase,
    kind: z.enum(USER_KINDS),
    subject: z.object({ type: z.literal('user'), id: z.string() }),
    view: userViewSchema,
    changes: changesOf(
      [...userViewKeys, 'reasons'],
      'The fields that changed, before and after. user.roles_changed has `roles` (effective roles) and `reasons` (role → why the user holds it, after the change).',
    ),
  })
  .meta({ id: 'UserChangeRecord', description: 'A change of a directory user.' });

export const groupChangeRecordSchema = z
  .object({
    ...recordBase,
    kind: z.enum(GROUP_KINDS),
    subject: z.object({ type: z.literal('group'), id: z.string() }),
    view: groupViewSchema,
    changes: changesOf(groupViewKeys, 'The fields that changed, before and after.'),
  })
  .meta({ id: 'GroupChangeRecord', description: 'A change of a directory group.' });

export const directoryChangeRecordSchema = z
  .object({
    ...recordBase,
    kind: z.enum(DIRECTORY_KINDS),
    subject: z.object({ type: z.literal('directory'), id: z.string() }),
    view: directoryViewSchema,
    changes: changesOf(directoryViewKeys, 'The fields that changed, before and after.'),
  })
  .meta({ id: 'DirectoryChangeRecord', description: "A change of one of the organization's directories." });

export const changeRecordSchema = z
  .discriminatedUnion('kind', [userChangeRecordSchema, groupChangeRecordSchema, directoryChangeRecordSchema])
  .meta({
    id: 'ChangeRecord',
    description:
      "One real change of an organization's directory, as the application should learn it: the subject's full current view, what changed, its cause and its times. Written in the same transaction as the change it describes.",
  });

export const changeBatchSchema = z.object({ organizationId: z.string(), records: z.array(changeRecordSchema) }).meta({
  id: 'ChangeBatch',
  description: `The input of the activity \`${APPLY_DIRECTORY_CHANGES}\`, and the body of a signed HTTP push: records of ONE organization, in order, consecutive (records[i].sequence + 1 = records[i + 1].sequence). The same batch may be given again (a retry, or a replay after a rewind): the application applies each record at most once, keyed by record.id, in the same transaction as its own writes.`,
});

export const changeBatchResultSchema = z
  .object({
    applied: z.number().int().min(0).meta({ description: 'Records applied now.' }),
    alreadyApplied: z.number().int().min(0).meta({ description: 'Records it had applied before (a retry): skipped.' }),
  })
  .meta({ id: 'ChangeBatchResult', description: `What the activity \`${APPLY_DIRECTORY_CHANGES}\` returns for a batch.` });

/** How an application consumes the stream: the part of the contract that is not a data shape. */
export const CONTRACT_DESCRIPTION = [
  "The change stream of scimflow: ordered, exactly-once records of what an organization's directory changed, for the application scimflow provisions.",
  `Temporal-native delivery: the application runs a Temporal worker on its own task queue (scimflow's APP_TASK_QUEUE) with an activity of type "${APPLY_DIRECTORY_CHANGES}" taking one ChangeBatch and returning a ChangeBatchResult (JSON payloads through scimflow's payload codec: compressed by default, encoding binary/zlib in the format of the Temporal Go SDK's ZlibCodec, the whole Payload protobuf-encoded in a zlib stream, unless scimflow runs with PAYLOAD_COMPRESSION=off; and encrypted when scimflow encrypts payloads).`,
  'Per organization, scimflow calls it with one batch at a time, in commit order, and retries with backoff: a thrown error is retried; a non-retryable ApplicationFailure means the batch can never be applied, and delivery for that organization stops (others go on) until an operator retries, skips the record or rewinds.',
  'Signed HTTP push: the same ChangeBatch as the JSON body, signed with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature; the secret APP_WEBHOOK_SECRET), answered with a ChangeBatchResult.',
  "Idempotency: a batch may come again; apply each record at most once, keyed by record.id, recorded in the same transaction as the application's own writes.",
].join(' ');

/** The JSON Schema document (draft 2020-12) of the contract: every shape under `$defs`. */
export function contractJsonSchema(): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  const shapes = {
    ChangeKind: changeKindSchema,
    ChangeCause: changeCauseSchema,
    FieldChange: fieldChangeSchema,
    UserView: userViewSchema,
    GroupView: groupViewSchema,
    DirectoryView: directoryViewSchema,
    UserChangeRecord: userChangeRecordSchema,
    GroupChangeRecord: groupChangeRecordSchema,
    DirectoryChangeRecord: directoryChangeRecordSchema,
    ChangeRecord: changeRecordSchema,
    ChangeBatch: changeBatchSchema,
    ChangeBatchResult: changeBatchResultSchema,
  };
  for (const [id, schema] of Object.entries(shapes)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { target: 'draft-2020-12', io: 'input', uri: (id) => `#/$defs/${id}` }) as {
    schemas: Record<string, Record<string, unknown>>;
  };
  const defs = Object.fromEntries(
    Object.entries(schemas).map(([id, s]) => {
      const { $schema: _schema, $id: _id, ...rest } = s;
      return [id, rest];
    }),
  );
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCHEMA_ID,
    title: 'scimflow change records',
    description: CONTRACT_DESCRIPTION,
    'x-activity': {
      name: APPLY_DIRECTORY_CHANGES,
      input: { $ref: '#/$defs/ChangeBatch' },
      output: { $ref: '#/$defs/ChangeBatchResult' },
      taskQueue: "The application's own task queue: scimflow's APP_TASK_QUEUE.",
    },
    $ref: '#/$defs/ChangeBatch',
    $defs: defs,
  };
}

// Compile-time agreement with domain/changes.ts: each side assignable to the other.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function agree<_T extends true>(): void {}
agree<Same<z.infer<typeof changeKindSchema>, ChangeKind>>();
agree<Same<z.infer<typeof changeCauseSchema>, ChangeCause>>();
agree<Same<z.infer<typeof userViewSchema>, UserView>>();
agree<Same<z.infer<typeof groupViewSchema>, GroupView>>();
agree<Same<z.infer<typeof directoryViewSchema>, DirectoryView>>();
agree<Same<z.infer<typeof changeRecordSchema>, ChangeRecord>>();
agree<Same<z.infer<typeof changeBatchSchema>, ChangeBatch>>();
agree<Same<z.infer<typeof changeBatchResultSchema>, ChangeBatchResult>>();
agree<Same<(typeof USER_KINDS)[number] | (typeof GROUP_KINDS)[number] | (typeof DIRECTORY_KINDS)[number], ChangeKind>>();
