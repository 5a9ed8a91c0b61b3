/**
 * Retention's predicates shared with the mirror's writer (which clears deactivated users'
 * personal fields for retention). They match the partial indexes of the retention migration word
 * for word: the planner only uses a partial index whose predicate the query repeats.
 */

const PERSONAL = `(email IS NOT NULL OR name IS NOT NULL OR given_name IS NOT NULL OR family_name IS NOT NULL
                            OR preferred_username IS NOT NULL OR attributes <> '{}'::jsonb)`;
/** Deactivated users who still hold personal fields. */
export const DEACTIVATED_WITH_DATA = `NOT active AND ${PERSONAL}`;

/** `now() - <seconds>` in SQL, bound. */
export const before = (seconds: number) => [`now() - ? * interval '1 second'`, seconds] as const;
