import type { Knex } from 'knex';
import * as directory from './20261123000000_directory';
import * as syncRuns from './20261123010000_sync_runs';
import * as roles from './20261124000000_roles';
import * as syncPause from './20261124010000_sync_pause';
import * as settingsLinks from './20261124020000_settings_links';
import * as stateGauges from './20261124030000_state_gauges';
import * as directories from './20261125000000_directories';
import * as retention from './20261125030000_retention';
import * as runRoleAssignments from './20261126010000_run_role_assignments';
import * as changeRecords from './20261201000000_change_records';
import * as changeDeliveries from './20261201020000_change_deliveries';
import * as emailPolicy from './20261201030000_email_policy';
import * as lookupPlans from './20261202000000_lookup_plans';
import * as runSteps from './20261202010000_run_steps';

/**
 * Migrations are listed here rather than discovered on disk, so they load the same way under
 * tsx, vitest and a bundled build. Names are timestamped and never change once released.
 */
const migrations: Record<string, Knex.Migration> = {
  '20261123000000_directory': directory,
  '20261123010000_sync_runs': syncRuns,
  '20261124000000_roles': roles,
  '20261124010000_sync_pause': syncPause,
  '20261124020000_settings_links': settingsLinks,
  '20261124030000_state_gauges': stateGauges,
  '20261125000000_directories': directories,
  '20261125030000_retention': retention,
  '20261126010000_run_role_assignments': runRoleAssignments,
  '20261201000000_change_records': changeRecords,
  '20261201020000_change_deliveries': changeDeliveries,
  '20261201030000_email_policy': emailPolicy,
  '20261202000000_lookup_plans': lookupPlans,
  '20261202010000_run_steps': runSteps,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const m = migrations[name];
    if (!m) throw new Error(`unknown migration ${name}`);
    return m;
  },
};
