import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { APPLY_DIRECTORY_CHANGES, CHANGE_KINDS, changeBatchSchema, changeRecordSchema } from '../../contract/index';
import { CONTRACT_SCHEMA_PATH, contractSchemaText } from '../../scripts/contract-schema';
import { batch, oneOfEveryKind } from '../support/change-records';

type JsonSchema = {
  $defs: Record<string, { enum?: string[]; properties?: Record<string, { enum?: string[] }>; oneOf?: { $ref: string }[] }>;
} & Record<string, unknown>;

const committed = readFileSync(CONTRACT_SCHEMA_PATH, 'utf8');
const document = JSON.parse(committed) as JsonSchema;

/** A validator built from the committed JSON file alone (not from the zod schemas it came from). */
function validatorFor(def: string) {
  return z.fromJSONSchema({ ...document, $ref: `#/$defs/${def}` } as never);
}

describe('the change stream contract (contract/change-records.schema.json)', () => {
  it('is the file the schemas generate (npm run contract:schema writes it)', () => {
    expect(committed).toBe(contractSchemaText());
  });

  it('lists exactly the kinds of CHANGE_KINDS, each in exactly one record shape', () => {
    expect(document.$defs.ChangeKind?.enum).toEqual([...CHANGE_KINDS]);
    const refs = document.$defs.ChangeRecord?.oneOf?.map((r) => r.$ref.replace('#/$defs/', '')) ?? [];
    const recordKinds = refs.flatMap((name) => document.$defs[name]?.properties?.kind?.enum ?? []);
    expect([...recordKinds].sort()).toEqual([...CHANGE_KINDS].sort());
  });

  it('names the activity', () => {
    expect((document['x-activity'] as { name: string }).name).toBe(APPLY_DIRECTORY_CHANGES);
    expect(document.description).toContain(APPLY_DIRECTORY_CHANGES);
  });

  const samples = oneOfEveryKind('org_contract');

  it.each(CHANGE_KINDS.map((kind) => [kind]))('validates a %s record (the JSON file and the TypeScript schemas)', (kind) => {
    const record = samples[kind];
    expect(record.kind).toBe(kind);
    const fromFile = validatorFor('ChangeRecord').safeParse(record);
    expect(fromFile.error).toBeUndefined();
    expect(changeRecordSchema.safeParse(record).error).toBeUndefined();
  });

  it('validates a batch of every kind and accepts fields added later', () => {
    const all = batch('org_contract', Object.values(samples));
    expect(validatorFor('ChangeBatch').safeParse(all).success).toBe(true);
    expect(changeBatchSchema.safeParse(all).success).toBe(true);
    const withMore = {
      ...all,
      deliveredAt: 'x',
      records: all.records.map((r) => ({ ...r, newField: 1, view: { ...r.view, extra: true } })),
    };
    expect(validatorFor('ChangeBatch').safeParse(withMore).success).toBe(true);
    expect(changeBatchSchema.safeParse(withMore).success).toBe(true);
    expect(validatorFor('ChangeBatchResult').safeParse({ applied: 3, alreadyApplied: 0 }).success).toBe(true);
  });

  it('refuses malformed records', () => {
    const user = samples['user.provisioned'];
    const bad: unknown[] = [
      { ...user, id: undefined },
      { ...user, id: 'abc' },
      { ...user, sequence: 0 },
      { ...user, sequence: 1.5 },
      { ...user, kind: 'user.deleted' },
      { ...user, committedAt: 'yesterday' },
      { ...user, view: { ...user.view, active: 'yes' } },
      { ...user, cause: { type: 'event' } },
      { ...samples['group.created'], view: user.view, kind: 'group.created' },
      { ...samples['directory.enabled'], view: user.view },
    ];
    for (const record of bad) {
      expect(validatorFor('ChangeRecord').safeParse(record).success, JSON.stringify(record)).toBe(false);
      expect(changeRecordSchema.safeParse(record).success, JSON.stringify(record)).toBe(false);
    }
  });
});
