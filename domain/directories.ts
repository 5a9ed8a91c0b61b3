/**
 * The rules of a reconcile over an organization with several directories. Pure: the reconcile
 * activities and the plan's SQL take their decisions from here.
 *
 * - A run reads every enabled directory Scalekit lists for the organization.
 * - A disabled directory is listed but not read: Scalekit no longer syncs it, so its listing no
 *   longer follows the identity provider, and disabling is often a step of a change (an IdP
 *   migration, a connector being fixed). Its users and groups stay as they are, with their
 *   access, until it is enabled again or deleted.
 * - A user (or group) is deactivated (deleted) by a full run only when the directory that
 *   provisioned it was read and no longer lists it, or when that directory is gone from
 *   Scalekit altogether (deleted, e.g. at the end of an IdP migration). One whose directory is
 *   not known yet is judged by the whole organization, and only when the run read every directory.
 */

export interface ListedDirectory {
  id: string;
  enabled: boolean;
}

/** The directories a run reads (in Scalekit's order) and those it leaves alone. */
export function directoriesToRead<T extends ListedDirectory>(listed: readonly T[]): { read: T[]; skipped: T[] } {
  return { read: listed.filter((d) => d.enabled), skipped: listed.filter((d) => !d.enabled) };
}

/** A directory as a run recorded it. */
export interface RunDirectory {
  directoryId: string;
  read: boolean;
}

export interface AbsenceVerdict {
  /** Absent from the snapshot, the entity is deactivated (a user) or deleted (a group). */
  judged: boolean;
  /** Why, in an operator's words (kept with each planned change). */
  reason: string;
}

/** What absence from a full run's snapshot means for an entity provisioned by `directoryId`. */
export function absenceVerdict(directoryId: string | null, run: readonly RunDirectory[]): AbsenceVerdict {
  if (directoryId === null) {
    const unread = run.filter((d) => !d.read).map((d) => d.directoryId);
    return unread.length === 0
      ? { judged: true, reason: 'listed by none of the organization\'s directories (its own is not known)' }
      : { judged: false, reason: `its directory is not known and ${unread.join(', ')} was not read (disabled): left as it is` };
  }
  const listed = run.find((d) => d.directoryId === directoryId);
  if (!listed) return { judged: true, reason: `its directory ${directoryId} is no longer in Scalekit` };
  if (!listed.read) return { judged: false, reason: `its directory ${directoryId} is disabled: left as it is` };
  return { judged: true, reason: `no longer listed by its directory ${directoryId}` };
}

/**
 * The absence verdicts for the directories the organization's entities have (a handful), in the
 * shape the plan's SQL takes: the judged directory ids with their reasons, and the verdict for
 * entities whose directory is unknown.
 */
export function absenceScope(
  entityDirectories: readonly (string | null)[],
  run: readonly RunDirectory[],
): { judgedIds: string[]; judgedReasons: string[]; unknown: AbsenceVerdict; kept: { directoryId: string; reason: string }[] } {
  const judgedIds: string[] = [];
  const judgedReasons: string[] = [];
  const kept: { directoryId: string; reason: string }[] = [];
  for (const id of new Set(entityDirectories)) {
    if (id === null) continue;
    const v = absenceVerdict(id, run);
    if (v.judged) {
      judgedIds.push(id);
      judgedReasons.push(v.reason);
    } else kept.push({ directoryId: id, reason: v.reason });
  }
  return { judgedIds, judgedReasons, unknown: absenceVerdict(null, run), kept };
}
