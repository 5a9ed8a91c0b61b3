import type { Knex } from 'knex';

/**
 * Role-based access: an organization maps directory groups to the application's roles (with a
 * precedence when a user is in several mapped groups), and every user's resolved roles are kept
 * with where each came from, so "why does this user have this role" has an answer.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE role_mappings (
      organization_id   text NOT NULL REFERENCES organizations (id),
      group_id          text NOT NULL,
      role              text NOT NULL,
      -- Lower wins when a user is in several mapped groups.
      precedence        integer NOT NULL,
      created_at        timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, group_id)
    );

    CREATE TABLE user_roles (
      organization_id   text NOT NULL,
      user_id           text NOT NULL,
      role              text NOT NULL,
      source            text NOT NULL CHECK (source IN ('scalekit', 'mapping', 'default')),
      -- For a mapping: the group that granted the role and its precedence at the time.
      group_id          text,
      precedence        integer,
      -- What made the change: a directory event, a sync run, or a mapping change.
      granted_by        text NOT NULL,
      granted_at        timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (organization_id, user_id, role, source),
      FOREIGN KEY (organization_id, user_id) REFERENCES directory_users (organization_id, id)
    );
    CREATE INDEX user_roles_role ON user_roles (organization_id, role);
    CREATE INDEX user_roles_group ON user_roles (organization_id, group_id) WHERE group_id IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS user_roles;
    DROP TABLE IF EXISTS role_mappings;
  `);
}
