import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { ensureOrganization } from '../db/repositories/directory';
import { organizationExists, organizationName } from '../db/repositories/organizations';
import { OrganizationNotFoundError, type ScalekitDirectory } from '../scalekit/directory';
import type { ReconcileKind } from '../domain/reconcile';
import { OrganizationWorkflows } from '../temporal/client';
import { registerOrganization, type RegistrationAccess } from '../temporal/registration';
import type { ScheduleSettings } from '../temporal/schedules';

export interface ScheduleDeps {
  db: Knex;
  client: Client;
  schedules: ScheduleSettings;
  /** Without Scalekit credentials there is nothing to reconcile against: no schedules. */
  directory: ScalekitDirectory | undefined;
  /** Registrations waiting on Scalekit at once (see registrationLimit); default: no limit. */
  registrationLimit?: number;
}

/**
 * What registering an organization did. `unknown_unregistered`: Scalekit does not know the id and
 * the database has no row for it either (a typo in a command); `unknown_organization`: Scalekit
 * does not know it but it was registered before (its data is kept).
 */
export type ScheduleRegistration = 'ensured' | 'unknown_organization' | 'unknown_unregistered' | 'no_credentials';

export function createScheduleActivities(deps: ScheduleDeps) {
  const workflows = new OrganizationWorkflows(deps.client, deps.schedules.taskQueue, 10_000).namedBy((id) => organizationName(deps.db, id));
  const limit = deps.registrationLimit ?? Infinity;
  let waiting = 0;
  const directory = deps.directory;
  const access: RegistrationAccess | undefined = directory && {
    scalekit: async (step) => {
      if (waiting >= limit) {
        throw ApplicationFailure.retryable(
          `${waiting} registrations are already waiting on Scalekit in this worker; this one is tried again later`,
          'RegistrationsBusy',
        );
      }
      waiting += 1;
      try {
        return await step(directory);
      } finally {
        waiting -= 1;
      }
    },
    database: (step) => step(deps.db),
    temporal: (step) => step(deps.client, deps.schedules),
  };
  return {
    /**
     * Registers the organization and creates its full and delta reconcile schedules (idempotent).
     * An id Scalekit does not know (a typo in a command) gets neither a row nor schedules. When
     * `registrationLimit` registrations already wait on Scalekit in this worker, it fails at once
     * (retried later, like a failed call): its slot is free again for a reconcile step.
     */
    async ensureOrganizationSchedules(organizationId: string): Promise<ScheduleRegistration> {
      if (!access) {
        await ensureOrganization(deps.db, organizationId);
        return 'no_credentials';
      }
      try {
        await registerOrganization(access, organizationId, { listDirectories: false, requireDirectory: false });
      } catch (err) {
        if (err instanceof OrganizationNotFoundError)
          return (await organizationExists(deps.db, organizationId)) ? 'unknown_organization' : 'unknown_unregistered';
        throw err;
      }
      return 'ensured';
    },

    /** What a Schedule's workflow does: ask the organization workflow to reconcile. */
    async requestOrganizationReconcile(organizationId: string, kind: ReconcileKind): Promise<void> {
      await workflows.requestReconcile(organizationId, { kind, dryRun: false, trigger: 'schedule' });
    },
  };
}
