/**
 * The rules of a reconcile over an organization with several directories. Pure: the reconcile
 * activities and the plan's SQL take their decisions from here.
 *
 * - A run reads every enabled directory Scalekit lists for the organization.
 * - A disabled directory is listed but not read: Scalekit no longer syncs it, so its listing no
 *   longer follows the identity provider, and disabling is often a step of a change (an IdP
 *   migration, a connector being fixed). Its users and groups stay as they are, with their
 *   access, until it is enabled again or deleted.
 * - A listed directory whose details Scalekit does not return (a "not found" right after it was
 *   listed: eventual consistency, a moment of trouble) is not read either, and its users stay:
 *   only the listing says whether a directory exists.
 * - A user (or group) is deactivated (deleted) by a full run only when the directory that
 *   provisioned it was read and no longer lists it, or when that directory is gone from
 *   Scalekit: not listed by this full run nor by the previous applied one (and by nothing in
 *   between), so one listing that leaves a directory out cannot deprovision its people. One whose
 *   directory is not known yet is judged by the whole organization, and only when the run read
 *   every directory the organization is known to have.
 */

export interface ListedDirectory {
  id: string;
  enabled: boolean;
  /** Listed, but its details could not be read: why (null or absent when they were). */
  unreadable?: string | null;
}

/** A directory as Scalekit lists it for an organization. */
export interface DirectoryInfo {
  id: string;
  enabled: boolean;
  provider: string | null;
  directoryType: string | null;
  /** Scalekit's group → role mapping; user roles are derived from memberships with it. */
  roleAssignments: { groupId: string; roleName: string }[];
  /** When scimflow asked for the listing (epoch ns): what it says is at least that fresh. */
  listedNs: string;
  /**
   * Listed, but Scalekit did not return its details: why. Such a directory is not read, and its
   * users are kept (only the listing says whether a directory exists).
   */
  unreadable: string | null;
}

/** The reason recorded for a disabled directory. */
export const DISABLED = 'disabled';

/** Why a listed directory is not read; null when it is. */
export function whyNotRead(d: ListedDirectory): string | null {
  if (!d.enabled) return DISABLED;
  return d.unreadable ?? null;
}

/** The directories a run reads (in Scalekit's order) and those it leaves alone. */
export function directoriesToRead<T extends ListedDirectory>(listed: readonly T[]): { read: T[]; skipped: T[] } {
  return { read: listed.filter((d) => whyNotRead(d) === null), skipped: listed.filter((d) => whyNotRead(d) !== null) };
}

/** A directory as a run recorded it. */
export interface RunDirectory {
  directoryId: string;
  read: boolean;
  /** Why it was not read (null: disabled, for runs recorded before the reason was). */
  unreadReason?: string | null;
}

const unreadReasonOf = (d: RunDirectory): string => d.unreadReason ?? DISABLED;

export interface AbsenceVerdict {
  /** Absent from the snapshot, the entity is deactivated (a user) or deleted (a group). */
  judged: boolean;
  /** Why, in an operator's words (kept with each planned change). */
  reason: string;
}

/**
 * One of the organization's directories as stored before the run ends: `removed` when an earlier
 * full run already found Scalekit no longer lists it (and nothing has listed it since).
 */
export interface KnownDirectory {
  directoryId: string;
  removed: boolean;
}

/**
 * What absence from a full run's snapshot means for an entity provisioned by `directoryId`, given
 * the directories the run listed and those the organization is known to have.
 */
export function absenceVerdict(directoryId: string | null, run: readonly RunDirectory[], known: readonly KnownDirectory[]): AbsenceVerdict {
  const listed = (id: string) => run.find((d) => d.directoryId === id);
  if (directoryId === null) {
    // Its directory may be any of them: every one must have been read (or be gone for good).
    const unread = run.filter((d) => !d.read).map((d) => `${d.directoryId}: ${unreadReasonOf(d)}`);
    const missing = known
      .filter((d) => !d.removed && !listed(d.directoryId))
      .map((d) => `${d.directoryId}: not listed by Scalekit this time`);
    const notRead = [...unread, ...missing];
    if (notRead.length === 0) return { judged: true, reason: "listed by none of the organization's directories (its own is not known)" };
    return { judged: false, reason: `its directory is not known and not every directory was read (${notRead.join('; ')}): left as it is` };
  }
  const own = listed(directoryId);
  if (!own) {
    return known.some((d) => d.directoryId === directoryId && d.removed)
      ? { judged: true, reason: `its directory ${directoryId} is no longer in Scalekit (two full runs in a row did not list it)` }
      : {
          judged: false,
          reason: `its directory ${directoryId} is not listed by Scalekit: left as it is until the next full run, which deactivates its users if it does not list it either`,
        };
  }
  if (!own.read) {
    const why = unreadReasonOf(own);
    return {
      judged: false,
      reason: `its directory ${directoryId} ${why === DISABLED ? 'is disabled' : `was not read (${why})`}: left as it is`,
    };
  }
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
  known: readonly KnownDirectory[],
): { judgedIds: string[]; judgedReasons: string[]; unknown: AbsenceVerdict; kept: { directoryId: string; reason: string }[] } {
  const judgedIds: string[] = [];
  const judgedReasons: string[] = [];
  const kept: { directoryId: string; reason: string }[] = [];
  for (const id of new Set(entityDirectories)) {
    if (id === null) continue;
    const v = absenceVerdict(id, run, known);
    if (v.judged) {
      judgedIds.push(id);
      judgedReasons.push(v.reason);
    } else kept.push({ directoryId: id, reason: v.reason });
  }
  return { judgedIds, judgedReasons, unknown: absenceVerdict(null, run, known), kept };
}
