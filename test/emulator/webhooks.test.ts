import { ScalekitClient, WebhookVerificationError } from '@scalekit-sdk/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDirectoryWebhook } from '../../domain/events';
import { startEmulator, WEBHOOK_EVENT_TYPES, type EmulatorHandle } from '../../emulator';
import { startReceiver, type ReceivedWebhook } from './receiver';

// Every webhook the emulator sends must verify with the SDK over the raw body and parse with
// scimflow's own schema; a scripted scenario produces all eight event types.

const SECRET_A = `whsec_${Buffer.from('emulator-test-secret-a-0123456789').toString('base64')}`;
const SECRET_B = `whsec_${Buffer.from('emulator-test-secret-b-9876543210').toString('base64')}`;

let emu: EmulatorHandle;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let sdk: ScalekitClient;
let received: ReceivedWebhook[];
const ids: Record<string, string> = {};

beforeAll(async () => {
  receiver = await startReceiver();
  emu = await startEmulator({ seed: 21, webhookUrl: receiver.url, webhookSecrets: [SECRET_A, SECRET_B] });
  sdk = new ScalekitClient(emu.url, emu.clientId, emu.clientSecret);

  const org = emu.createOrganization({ displayName: 'Hooli', provider: 'GOOGLE' }); // directory_enabled
  const eng = emu.createGroup(org.id, { displayName: 'Engineering', externalId: 'eng' }); // group_created
  const ops = emu.createGroup(org.id, { displayName: 'Ops' }); // group_created
  emu.setRoleAssignments(org.id, [
    { groupId: eng.id, roleName: 'engineer' },
    { groupId: ops.id, roleName: 'operator' },
  ]);
  const gavin = emu.createUser(org.id, {
    email: 'gavin@hooli.example',
    givenName: 'Gavin',
    familyName: 'Belson',
    title: 'CEO',
    department: 'Leadership',
    customAttributes: { parking_spot: 'P1' },
    groupIds: [eng.id],
  }); // user_created
  emu.updateUser(org.id, gavin.id, { title: 'Founder' }); // user_updated
  emu.setUserGroups(org.id, gavin.id, [eng.id, ops.id]); // user_updated
  emu.updateGroup(org.id, ops.id, { displayName: 'Operations' }); // group_updated
  const denpok = emu.createUser(org.id, { email: 'denpok@hooli.example', givenName: 'Denpok', groupIds: [ops.id] }); // user_created
  emu.deleteGroup(org.id, ops.id); // group_deleted + user_updated ×2
  emu.deleteUser(org.id, denpok.id); // user_deleted
  emu.setDirectoryEnabled(org.id, false); // directory_disabled
  Object.assign(ids, { org: org.id, dir: org.directoryId, eng: eng.id, ops: ops.id, gavin: gavin.id, denpok: denpok.id });

  await emu.settled(10_000);
  received = receiver.received;
});

afterAll(async () => {
  await emu?.close();
  await receiver?.close();
});

const bodies = () =>
  received.map((r) => JSON.parse(r.body) as { type: string; id: string; data: Record<string, unknown> } & Record<string, unknown>);

