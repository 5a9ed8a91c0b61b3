import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseDirectoryWebhook } from '../../domain/events';
import type { DirectoryEvent, ParseOutcome } from '../../domain/events';

// The eight example payloads from Scalekit's OpenAPI file, exactly as published (the fixture
// names its source).
const OPENAPI = new URL('../fixtures/scalekit/directory-webhooks.yaml', import.meta.url);
const spec = parse(readFileSync(OPENAPI, 'utf8')) as {
  webhooks: Record<string, { post: { requestBody: { content: { 'application/json': { example: Record<string, unknown> } } } } }>;
};

function example(type: string): Record<string, unknown> {
  const hook = spec.webhooks[type];
  if (!hook) throw new Error(`no webhook ${type} in ${OPENAPI.pathname}`);
  // Deep copy so tests that mutate a payload do not leak into others.
  return structuredClone(hook.post.requestBody.content['application/json'].example);
}

const RECEIVED = new Date('2026-01-01T00:00:00.000Z');

function parsed(payload: unknown, webhookId: string | null = 'msg_abc'): ParseOutcome {
  return parseDirectoryWebhook(JSON.stringify(payload), { webhookId, receivedAt: RECEIVED });
}

function event(payload: unknown): DirectoryEvent {
  const out = parsed(payload);
  if (out.status !== 'event') throw new Error(`expected an event, got ${out.status}: ${'reason' in out ? out.reason : ''}`);
  return out.event;
}

function quarantined(payload: unknown): Extract<ParseOutcome, { status: 'quarantined' }> {
  const out = typeof payload === 'string' ? parseDirectoryWebhook(payload) : parsed(payload);
  if (out.status !== 'quarantined') throw new Error(`expected quarantined, got ${out.status}`);
  return out;
}

function userData(payload: Record<string, unknown>): Record<string, unknown> {
  return payload.data as Record<string, unknown>;
}

// Epoch seconds computed independently with `date -u -d … +%s`.
const NS = {
  directoryEnabled: '1736931322802860294', // 2025-01-15T08:55:22.802860294Z
  directoryDisabled: '1736189121057814000', // 2025-01-06T18:45:21.057814Z
  user: '1736189065153954000', // 2025-01-06T18:44:25.153954Z
  groupCreated: '1727231199036398577', // 2024-09-25T02:26:39.036398577Z
  groupUpdated: '1727232514745030921', // 2024-09-25T02:48:34.745030921Z
  groupDeleted: '1728296726289331747', // 2024-10-07T10:25:26.289331747Z
};

describe('the OpenAPI file', () => {
  it('has all eight directory webhooks with examples', () => {
    expect(Object.keys(spec.webhooks).sort()).toEqual([
      'organization.directory.group_created',
      'organization.directory.group_deleted',
      'organization.directory.group_updated',
      'organization.directory.user_created',
      'organization.directory.user_deleted',
      'organization.directory.user_updated',
      'organization.directory_disabled',
      'organization.directory_enabled',
    ]);
  });
});

