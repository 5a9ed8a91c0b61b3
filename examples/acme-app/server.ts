import { createAcmeApp } from './app';
import { consoleLogger, loadAcmeConfig } from './config';
import { createAcmeDatabase, migrateAcme } from './db';

/** Acme's HTTP server (ACME_HOST:ACME_PORT, 127.0.0.1:3100 by default). */

const config = loadAcmeConfig();
const logger = consoleLogger('acme-server');
const db = createAcmeDatabase(config.databaseUrl, { applicationName: 'acme-server' });
await migrateAcme(db);
const app = createAcmeApp({ db, logger, webhookSecrets: config.webhookSecrets, devLogin: config.devLogin });
const server = app.listen(config.port, config.host, () => {
  logger.info('listening', {
    url: `http://${config.host}:${config.port}`,
    push: config.webhookSecrets.length > 0 ? 'POST /scimflow/changes' : 'off (APP_WEBHOOK_SECRET unset)',
    devLogin: config.devLogin ? 'POST /dev/tokens' : 'off (ACME_DEV_LOGIN unset)',
  });
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    void db.destroy();
  });
}
