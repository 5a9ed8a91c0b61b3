import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';

/**
 * Whether the namespace has a custom search attribute: an upsert of one it lacks fails the
 * workflow task, again and again, and so would hold up the organization's events. The workflow
 * asks before it sets `ScimState`; a namespace set up before it existed keeps working without it.
 */
export function createSearchAttributeActivities(client: Client) {
  // Registered stays registered; a missing one is asked again (by the next run that asks).
  const registered = new Set<string>();
  let warned = false;
  return {
    async searchAttributeRegistered(name: string): Promise<boolean> {
      if (registered.has(name)) return true;
      const { namespace } = client.options;
      const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace });
      if (customAttributes?.[name] !== undefined) {
        registered.add(name);
        return true;
      }
      if (!warned) {
        warned = true;
        Context.current().log.warn(
          `the namespace ${namespace} has no search attribute ${name}: the workflow list cannot be filtered by it; ` +
            `register it (Keyword), see docs/runbook.md`,
          { searchAttribute: name, namespace },
        );
      }
      return false;
    },
  };
}
