import type { Knex } from 'knex';

/** Organizations, directory users and groups, memberships, and the event ledger. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE organizations (
      id                  text PRIMARY KEY,
      display_name        text,
      directory_id        text,
      directory_type      text,
      directory_provider  text,
      directory_enabled   boolean,
      directory_state_ns  bigint,
      sync_paused         boolean NOT NULL DEFAULT false,
      default_role        text,
      allowed_email_domains text[] NOT NULL DEFAULT '{}',
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE directory_users (
      organization_id     text NOT NULL REFERENCES organizations (id),
      id                  text NOT NULL,
      email               text,
      preferred_username  text,
      name                text,
      given_name          text,
      family_name         text,
      dp_id               text,
      active              boolean NOT NULL,
      roles               text[] NOT NULL DEFAULT '{}',
      attributes          jsonb NOT NULL DEFAULT '{}'::jsonb,
      -- Freshness: epoch nanoseconds of the newest change this row reflects.
      source_ns           bigint NOT NULL,
      source_event_id     text,
      deactivated_at      timestamptz,
      last_seen_sync_run  bigint,
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, id)
    );
    -- Two active users of one organization cannot share an email.
    CREATE UNIQUE INDEX directory_users_active_email
      ON directory_users (organization_id, lower(email)) WHERE active AND email IS NOT NULL;

    CREATE TABLE directory_groups (
      organization_id     text NOT NULL REFERENCES organizations (id),
      id                  text NOT NULL,
      display_name        text,
      directory_id        text,
      external_id         text,
      attributes          jsonb NOT NULL DEFAULT '{}'::jsonb,
      deleted_at          timestamptz,
      source_ns           bigint NOT NULL,
      source_event_id     text,
      last_seen_sync_run  bigint,
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, id)
    );

    CREATE TABLE group_memberships (
      organization_id     text NOT NULL,
      group_id            text NOT NULL,
      user_id             text NOT NULL,
      created_at          timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, group_id, user_id),
      FOREIGN KEY (organization_id, group_id) REFERENCES directory_groups (organization_id, id),
      FOREIGN KEY (organization_id, user_id) REFERENCES directory_users (organization_id, id)
    );
    CREATE INDEX group_memberships_user ON group_memberships (organization_id, user_id);

    -- The event ledger: one row per event id, written in the same transaction as its effects.
    CREATE TABLE directory_events (
      id                  text PRIMARY KEY,
      organization_id     text,
      type                text,
      source              text NOT NULL DEFAULT 'webhook',
      occurred_at         timestamptz,
      occurred_at_ns      bigint,
      received_at         timestamptz NOT NULL DEFAULT now(),
      applied_at          timestamptz,
      outcome             text NOT NULL CHECK (outcome IN ('pending', 'applied', 'duplicate', 'stale', 'ignored', 'quarantined')),
      detail              text,
      webhook_id          text,
      duplicate_count     integer NOT NULL DEFAULT 0,
      payload             jsonb,
      raw_body            text
    );
    CREATE INDEX directory_events_org_received ON directory_events (organization_id, received_at DESC, id DESC);
    CREATE INDEX directory_events_org_outcome ON directory_events (organization_id, outcome, received_at DESC);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS directory_events;
    DROP TABLE IF EXISTS group_memberships;
    DROP TABLE IF EXISTS directory_groups;
    DROP TABLE IF EXISTS directory_users;
    DROP TABLE IF EXISTS organizations;
  `);
}
