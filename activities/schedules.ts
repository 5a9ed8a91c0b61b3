import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { ensureOrganization } from '../db/repositories/directory';
import { upsertOrganization } from '../db/repositories/organizations';
import type { ScalekitDirectory } from '../scalekit/directory';
import { OrganizationWorkflows } from '../temporal/client';
import { ensureSchedules, type ScheduleSettings } from '../temporal/schedules';
import type { ReconcileKind } from '../workflows/messages';

export interface ScheduleDeps {
  db: Knex;
  client: Client;
  schedules: ScheduleSettings;
  /** Without Scalekit credentials there is nothing to reconcile against: no schedules. */
  directory: ScalekitDirectory | undefined;
}

/** What registering an organization did. */
export type ScheduleRegistration = 'ensured' | 'unknown_organization' | 'no_credentials';

export function createScheduleActivities(deps: ScheduleDeps) {
  const workflows = new OrganizationWorkflows(deps.client, deps.schedules.taskQueue, 10_000);
  return {
    /**
     * Registers the organization and creates its full and delta reconcile schedules (idempotent).
     * An id Scalekit does not know (a typo in a command) gets neither a row nor schedules.
     */
    async ensureOrganizationSchedules(organizationId: string): Promise<ScheduleRegistration> {
      if (!deps.directory) {
        await ensureOrganization(deps.db, organizationId);
        return 'no_credentials';
      }
      const name = await deps.directory.organizationName(organizationId);
      if (name === null) return 'unknown_organization';
      await upsertOrganization(deps.db, { organizationId, displayName: name, directories: [] });
      await ensureSchedules(deps.client, organizationId, deps.schedules);
      return 'ensured';
    },

    /** What a Schedule's workflow does: ask the organization workflow to reconcile. */
    async requestOrganizationReconcile(organizationId: string, kind: ReconcileKind): Promise<void> {
      await workflows.requestReconcile(organizationId, { kind, dryRun: false, trigger: 'schedule' });
    },
  };
}
