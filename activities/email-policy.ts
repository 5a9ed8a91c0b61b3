import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import { withMirrorWriter } from '../db/mirror/writer';
import { activeUsersForPolicy } from '../db/repositories/email-policy';
import {
  describeAllowedDomains,
  heldReason,
  normalizeAllowedDomains,
  POLICY_SAMPLE,
  type EmailPolicyRequest,
  type EmailPolicyResult,
} from '../domain/email-policy';
import { withHeartbeat } from './heartbeat';
import { cliPrefix } from '../domain/cli-command';

/**
 * Sets an organization's allowed e-mail domains under its lock: the users it holds or releases
 * are told to the application in the same transaction (the mirror's writer makes the records). A
 * dry run computes the same lists, with the same rule, and writes nothing.
 */
export async function changeEmailPolicy(db: Knex, organizationId: string, request: EmailPolicyRequest): Promise<EmailPolicyResult> {
  const normalized = normalizeAllowedDomains(request.allowedDomains);
  if ('problem' in normalized) throw ApplicationFailure.nonRetryable(normalized.problem, 'InvalidEmailPolicy');
  const after = normalized.domains;
  return withHeartbeat(() =>
    withMirrorWriter(db, organizationId, async (writer) => {
      if (!writer.organizationKnown) {
        throw ApplicationFailure.nonRetryable(
          `scimflow does not know organization ${organizationId} yet; register it first (${cliPrefix()} orgs add ${organizationId})`,
          'OrganizationNotFound',
        );
      }
      const before = await writer.allowedEmailDomains();
      const summary = describeAllowedDomains(after);
      const result: EmailPolicyResult = {
        dryRun: request.dryRun,
        before,
        after,
        summary,
        held: 0,
        released: 0,
        heldAfter: 0,
        heldUsers: [],
        releasedUsers: [],
      };
      for await (const page of activeUsersForPolicy(writer.trx, organizationId)) {
        for (const u of page) {
          const reason = heldReason({ active: true, email: u.email }, after);
          if (reason !== null) result.heldAfter += 1;
          if (reason !== null && u.heldReason === null) {
            result.held += 1;
            if (result.heldUsers.length < POLICY_SAMPLE) result.heldUsers.push({ id: u.id, email: u.email, name: u.name, reason });
          } else if (reason === null && u.heldReason !== null) {
            result.released += 1;
            if (result.releasedUsers.length < POLICY_SAMPLE)
              result.releasedUsers.push({ id: u.id, email: u.email, name: u.name, reason: null });
          }
        }
      }
      if (!request.dryRun && !sameList(before, after)) await writer.setAllowedEmailDomains(after, summary);
      return result;
    }),
  );
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);
