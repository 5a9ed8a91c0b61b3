import { describe, expect, it } from 'vitest';
import { isOrganizationId, isRunId, NOT_AN_ORGANIZATION_ID, ORGANIZATION_ID_RULE, organizationIdProblem } from '../../domain/ids';

describe('organization ids', () => {
  it.each([
    ['a Scalekit organization id', 'org_38609339635728478'],
    ['a short one', 'org_1'],
    ['one character', 'o'],
    ['an external id with dashes', 'acme-corp_EU-2'],
    ['128 characters (the limit)', `org_${'x'.repeat(124)}`],
  ])('accepts %s', (_label, id) => {
    expect(isOrganizationId(id)).toBe(true);
    expect(organizationIdProblem(id)).toBeNull();
  });

  it.each([
    ['empty', ''],
    ['129 characters', `org_${'x'.repeat(125)}`],
    ['a dot (workflow and schedule ids, URLs)', 'org.1'],
    ['a slash', 'org_1/../../admin'],
    ['a colon (the separator of workflow ids)', 'org:1'],
    ['a space', 'org 1'],
    ['a non-ASCII letter', 'org_ü'],
    ['a trailing newline', 'org_1\n'],
    ['a number', 12345],
    ['null', null],
    ['undefined', undefined],
  ])('refuses %s, saying what was expected', (_label, id) => {
    expect(isOrganizationId(id)).toBe(false);
    expect(organizationIdProblem(id)).toBe('expected an organization id such as org_123');
  });

  it('says the rule in words', () => {
    expect(NOT_AN_ORGANIZATION_ID).toBe('expected an organization id such as org_123');
    expect(ORGANIZATION_ID_RULE).toBe('1-128 letters, digits, "_" or "-"');
  });
});

describe('run ids', () => {
  it.each(['1', '42', '0', '9'.repeat(18)])('accepts %s', (id) => {
    expect(isRunId(id)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['19 digits (more than a bigint holds)', '1'.repeat(19)],
    ['a word', 'latest'],
    ['a sign', '-1'],
    ['a decimal', '1.5'],
    ['a trailing newline', '1\n'],
    ['a number (ids travel as strings)', 1],
  ])('refuses %s', (_label, id) => {
    expect(isRunId(id)).toBe(false);
  });
});
