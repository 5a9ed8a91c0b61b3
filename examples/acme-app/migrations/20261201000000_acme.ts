import type { Knex } from 'knex';

/**
 * Acme's own tables, in its own schema: its users (its own ids; the directory user id beside
 * them), their roles, their API tokens (hashed), a little product data (projects, invitations)
 * and the directory change records it has applied (its idempotency keys).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE acme.users (
      id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id     text NOT NULL,
      -- The directory user id scimflow sends (UserView.id): how a change finds its user.
      directory_user_id   text,
      email               text,
      name                text,
      active              boolean NOT NULL DEFAULT true,
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now(),
      deactivated_at      timestamptz,
      UNIQUE (organization_id, directory_user_id)
    );
    CREATE INDEX users_email ON acme.users (lower(email));

    CREATE TABLE acme.user_roles (
      user_id             uuid NOT NULL REFERENCES acme.users (id) ON DELETE CASCADE,
      role                text NOT NULL CHECK (role IN ('viewer', 'member', 'manager', 'admin')),
      granted_at          timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, role)
    );

    CREATE TABLE acme.api_tokens (
      id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id             uuid NOT NULL REFERENCES acme.users (id) ON DELETE CASCADE,
      -- SHA-256 of the token: the token itself is shown once and never stored.
      token_hash          text NOT NULL UNIQUE,
      created_at          timestamptz NOT NULL DEFAULT now(),
      last_used_at        timestamptz,
      revoked_at          timestamptz,
      revoked_reason      text
    );
    CREATE INDEX api_tokens_user ON acme.api_tokens (user_id) WHERE revoked_at IS NULL;

    CREATE TABLE acme.projects (
      id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id     text NOT NULL,
      name                text NOT NULL,
      created_by          uuid NOT NULL REFERENCES acme.users (id),
      created_at          timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE acme.invitations (
      id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id     text NOT NULL,
      email               text NOT NULL,
      invited_by          uuid NOT NULL REFERENCES acme.users (id),
      created_at          timestamptz NOT NULL DEFAULT now()
    );

    -- Every change record applied, written in the same transaction as what it changed: a record
    -- given again (a retry, a replay) finds its id here and changes nothing.
    CREATE TABLE acme.applied_changes (
      record_id           text PRIMARY KEY,
      organization_id     text NOT NULL,
      sequence            bigint NOT NULL,
      kind                text NOT NULL,
      applied_at          timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX applied_changes_organization ON acme.applied_changes (organization_id, sequence);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE acme.applied_changes;
    DROP TABLE acme.invitations;
    DROP TABLE acme.projects;
    DROP TABLE acme.api_tokens;
    DROP TABLE acme.user_roles;
    DROP TABLE acme.users;
  `);
}
