/**
 * E-mail conflicts, in words an operator can act on. Users are keyed by directory user id, never
 * by e-mail, but two active users of one organization cannot share an e-mail: the second one is
 * held back (a quarantined event, a failed change of a run) until the first is deactivated. When
 * the two come from different directories it is usually the same person provisioned by both (an
 * IdP migration with the old and the new directory side by side): deprovision them in one.
 */

/** Marks a conflict between two directories in ledger details and plan rows (counted by /metrics). */
export const CROSS_DIRECTORY_EMAIL_CONFLICT = 'e-mail conflict between directories';

export const CROSS_DIRECTORY_ADVICE = 'the same person provisioned by two directories? deprovision them in one of them';

export interface ConflictParty {
  id: string;
  directoryId: string | null;
}

function party(p: ConflictParty): string {
  return `${p.id} (directory ${p.directoryId ?? 'not known yet'})`;
}

/** `user` cannot take the e-mail that active user `holder` has. */
export function describeEmailConflict(user: ConflictParty, holder: ConflictParty): string {
  const between = user.directoryId !== null && holder.directoryId !== null && user.directoryId !== holder.directoryId;
  const what = `user ${party(user)} has the e-mail of active user ${party(holder)}`;
  return between ? `${CROSS_DIRECTORY_EMAIL_CONFLICT}: ${what}; ${CROSS_DIRECTORY_ADVICE}` : `e-mail conflict: ${what}`;
}
