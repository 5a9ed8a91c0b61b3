import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import { upsertOrganization } from '../db/repositories/organizations';
import type { DirectoryInfo } from '../domain/directories';
import { NoDirectoryError, OrganizationNotFoundError, type ScalekitDirectory } from '../scalekit/directory';
import { ensureSchedules, type ScheduleSettings } from './schedules';

/**
 * Registering an organization: look it up in Scalekit, create or refresh its row, create its full
 * and delta reconcile schedules. Every step is idempotent. The CLI registers before an import
 * (`orgs add`, `import`); the organization workflow registers when it first hears of one.
 */

/**
 * How the registration reaches each system. The caller runs each step: it decides how the system
 * is reached (a connection made on first use, a limit on calls waiting) and what its failures mean.
 */
export interface RegistrationAccess {
  scalekit<T>(step: (directory: ScalekitDirectory) => Promise<T>): Promise<T>;
  database<T>(step: (db: Knex) => Promise<T>): Promise<T>;
  temporal<T>(step: (client: Client, schedules: ScheduleSettings) => Promise<T>): Promise<T>;
}

export interface RegistrationOptions {
  /** Ask Scalekit for its directories too, and store them with it. */
  listDirectories: boolean;
  /** Refuse (NoDirectoryError) when it has none yet (an import needs one). */
  requireDirectory: boolean;
}

export interface OrganizationRegistration {
  organizationId: string;
  displayName: string | null;
  /** Every directory Scalekit lists for it (none when not asked). */
  directories: DirectoryInfo[];
  row: 'created' | 'updated';
  /** The schedules this registration created (none when they were there already). */
  schedulesCreated: string[];
}

/**
 * Registers the organization. An id Scalekit does not know gets neither a row nor schedules: it
 * throws OrganizationNotFoundError (NoDirectoryError when a directory is required and there is none).
 */
export async function registerOrganization(
  access: RegistrationAccess,
  organizationId: string,
  options: RegistrationOptions,
): Promise<OrganizationRegistration> {
  const { directories, displayName } = await access.scalekit(async (scalekit) => {
    const directories = options.listDirectories ? await scalekit.listDirectories(organizationId) : [];
    if (directories.length === 0 && options.requireDirectory) throw new NoDirectoryError(organizationId);
    const displayName = await scalekit.organizationName(organizationId);
    // The listing already says whether Scalekit knows the organization; without it, the name does.
    if (displayName === null && !options.listDirectories) throw new OrganizationNotFoundError(organizationId);
    return { directories, displayName };
  });
  const row = await access.database((db) => upsertOrganization(db, { organizationId, displayName, directories }));
  const schedulesCreated = await access.temporal((client, schedules) => ensureSchedules(client, organizationId, schedules));
  return { organizationId, displayName, directories, row, schedulesCreated };
}
