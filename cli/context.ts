import type { Client, Connection } from '@temporalio/client';
import type { Knex } from 'knex';
import { ConfigError, loadConfig, type Config } from '../config/index';
import { createDatabase } from '../db/connection';
import { organizationName } from '../db/repositories/organizations';
import { createScalekitClient, ScalekitDirectory } from '../scalekit/directory';
import { createLazyClient, OrganizationWorkflows, WorkflowRefusedError } from '../temporal/client';
import { dataConverter, encryptionProblem } from '../temporal/codec';
import { applyDevSettings } from './dev-settings';
import { CliError, databaseProblem, isTemporalUnavailable, RefusedError, temporalUnavailable } from './errors';

/**
 * What a command may use, each made on first use: the configuration, a database pool, the
 * Temporal client (checked reachable once, so the first failure says what to do) and the
 * Scalekit directory. `close()` releases whatever was opened so the process can exit.
 */

export interface Temporal {
  client: Client;
  workflows: OrganizationWorkflows;
  address: string;
  namespace: string;
  taskQueue: string;
}

export interface Output {
  /** Results (stdout). */
  out(line?: string): void;
  /** Notes, progress and errors (stderr). */
  err(line?: string): void;
  /** Raw write to stderr (progress redraws). */
  errRaw(text: string): void;
  errIsTTY: boolean;
  /** Terminal width of stderr, when it is one. */
  errColumns(): number | undefined;
}

export const processOutput: Output = {
  out: (line = '') => void process.stdout.write(`${line}\n`),
  err: (line = '') => void process.stderr.write(`${line}\n`),
  errRaw: (text) => void process.stderr.write(text),
  errIsTTY: Boolean(process.stderr.isTTY),
  errColumns: () => process.stderr.columns,
};

export class CliContext {
  private configValue: Config | undefined;
  private database: Knex | undefined;
  private temporalValue: Promise<Temporal> | undefined;
  private connection: Connection | undefined;

  constructor(readonly io: Output = processOutput) {}

  config(): Config {
    if (!this.configValue) {
      try {
        // Beside `npm run dev`: its database, Temporal and Scalekit, unless the environment says otherwise.
        applyDevSettings();
        this.configValue = loadConfig();
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message);
        throw err;
      }
    }
    return this.configValue;
  }

  db(): Knex {
    if (!this.database) {
      this.database = createDatabase({ url: this.config().databaseUrl, maxConnections: 2, applicationName: 'scimflow-cli', quiet: true });
    }
    return this.database;
  }

  /** Runs a database read or write, turning "no database" into an error with a next step. */
  async withDb<T>(fn: (db: Knex) => Promise<T>): Promise<T> {
    try {
      return await fn(this.db());
    } catch (err) {
      throw databaseProblem(err, this.config().databaseUrl) ?? err;
    }
  }

  temporalAddress(): string {
    const c = this.config();
    return c.temporal.address ?? `127.0.0.1:${c.dev.temporalPort}`;
  }

  temporal(): Promise<Temporal> {
    this.temporalValue ??= (async () => {
      const c = this.config();
      const address = this.temporalAddress();
      const { client, connection } = createLazyClient({
        address,
        namespace: c.temporal.namespace,
        taskQueue: c.temporal.taskQueue,
        dataConverter: dataConverter(c),
      });
      this.connection = connection;
      // The name of an organization registered just before (orgs add, import) is in the database.
      const workflows = new OrganizationWorkflows(client, c.temporal.taskQueue, 10_000).namedBy((id) => organizationName(this.db(), id));
      if (!(await workflows.reachable())) throw temporalUnavailable(address, c.temporal.namespace);
      return { client, workflows, address, namespace: c.temporal.namespace, taskQueue: c.temporal.taskQueue };
    })();
    return this.temporalValue;
  }

  /** Maps a failed Temporal call to the "is it running?" error when that is what it was. */
  temporalError(err: unknown): unknown {
    if (err instanceof CliError) return err;
    const encryption = encryptionProblem(err);
    if (encryption) return new CliError(encryption);
    if (isTemporalUnavailable(err)) return temporalUnavailable(this.temporalAddress(), this.config().temporal.namespace);
    return err;
  }

  /**
   * Runs a command of the organization workflow. A refusal becomes `{ refused }` after printing
   * it as JSON (`--json`: the command exits 1 with that object), or a RefusedError (the message
   * on stderr); an unreachable Temporal says how to reach it.
   */
  async command<T>(organizationId: string, json: boolean | undefined, fn: () => Promise<T>): Promise<{ value: T } | { refused: string }> {
    try {
      return { value: await fn() };
    } catch (err) {
      if (err instanceof WorkflowRefusedError) {
        if (!json) throw new RefusedError(err.message);
        this.io.out(JSON.stringify({ organizationId, status: 'refused', error: err.message }));
        return { refused: err.message };
      }
      throw this.temporalError(err);
    }
  }

  /** The Scalekit directory, or undefined when this environment has no credentials. */
  scalekit(): ScalekitDirectory | undefined {
    const creds = this.config().scalekit;
    return creds ? new ScalekitDirectory(createScalekitClient(creds)) : undefined;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.database?.destroy(), this.connection?.close()]);
  }
}
