import { ConfigError, loadConfig } from '../config/index';
import { createDatabase, migrateLatest } from '../db/connection';
import { ensureDatabase, serverReachable, startEmbeddedPostgres } from './lib/postgres';
import { ensureChromium } from './lib/chromium';
import { ensureZsh } from './lib/zsh';
import { ensureTemporalCli } from './lib/temporal-server';

/**
 * Second half of the bootstrap: the Temporal CLI; with --test, Chromium for the browser tests
 * and zsh for the test of the README's commands (installed with apt-get as root); otherwise the
 * database and its migrations.
 */
async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const say = (line: string) => process.stdout.write(`[bootstrap] ${line}\n`);
  const config = loadConfig();

  if (!config.temporal.address || args.has('--test')) {
    const cli = ensureTemporalCli(config.dev.temporalCli, say);
    say(`Temporal CLI: ${cli}`);
  }
  if (args.has('--test')) {
    const chromium = ensureChromium(say);
    if (chromium) say(`Chromium: ${chromium}`);
    const zsh = ensureZsh(say);
    if (zsh) say(`zsh: ${zsh}`);
  }
  if (args.has('--test') || args.has('--no-database')) return;

  let url = config.databaseUrl;
  let stop: (() => Promise<void>) | undefined;
  if (!(await serverReachable(url))) {
    if (!config.databaseUrlIsDefault) {
      throw new Error(`PostgreSQL at DATABASE_URL does not answer. Start it, or unset DATABASE_URL to use an embedded one.`);
    }
    say('no PostgreSQL answers at 127.0.0.1:5432: using an embedded PostgreSQL (data in the data folder)');
    const embedded = await startEmbeddedPostgres(config.dev.dataDir, 'scimflow');
    url = embedded.url;
    stop = embedded.stop;
  }
  try {
    if (await ensureDatabase(url)) say(`created database ${new URL(url).pathname.slice(1)}`);
    const db = createDatabase({ url });
    try {
      const applied = await migrateLatest(db);
      say(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database schema is up to date');
    } finally {
      await db.destroy();
    }
  } finally {
    await stop?.();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[bootstrap] ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  process.exit(1);
});