describe('emitted webhooks', () => {
  it('delivers every event of the scenario, in order, and covers all eight types', () => {
    expect(bodies().map((b) => b.type)).toEqual([
      'organization.directory_enabled',
      'organization.directory.group_created',
      'organization.directory.group_created',
      'organization.directory.user_created',
      'organization.directory.user_updated',
      'organization.directory.user_updated',
      'organization.directory.group_updated',
      'organization.directory.user_created',
      'organization.directory.group_deleted',
      'organization.directory.user_updated',
      'organization.directory.user_updated',
      'organization.directory.user_deleted',
      'organization.directory_disabled',
    ]);
    expect(new Set(bodies().map((b) => b.type))).toEqual(new Set(WEBHOOK_EVENT_TYPES));
    expect(received.map((r) => r.headers['webhook-id'])).toEqual(emu.events().map((e) => e.webhookId));
  });

  it('verifies with the SDK over the raw body, with either configured secret', () => {
    for (const r of received) {
      expect(r.headers['webhook-signature']!.split(' ')).toHaveLength(2);
      expect(sdk.verifyWebhookPayload(SECRET_A, r.headers, r.body)).toBe(true);
      expect(sdk.verifyWebhookPayload(SECRET_B, r.headers, r.body)).toBe(true);
    }
    const first = received[0]!;
    const otherSecret = `whsec_${Buffer.from('someone-else').toString('base64')}`;
    expect(() => sdk.verifyWebhookPayload(otherSecret, first.headers, first.body)).toThrow(WebhookVerificationError);
    expect(() => sdk.verifyWebhookPayload(SECRET_A, first.headers, first.body.replace('"enabled":true', '"enabled":false'))).toThrow(
      WebhookVerificationError,
    );
  });

  it('parses with scimflow’s schema as events', () => {
    for (const r of received) {
      const outcome = parseDirectoryWebhook(r.body, { webhookId: r.headers['webhook-id'] ?? null });
      expect(outcome.status, JSON.stringify(outcome)).toBe('event');
      if (outcome.status === 'event') expect(outcome.event.organizationId).toBe(ids.org);
    }
  });

  it('uses Scalekit’s envelope: snake_case, evt_ ids, nanosecond occurred_at, flat data', () => {
    for (const b of bodies()) {
      expect(Object.keys(b).sort()).toEqual(
        ['data', 'display_name', 'environment_id', 'id', 'object', 'occurred_at', 'organization_id', 'spec_version', 'type'].sort(),
      );
      expect(b.spec_version).toBe('1');
      expect(b.id).toMatch(/^evt_\d+$/);
      expect(b.id.length).toBeLessThanOrEqual(32);
      expect(b.occurred_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
      expect(b.environment_id).toBe(emu.environmentId);
      expect(b.environment_id).toMatch(/^env_\d+$/);
      expect(b.organization_id).toBe(ids.org);
      expect(b.data.organization_id).toBe(ids.org);
    }
    const occurred = bodies().map((b) => b.occurred_at as string);
    expect([...occurred].sort()).toEqual(occurred);
    expect(new Set(bodies().map((b) => b.id)).size).toBe(received.length);
  });

  it('carries the full user, flat, with groups[] and roles[] from the role assignments', () => {
    const created = bodies()[3]!;
    expect(created.object).toBe('DirectoryUser');
    expect(created.data).toMatchObject({
      id: ids.gavin,
      email: 'gavin@hooli.example',
      given_name: 'Gavin',
      family_name: 'Belson',
      name: 'Gavin Belson',
      active: true,
      title: 'CEO',
      department: 'Leadership',
      custom_attributes: { parking_spot: 'P1' },
      groups: [{ id: ids.eng, name: 'Engineering' }],
      roles: [{ role_name: 'engineer' }],
    });
    expect(created.data.dp_id).toEqual(expect.any(String));
    expect(created.data).not.toHaveProperty('directory_id');
    const regrouped = bodies()[5]!;
    expect(regrouped.data.groups).toEqual([
      { id: ids.eng, name: 'Engineering' },
      { id: ids.ops, name: 'Ops' },
    ]);
    expect(regrouped.data.roles).toEqual([{ role_name: 'engineer' }, { role_name: 'operator' }]);
  });

  it('follows a group deletion with a user_updated per former member, roles recomputed', () => {
    const deleted = bodies()[8]!;
    expect(deleted.object).toBe('DirectoryGroup');
    expect(deleted.data).toMatchObject({ id: ids.ops, display_name: 'Operations', directory_id: ids.dir });
    const [gavin, denpok] = [bodies()[9]!, bodies()[10]!];
    expect(gavin.data).toMatchObject({ id: ids.gavin, groups: [{ id: ids.eng, name: 'Engineering' }], roles: [{ role_name: 'engineer' }] });
    expect(denpok.data).toMatchObject({ id: ids.denpok, groups: [], roles: [] });
  });

  it('sends user_deleted with only id, organization_id, dp_id and email', () => {
    const deleted = bodies()[11]!;
    expect(Object.keys(deleted.data).sort()).toEqual(['dp_id', 'email', 'id', 'organization_id']);
    expect(deleted.data.email).toBe('denpok@hooli.example');
  });

  it('describes the directory in enabled/disabled events', () => {
    const [enabled, disabled] = [bodies()[0]!, bodies()[12]!];
    expect(enabled.object).toBe('Directory');
    expect(enabled.data).toMatchObject({ id: ids.dir, directory_type: 'SCIM', provider: 'GOOGLE', enabled: true });
    expect(disabled.data).toMatchObject({ id: ids.dir, enabled: false });
    expect(disabled.data.updated_at).toMatch(/\.\d{9}Z$/);
    expect(bodies()[6]!.data).toMatchObject({ id: ids.ops, display_name: 'Operations', external_id: null });
  });

  it('refuses changes in a disabled directory, like an IdP push to a disabled SCIM endpoint', () => {
    expect(() => emu.createUser(ids.org!, { email: 'late@hooli.example' })).toThrow(/disabled/);
  });

  it('turns a deactivation into user_deleted and a reactivation into user_created', async () => {
    const org = emu.createOrganization({ displayName: 'Pied Piper' });
    const richard = emu.createUser(org.id, { email: 'richard@piedpiper.example' });
    emu.updateUser(org.id, richard.id, { active: false });
    emu.updateUser(org.id, richard.id, { active: true, title: 'CEO' });
    const suppressed = emu.createUser(org.id, { email: 'quiet@piedpiper.example' }, { emit: false });
    await emu.settled(5_000);
    const mine = bodies().filter((b) => b.organization_id === org.id);
    expect(mine.map((b) => b.type)).toEqual([
      'organization.directory_enabled',
      'organization.directory.user_created',
      'organization.directory.user_deleted',
      'organization.directory.user_created',
    ]);
    expect(mine.every((b) => b.data.id !== suppressed.id)).toBe(true);
    expect(mine[3]!.data).toMatchObject({ id: richard.id, active: true, title: 'CEO' });
  });
});
