import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import { withMirrorWriter } from '../db/mirror/writer';
import { loadGroups } from '../db/repositories/directory';
import { roleChangeAudience } from '../db/repositories/roles';
import { describeRoleChange, explainUnchangedRoles, roleChangeProblem } from '../domain/roles';
import type { RoleChangeRequest, RoleChangeResult } from '../domain/roles';
import { withHeartbeat } from './heartbeat';
import { cliPrefix } from '../domain/cli-command';

/** Thrown to roll a preview's transaction back, carrying what it computed. */
class Preview extends Error {
  constructor(readonly result: RoleChangeResult) {
    super('preview');
  }
}

/**
 * Changes one role mapping (or the default role) and resolves every user's roles again, in one
 * transaction under the organization lock. A dry run does the same work and rolls it back, so the
 * preview is exactly what the change would do.
 */
export async function changeRoleMappings(db: Knex, organizationId: string, request: RoleChangeRequest): Promise<RoleChangeResult> {
  const { change, dryRun } = request;
  const problem = roleChangeProblem(change);
  if (problem) throw ApplicationFailure.nonRetryable(problem, 'InvalidRoleChange');
  const summary = describeRoleChange(change);
  let removedRole: string | null = null;
  try {
    return await withHeartbeat(() =>
      withMirrorWriter(db, organizationId, async (writer) => {
        if (!writer.organizationKnown) {
          throw ApplicationFailure.nonRetryable(
            `scimflow does not know organization ${organizationId} yet; register it first (${cliPrefix()} orgs add ${organizationId})`,
            'OrganizationNotFound',
          );
        }
        if (change.action === 'map') {
          const group = (await loadGroups(writer.trx, organizationId, [change.groupId])).get(change.groupId);
          if (!group) {
            throw ApplicationFailure.nonRetryable(
              `group ${change.groupId} is not in the directory of ${organizationId}; list its groups with: ${cliPrefix()} roles list ${organizationId}`,
              'GroupNotFound',
            );
          }
          if (group.deleted) {
            throw ApplicationFailure.nonRetryable(
              `group ${change.groupId} was deleted in the directory; map one of its live groups`,
              'GroupDeleted',
            );
          }
          await writer.mapGroup({ groupId: change.groupId, role: change.role, precedence: change.precedence });
        } else if (change.action === 'unmap') {
          removedRole = await mappedRole(writer.trx, organizationId, change.groupId);
          if (!(await writer.unmapGroup(change.groupId))) {
            throw ApplicationFailure.nonRetryable(`group ${change.groupId} has no role mapping in ${organizationId}`, 'MappingNotFound');
          }
        } else {
          await writer.setDefaultRole(change.role);
        }
        const resolved = await writer.resolveRoles('all', () => `role mapping: ${summary}`, {
          cause: { type: 'role_mapping', summary },
          occurredAt: null,
        });
        const result: RoleChangeResult = { dryRun, summary, ...resolved, unchangedBecause: null };
        if (resolved.usersChanged === 0) {
          const role = change.action === 'map' ? change.role : change.action === 'unmap' ? removedRole : null;
          const audience = await roleChangeAudience(writer.trx, organizationId, change.action === 'default' ? null : change.groupId, role);
          result.unchangedBecause = explainUnchangedRoles(change, role, audience);
        }
        if (dryRun) throw new Preview(result);
        return result;
      }),
    );
  } catch (err) {
    if (err instanceof Preview) return err.result;
    throw err;
  }
}

async function mappedRole(trx: Knex.Transaction, organizationId: string, groupId: string): Promise<string | null> {
  const row = (await trx('role_mappings').where({ organization_id: organizationId, group_id: groupId }).first('role')) as
    { role: string } | undefined;
  return row?.role ?? null;
}
