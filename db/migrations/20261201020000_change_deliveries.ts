import type { Knex } from 'knex';

/**
 * Delivery of the change stream to the application, per organization and channel ('temporal':
 * the delivery workflow calling the application's activity).
 *
 * - `change_deliveries.delivered_sequence`: the organization's records up to it were delivered.
 *   The delivery workflow writes it after each batch the application acknowledged; `state` and
 *   the stop columns say whether it is delivering, paused, or stopped at a record the
 *   application refused (and why), so status reads need no workflow.
 * - `change_delivery_skips`: records an operator passed over, with the reason. They were never
 *   delivered.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE change_deliveries (
      organization_id     text NOT NULL,
      channel             text NOT NULL,
      delivered_sequence  bigint NOT NULL DEFAULT 0,
      delivered_at        timestamptz,
      state               text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'paused', 'stopped')),
      paused_at           timestamptz,
      pause_note          text,
      stop_kind           text,
      stop_reason         text,
      stopped_at          timestamptz,
      stopped_sequence    bigint,
      stopped_record_id   text,
      updated_at          timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, channel)
    );
    CREATE INDEX change_deliveries_stopped ON change_deliveries (channel) WHERE state = 'stopped';

    CREATE TABLE change_delivery_skips (
      id               bigserial PRIMARY KEY,
      organization_id  text NOT NULL,
      channel          text NOT NULL,
      record_id        text NOT NULL,
      sequence         bigint NOT NULL,
      reason           text NOT NULL,
      skipped_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX change_delivery_skips_org ON change_delivery_skips (organization_id, channel, sequence);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS change_delivery_skips;
    DROP TABLE IF EXISTS change_deliveries;
  `);
}