describe('parseDirectoryWebhook on Scalekit examples', () => {
  it('organization.directory.user_created', () => {
    const e = event(example('organization.directory.user_created'));
    expect(e.kind).toBe('user');
    if (e.kind !== 'user') return;
    expect(e.type).toBe('organization.directory.user_created');
    expect(e.id).toBe('evt_53891546994442316');
    expect(e.organizationId).toBe('org_53879494091473415');
    expect(e.environmentId).toBe('env_53814739859406915');
    expect(e.occurredAt).toBe('2025-01-06T18:44:25.153954Z');
    expect(e.occurredAtNs).toBe(NS.user);
    expect(e.webhookId).toBe('msg_abc');
    expect(e.receivedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(e.user).toEqual({
      id: 'diruser_53891546960887884',
      email: 'flavio@runolfsdottir.co.duk',
      preferredUsername: 'kuntala1233a',
      name: 'QDRGUZZDYMFU',
      givenName: 'Dayton',
      familyName: 'Jaquelin',
      active: true,
      dpId: '<id from IDP>',
      groups: [{ id: 'dirgroup_12312312312312', name: 'Group Name' }],
      roles: ['billing_admin'],
      attributes: {
        cost_center: 'QAUZJUHSTYCN',
        custom_attributes: { mobile_phone_number: '1-579-4072' },
        department: 'HNXJPGISMIFN',
        division: 'MJFUEYJOKICN',
        employee_id: 'AWNEDTILGaIZN',
        language: 'se',
        locale: 'LLWLEWESPLDC',
        nickname: 'DTUODYKGFPPC',
        organization: 'AUIITQVUQGVH',
        phone_number: '1-579-4072',
        profile: 'YMIUQUHKGVAX',
        raw_attributes: {},
        title: 'FKQBHCWJXZSC',
        user_type: 'RBQFJSQEFAEH',
        zoneinfo: 'America/Araguaina',
      },
    });
  });

  it('organization.directory.user_updated', () => {
    const e = event(example('organization.directory.user_updated'));
    expect(e.kind).toBe('user');
    if (e.kind !== 'user') return;
    expect(e.type).toBe('organization.directory.user_updated');
    expect(e.id).toBe('evt_53891546994442317');
    expect(e.organizationId).toBe('org_53879494091473415');
    expect(e.occurredAtNs).toBe(NS.user);
    expect(e.user).toEqual({
      id: 'diruser_12312312312312',
      email: 'john.doe@example.com',
      preferredUsername: '<idp_user_name>',
      name: 'John Doe',
      givenName: 'John',
      familyName: 'Doe',
      active: true,
      dpId: '<scim_external_id>',
      groups: [{ id: 'dirgroup_12312312312312', name: 'Group Name' }],
      roles: ['billing_admin'],
      attributes: {
        nickname: 'Jhonny boy',
        picture: 'https://image.com/profile.jpg',
        phone_number: '1234567892',
        address: { postal_code: '64112', state: 'Missouri', formatted: '123, Oxford Lane, Kansas City, Missouri, 64112' },
        custom_attributes: { attribute1: 'value1', attribute2: 'value2' },
        raw_attributes: {},
      },
    });
  });

  it('organization.directory.user_deleted: carries only what it has; the envelope organization wins', () => {
    const payload = example('organization.directory.user_deleted');
    // The published example disagrees with itself: envelope org_5387…, data org_1231….
    expect(userData(payload).organization_id).toBe('org_12312312312312');
    const e = event(payload);
    expect(e.kind).toBe('user');
    if (e.kind !== 'user') return;
    expect(e.type).toBe('organization.directory.user_deleted');
    expect(e.id).toBe('evt_53891546994442318');
    expect(e.organizationId).toBe('org_53879494091473415');
    expect(e.occurredAtNs).toBe(NS.user);
    // toStrictEqual: absent fields are absent (undefined), not null.
    expect(e.user).toStrictEqual({
      id: 'diruser_12312312312312',
      email: 'john.doe@example.com',
      dpId: '<scim_external_id>',
      attributes: {},
    });
    expect('active' in e.user).toBe(false);
    expect('groups' in e.user).toBe(false);
    expect('roles' in e.user).toBe(false);
    expect('name' in e.user).toBe(false);
  });

  it("a user event names no directory (Scalekit's do not); one that does is taken at its word, not kept as an attribute", () => {
    const plain = event(example('organization.directory.user_updated'));
    if (plain.kind !== 'user') throw new Error('expected a user event');
    expect('directoryId' in plain.user).toBe(false);
    const payload = example('organization.directory.user_updated');
    (payload.data as Record<string, unknown>).directory_id = 'dir_38610496391217780';
    const named = event(payload);
    if (named.kind !== 'user') throw new Error('expected a user event');
    expect(named.user.directoryId).toBe('dir_38610496391217780');
    expect(named.user.attributes).not.toHaveProperty('directory_id');
  });

  it('organization.directory.group_created (external_id null stays null)', () => {
    const e = event(example('organization.directory.group_created'));
    expect(e.kind).toBe('group');
    if (e.kind !== 'group') return;
    expect(e.type).toBe('organization.directory.group_created');
    expect(e.id).toBe('evt_38862741515010639');
    expect(e.organizationId).toBe('org_38609339635728478');
    expect(e.environmentId).toBe('env_32080745237316098');
    expect(e.occurredAtNs).toBe(NS.groupCreated);
    expect(e.group).toStrictEqual({
      id: 'dirgroup_38862741498233423',
      displayName: 'Avengers',
      directoryId: 'dir_38610496391217780',
      externalId: null,
      attributes: { raw_attributes: {} },
    });
  });

  it('organization.directory.group_updated', () => {
    const e = event(example('organization.directory.group_updated'));
    expect(e.kind).toBe('group');
    if (e.kind !== 'group') return;
    expect(e.type).toBe('organization.directory.group_updated');
    expect(e.id).toBe('evt_38864948910162368');
    expect(e.occurredAtNs).toBe(NS.groupUpdated);
    expect(e.group).toStrictEqual({
      id: 'dirgroup_38862741498233423',
      displayName: 'Avengers',
      directoryId: 'dir_38610496391217780',
      externalId: '<external_id>',
      attributes: { raw_attributes: {} },
    });
  });

  it('organization.directory.group_deleted (dp_id kept among attributes; no external_id carried)', () => {
    const e = event(example('organization.directory.group_deleted'));
    expect(e.kind).toBe('group');
    if (e.kind !== 'group') return;
    expect(e.type).toBe('organization.directory.group_deleted');
    expect(e.id).toBe('evt_40650399597723966');
    expect(e.organizationId).toBe('org_39802449573184223');
    expect(e.occurredAtNs).toBe(NS.groupDeleted);
    expect(e.group).toStrictEqual({
      id: 'dirgroup_40072007005503806',
      displayName: 'Admins',
      directoryId: 'dir_39802485862301855',
      attributes: { dp_id: '7c66a173-79c6-4270-ac78-8f35a8121e0a', raw_attributes: {} },
    });
  });

  it('organization.directory_enabled', () => {
    const e = event(example('organization.directory_enabled'));
    expect(e.kind).toBe('directory');
    if (e.kind !== 'directory') return;
    expect(e.type).toBe('organization.directory_enabled');
    expect(e.id).toBe('evt_55136848686613000');
    expect(e.organizationId).toBe('org_55135410258444802');
    expect(e.environmentId).toBe('env_27758032200925221');
    expect(e.occurredAt).toBe('2025-01-15T08:55:22.802860294Z');
    expect(e.occurredAtNs).toBe(NS.directoryEnabled);
    expect(e.directory).toStrictEqual({ id: 'dir_55135622825771522', directoryType: 'SCIM', provider: 'OKTA', enabled: true });
  });

  it('organization.directory_disabled', () => {
    const e = event(example('organization.directory_disabled'));
    expect(e.kind).toBe('directory');
    if (e.kind !== 'directory') return;
    expect(e.type).toBe('organization.directory_disabled');
    expect(e.id).toBe('evt_53891640779079756');
    expect(e.organizationId).toBe('org_53879494091473415');
    expect(e.occurredAtNs).toBe(NS.directoryDisabled);
    expect(e.directory).toStrictEqual({ id: 'dir_53879621145330183', directoryType: 'SCIM', provider: 'OKTA', enabled: false });
  });

  it('takes directory `enabled` from the type, not from data.enabled', () => {
    const enabled = example('organization.directory_enabled');
    userData(enabled).enabled = false;
    const e1 = event(enabled);
    expect(e1.kind === 'directory' && e1.directory.enabled).toBe(true);

    const disabled = example('organization.directory_disabled');
    userData(disabled).enabled = true;
    const e2 = event(disabled);
    expect(e2.kind === 'directory' && e2.directory.enabled).toBe(false);

    const missing = example('organization.directory_enabled');
    delete userData(missing).enabled;
    const e3 = event(missing);
    expect(e3.kind === 'directory' && e3.directory.enabled).toBe(true);
  });
});

describe('user normalization details', () => {
  it('sorts and de-duplicates role names', () => {
    const p = example('organization.directory.user_updated');
    userData(p).roles = [{ role_name: 'viewer' }, { role_name: 'admin' }, { role_name: 'viewer' }, { role_name: 'billing_admin' }];
    const e = event(p);
    expect(e.kind === 'user' && e.user.roles).toEqual(['admin', 'billing_admin', 'viewer']);
  });

  it('keeps an empty groups[] (means "member of nothing") distinct from absent groups', () => {
    const withEmpty = example('organization.directory.user_updated');
    userData(withEmpty).groups = [];
    const e1 = event(withEmpty);
    expect(e1.kind === 'user' && e1.user.groups).toEqual([]);

    const without = example('organization.directory.user_updated');
    delete userData(without).groups;
    const e2 = event(without);
    expect(e2.kind === 'user' && e2.user.groups).toBeUndefined();
  });

  it('gives a group without a name a null name', () => {
    const p = example('organization.directory.user_updated');
    userData(p).groups = [{ id: 'dirgroup_1' }, { id: 'dirgroup_2', name: null }];
    const e = event(p);
    expect(e.kind === 'user' && e.user.groups).toEqual([
      { id: 'dirgroup_1', name: null },
      { id: 'dirgroup_2', name: null },
    ]);
  });

  it('leaves absent fields undefined, and an explicit null as null (a cleared value)', () => {
    const p = example('organization.directory.user_updated');
    userData(p).email = null;
    userData(p).given_name = null;
    delete userData(p).family_name;
    delete userData(p).name;
    delete userData(p).preferred_username;
    delete userData(p).dp_id;
    delete userData(p).active;
    delete userData(p).roles;
    const e = event(p);
    if (e.kind !== 'user') throw new Error('expected a user event');
    expect(e.user.email).toBeNull();
    expect(e.user.givenName).toBeNull();
    for (const key of ['familyName', 'name', 'preferredUsername', 'dpId', 'active', 'roles'] as const) {
      expect(key in e.user, key).toBe(false);
    }
  });

  it('treats active: null as not carried', () => {
    const p = example('organization.directory.user_updated');
    userData(p).active = null;
    const e = event(p);
    expect(e.kind === 'user' && 'active' in e.user).toBe(false);
  });

  it('keeps active: false', () => {
    const p = example('organization.directory.user_updated');
    userData(p).active = false;
    const e = event(p);
    expect(e.kind === 'user' && e.user.active).toBe(false);
  });

  it('uses data.organization_id when the envelope has none', () => {
    const p = example('organization.directory.user_deleted');
    delete p.organization_id;
    const e = event(p);
    expect(e.organizationId).toBe('org_12312312312312');
  });

  it('defaults webhookId and environmentId to null', () => {
    const p = example('organization.directory.user_created');
    delete p.environment_id;
    const out = parseDirectoryWebhook(JSON.stringify(p));
    expect(out.status).toBe('event');
    if (out.status !== 'event') return;
    expect(out.event.webhookId).toBeNull();
    expect(out.event.environmentId).toBeNull();
    expect(Number.isNaN(Date.parse(out.event.receivedAt))).toBe(false);
  });

  it('accepts an envelope without the optional spec_version, object and display_name', () => {
    const p = example('organization.directory.group_created');
    delete p.spec_version;
    delete p.object;
    delete p.display_name;
    const e = event(p);
    expect(e.kind).toBe('group');
  });
});

describe('unknown types are ignored, not errors', () => {
  it.each(['organization.directory_created', 'scalekit.dir.user.created', 'user.created'])('%s', (type) => {
    const p = example('organization.directory.user_created');
    p.type = type;
    const out = parsed(p);
    expect(out).toMatchObject({
      status: 'ignored',
      eventId: 'evt_53891546994442316',
      type,
      organizationId: 'org_53879494091473415',
    });
    if (out.status !== 'ignored') return;
    expect(out.reason).toContain(type);
    expect(out.payload).toEqual(p);
  });
});

describe('quarantine', () => {
  it('keeps a body that is not JSON as the raw string', () => {
    const raw = '{"id": "evt_1", "type": oops';
    const out = quarantined(raw);
    expect(out.payload).toBe(raw);
    expect(out.eventId).toBeNull();
    expect(out.type).toBeNull();
    expect(out.organizationId).toBeNull();
    expect(out.reason).toMatch(/not valid JSON/);
  });

  it('quarantines JSON that is not an object (null, array, string)', () => {
    for (const body of ['null', '[]', '"evt_1"', '42']) {
      const out = parseDirectoryWebhook(body);
      expect(out.status, body).toBe('quarantined');
      expect(out.status === 'quarantined' && out.payload).toEqual(JSON.parse(body));
    }
  });

  it('missing envelope id: names `id`, keeps loose type and organization', () => {
    const p = example('organization.directory.user_created');
    delete p.id;
    const out = quarantined(p);
    expect(out.reason).toMatch(/(^|[\s:;])id:/);
    expect(out.eventId).toBeNull();
    expect(out.type).toBe('organization.directory.user_created');
    expect(out.organizationId).toBe('org_53879494091473415');
    expect(out.payload).toEqual(p);
  });

  it('empty envelope id is quarantined', () => {
    const p = example('organization.directory.user_created');
    p.id = '';
    const out = quarantined(p);
    expect(out.reason).toMatch(/\bid:/);
    expect(out.eventId).toBeNull();
  });

  it('bad occurred_at: names the field, keeps the event id', () => {
    const p = example('organization.directory.user_created');
    p.occurred_at = '2025-01-06 18:44';
    const out = quarantined(p);
    expect(out.reason).toMatch(/occurred_at/);
    expect(out.reason).toMatch(/RFC 3339/);
    expect(out.eventId).toBe('evt_53891546994442316');
  });

  it('missing occurred_at (only `timestamp`) is quarantined', () => {
    const p = example('organization.directory.user_created');
    p.timestamp = p.occurred_at;
    delete p.occurred_at;
    expect(quarantined(p).reason).toMatch(/occurred_at/);
  });

  it('missing data is quarantined', () => {
    const p = example('organization.directory.user_created');
    delete p.data;
    expect(quarantined(p).reason).toMatch(/\bdata\b/);
  });

  it('user event whose data.id is not a diruser_ id names data.id', () => {
    const p = example('organization.directory.user_created');
    userData(p).id = 'usr_53891546960887884';
    const out = quarantined(p);
    expect(out.reason).toMatch(/data\.id/);
    expect(out.reason).toMatch(/diruser_/);
    expect(out.eventId).toBe('evt_53891546994442316');
    expect(out.type).toBe('organization.directory.user_created');
    expect(out.organizationId).toBe('org_53879494091473415');
    expect(out.payload).toEqual(p);
  });

  it('user event without data.id names data.id', () => {
    const p = example('organization.directory.user_updated');
    delete userData(p).id;
    expect(quarantined(p).reason).toMatch(/data\.id/);
  });

  it('a user event with data.user_id (the wrong docs page) and no id is quarantined', () => {
    const p = example('organization.directory.user_updated');
    delete userData(p).id;
    userData(p).user_id = 'usr_123';
    expect(quarantined(p).reason).toMatch(/data\.id/);
  });

  it('groups with a non-dirgroup id name the offending element', () => {
    const p = example('organization.directory.user_updated');
    userData(p).groups = [
      { id: 'dirgroup_ok', name: 'ok' },
      { id: 'grp_bad', name: 'bad' },
    ];
    const out = quarantined(p);
    expect(out.reason).toMatch(/data\.groups\.1\.id/);
    expect(out.reason).toMatch(/dirgroup_/);
  });

  it('roles with an empty role_name are quarantined', () => {
    const p = example('organization.directory.user_updated');
    userData(p).roles = [{ role_name: '' }];
    expect(quarantined(p).reason).toMatch(/data\.roles\.0\.role_name/);
  });

  it('active that is not a boolean is quarantined', () => {
    const p = example('organization.directory.user_updated');
    userData(p).active = 'true';
    expect(quarantined(p).reason).toMatch(/data\.active/);
  });

  it('group event whose data.id is not a dirgroup_ id names data.id', () => {
    const p = example('organization.directory.group_created');
    userData(p).id = 'diruser_38862741498233423';
    const out = quarantined(p);
    expect(out.reason).toMatch(/data\.id/);
    expect(out.reason).toMatch(/dirgroup_/);
  });

  it('directory event whose data.id is not a dir_ id names data.id', () => {
    const p = example('organization.directory_enabled');
    userData(p).id = 'directory_1';
    const out = quarantined(p);
    expect(out.reason).toMatch(/data\.id/);
    expect(out.reason).toMatch(/dir_/);
  });

  it('missing organization (neither envelope nor data) names organization_id', () => {
    const p = example('organization.directory.user_created');
    delete p.organization_id;
    delete userData(p).organization_id;
    const out = quarantined(p);
    expect(out.reason).toMatch(/organization_id/);
    expect(out.organizationId).toBeNull();
    expect(out.eventId).toBe('evt_53891546994442316');
  });

  it.each([
    ['a slash', 'org_1/../../admin'],
    ['a colon', 'org:1'],
    ['a space', 'org 1'],
    ['a non-ASCII letter', 'org_ü'],
    ['empty', ''],
    ['too long', `org_${'x'.repeat(125)}`],
  ])('organization id with %s is quarantined, naming organization_id', (_label, org) => {
    const p = example('organization.directory.group_created');
    p.organization_id = org;
    const out = quarantined(p);
    expect(out.reason).toMatch(/organization_id/);
    // The unsafe id must not travel on as an organization id.
    expect(out.organizationId).toBeNull();
  });

  it('accepts a 128-character organization id (the limit)', () => {
    const p = example('organization.directory.group_created');
    const org = `org_${'x'.repeat(124)}`;
    p.organization_id = org;
    expect(event(p).organizationId).toBe(org);
  });

  it('a bad data.organization_id does not matter when the envelope has a good one', () => {
    const p = example('organization.directory.group_created');
    userData(p).organization_id = 'org with spaces';
    expect(event(p).organizationId).toBe('org_38609339635728478');
  });

  it('NUL characters anywhere are quarantined (Postgres cannot store them)', () => {
    const inValue = example('organization.directory.user_created');
    userData(inValue).title = 'a\u0000b';
    const out = quarantined(inValue);
    expect(out.reason).toMatch(/NUL/);
    expect(out.eventId).toBe('evt_53891546994442316');
    expect(out.organizationId).toBe('org_53879494091473415');

    const inKey = example('organization.directory.user_created');
    (userData(inKey).custom_attributes as Record<string, unknown>)['bad\u0000key'] = 'x';
    expect(quarantined(inKey).reason).toMatch(/NUL/);
  });

  it('a literal backslash-u-0000 text (not a NUL) is not quarantined', () => {
    const p = example('organization.directory.user_created');
    userData(p).title = 'C:\\u0000dir'; // the six characters \u0000, no NUL
    expect(JSON.stringify(p).includes('\u0000')).toBe(false);
    const e = event(p);
    expect(e.kind === 'user' && e.user.attributes.title).toBe('C:\\u0000dir');
  });

  it('caps the loose type of an unparseable envelope, and does not key it by an id too long to be one', () => {
    const p = example('organization.directory.user_created');
    p.id = `evt_${'9'.repeat(300)}`;
    p.type = 't'.repeat(500);
    const out = quarantined(p);
    // Cut to 128 characters, two different ids could become one: the delivery's id keys it instead.
    expect(out.eventId).toBeNull();
    expect(out.type).toHaveLength(200);
  });
});

describe('what a quarantine keeps can always be stored', () => {
  const storable = (s: string | null) =>
    s === null || !/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

  it('a body that is not JSON: the parser quotes it, NUL and all, but the reason holds none', () => {
    const out = quarantined('\u0000{"id": "evt_1"}');
    expect(out.reason).toMatch(/^body is not valid JSON/);
    expect(storable(out.reason)).toBe(true);
  });

  it('reasons are capped, whatever the body makes them quote', () => {
    const p = example('organization.directory.user_created');
    p.type = `x${'\ud800'.repeat(100_000)}`;
    const out = parsed(p);
    expect(out.status).toBe('quarantined');
    if (out.status !== 'event') {
      expect(out.reason.length).toBeLessThanOrEqual(1_000);
      expect(storable(out.reason)).toBe(true);
      expect(storable(out.type)).toBe(true);
    }
  });

  it.each([
    ['a NUL', 'evt_\u0000'],
    ['a lone surrogate', 'evt_\ud800'],
    ['129 characters', `evt_${'1'.repeat(125)}`],
  ])('an event id with %s keys nothing (the delivery id does)', (_, id) => {
    const valid = example('organization.directory.user_created');
    valid.id = id;
    expect(quarantined(valid).eventId).toBeNull();
    const invalid = example('organization.directory.user_created');
    invalid.id = id;
    delete invalid.occurred_at;
    expect(quarantined(invalid).eventId).toBeNull();
  });

  it('keeps an organization id only if it is one (it is indexed and goes into URLs)', () => {
    const ignored = example('organization.directory.user_created');
    ignored.type = 'organization.sso_enabled';
    ignored.organization_id = 'o'.repeat(10_000);
    expect(parsed(ignored)).toMatchObject({ status: 'ignored', organizationId: null });
    const broken = example('organization.directory.user_created');
    broken.organization_id = 'org with spaces';
    delete broken.occurred_at;
    expect(quarantined(broken).organizationId).toBeNull();
  });
});

describe('payloads Postgres could not store are quarantined, never thrown', () => {
  const base = (data: Record<string, unknown>, occurredAt = '2026-01-01T00:00:00Z') =>
    JSON.stringify({
      id: 'evt_edge1',
      type: 'organization.directory.user_created',
      occurred_at: occurredAt,
      organization_id: 'org_1',
      data: { id: 'diruser_1', ...data },
    });

  it('a lone UTF-16 surrogate', () => {
    const r = parseDirectoryWebhook(base({}).replace('"diruser_1"', '"diruser_1", "title": "\\ud800x"'));
    expect(r).toMatchObject({ status: 'quarantined', eventId: 'evt_edge1', reason: expect.stringMatching(/lone UTF-16 surrogate/) });
  });

  it('a real surrogate pair is fine', () => {
    const r = parseDirectoryWebhook(base({ title: '😀 lead' }));
    expect(r.status).toBe('event');
  });

  it('nesting deeper than 64 levels, without overflowing the stack', () => {
    const deep = `${'{"a":'.repeat(20_000)}"x"${'}'.repeat(20_000)}`;
    const body = base({}).replace('"diruser_1"', `"diruser_1", "custom_attributes": ${deep}`);
    const r = parseDirectoryWebhook(body);
    expect(r).toMatchObject({ status: 'quarantined', reason: expect.stringMatching(/nested deeper than 64 levels/) });
  });

  it("a timestamp a 64-bit nanosecond clock cannot hold (Go's zero time)", () => {
    const r = parseDirectoryWebhook(base({}, '0001-01-01T00:00:00Z'));
    expect(r).toMatchObject({ status: 'quarantined', reason: expect.stringMatching(/occurred_at.*between the years 1678 and 2262/) });
  });
});
