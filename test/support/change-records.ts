import type {
  ChangeBatch,
  ChangeCause,
  ChangeKind,
  ChangeRecord,
  DirectoryChangeRecord,
  GroupChangeRecord,
  UserChangeRecord,
  UserView,
} from '../../contract/index';

/** Change records as scimflow delivers them, for tests of the contract and of applications. */

let nextId = 1000;
const sequences = new Map<string, number>();

export const SAMPLE_CAUSE: ChangeCause = {
  type: 'event',
  eventId: 'evt_sample',
  eventType: 'organization.directory.user_created',
  deferred: false,
};

function base(organizationId: string, cause: ChangeCause = SAMPLE_CAUSE) {
  const sequence = (sequences.get(organizationId) ?? 0) + 1;
  sequences.set(organizationId, sequence);
  nextId += 1;
  return {
    id: String(nextId),
    organizationId,
    sequence,
    cause,
    occurredAt: '2026-12-01T10:00:00.123456789Z',
    committedAt: new Date().toISOString(),
  };
}

export function userView(id: string, overrides: Partial<UserView> = {}): UserView {
  return {
    id,
    externalId: `ext-${id}`,
    directoryId: 'dir_sample',
    email: `${id}@acme.example`,
    preferredUsername: id,
    name: null,
    givenName: 'Sam',
    familyName: id,
    active: true,
    held: null,
    groups: [],
    roles: [],
    ...overrides,
  };
}

export function userRecord(
  organizationId: string,
  kind: UserChangeRecord['kind'],
  view: UserView,
  changes: UserChangeRecord['changes'] = {},
  cause?: ChangeCause,
): UserChangeRecord {
  return { ...base(organizationId, cause), kind, subject: { type: 'user', id: view.id }, view, changes };
}

export function groupRecord(organizationId: string, kind: GroupChangeRecord['kind'], id: string, name: string): GroupChangeRecord {
  return {
    ...base(organizationId),
    kind,
    subject: { type: 'group', id },
    view: { id, directoryId: 'dir_sample', name, externalId: null, deleted: kind === 'group.deleted' },
    changes: kind === 'group.updated' ? { name: { before: 'old', after: name } } : {},
  };
}

export function directoryRecord(organizationId: string, kind: DirectoryChangeRecord['kind'], id: string): DirectoryChangeRecord {
  const enabled = kind === 'directory.enabled';
  return {
    ...base(organizationId, { type: 'sync_run', runId: 'run_sample', runKind: 'full' }),
    kind,
    subject: { type: 'directory', id },
    view: { id, enabled, type: 'SCIM', provider: 'OKTA' },
    changes: { enabled: { before: !enabled, after: enabled } },
  };
}

/** One record of every kind, for an organization. */
export function oneOfEveryKind(organizationId: string): Record<ChangeKind, ChangeRecord> {
  const view = userView('usr_sample', { roles: ['admin'] });
  return {
    'user.provisioned': userRecord(organizationId, 'user.provisioned', view),
    'user.updated': userRecord(
      organizationId,
      'user.updated',
      { ...view, email: 'new@acme.example' },
      { email: { before: 'old@acme.example', after: 'new@acme.example' } },
    ),
    'user.deactivated': userRecord(
      organizationId,
      'user.deactivated',
      { ...view, active: false, roles: [] },
      { active: { before: true, after: false }, roles: { before: ['admin'], after: [] } },
    ),
    'user.reactivated': userRecord(organizationId, 'user.reactivated', view, { active: { before: false, after: true } }),
    'user.roles_changed': userRecord(
      organizationId,
      'user.roles_changed',
      view,
      {
        roles: { before: ['member'], after: ['admin'] },
        reasons: { before: { member: 'default role' }, after: { admin: 'group Administrators' } },
      },
      { type: 'role_mapping', summary: 'Administrators → admin' },
    ),
    'group.created': groupRecord(organizationId, 'group.created', 'grp_sample', 'Engineering'),
    'group.updated': groupRecord(organizationId, 'group.updated', 'grp_sample', 'Platform'),
    'group.deleted': groupRecord(organizationId, 'group.deleted', 'grp_sample', 'Platform'),
    'directory.enabled': directoryRecord(organizationId, 'directory.enabled', 'dir_sample'),
    'directory.disabled': directoryRecord(organizationId, 'directory.disabled', 'dir_sample'),
  };
}

export function batch(organizationId: string, records: ChangeRecord[]): ChangeBatch {
  return { organizationId, records };
}
