/**
 * An operator's retry of quarantined events: what is asked, and what became of them. Types only,
 * safe to import from workflow code.
 */

export interface QuarantineRetryRequest {
  /** The events to retry (up to 500); null: every quarantined event of the organization, oldest first, up to 5,000. */
  eventIds: string[] | null;
}

export interface QuarantineRetryResult {
  /** Quarantined events tried. */
  tried: number;
  applied: number;
  stale: number;
  ignored: number;
  stillQuarantined: number;
  notFound: number;
  /** Of those applied or stale: events the workflow itself had quarantined (a conflict). */
  recovered: number;
  /** Quarantined events of the organization left after this retry. */
  remaining: number;
  /** What became of each event (the first 200). */
  events: { id: string; outcome: string; detail: string }[];
}
