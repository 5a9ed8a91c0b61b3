import { loadAcmeConfig } from './config';
import { createAcmeDatabase, migrateAcme } from './db';
import { issueToken } from './tokens';

/** Prints an API token for an active user: `tsx examples/acme-app/token.ts <email> [organizationId]`. */

const [email, organizationId] = process.argv.slice(2);
if (!email) {
  console.error('usage: tsx examples/acme-app/token.ts <email> [organizationId]');
  process.exit(2);
}
const db = createAcmeDatabase(loadAcmeConfig().databaseUrl);
try {
  await migrateAcme(db);
  const query = db('users').whereRaw('lower(email) = lower(?)', [email]).where({ active: true });
  if (organizationId) query.where({ organization_id: organizationId });
  const users = (await query.select('id', 'organization_id')) as { id: string; organization_id: string }[];
  if (users.length !== 1) {
    console.error(
      users.length === 0
        ? `no active user with the e-mail ${email}`
        : `several organizations have ${email}: ${users.map((u) => u.organization_id).join(', ')}`,
    );
    process.exitCode = 1;
  } else {
    console.log(await issueToken(db, users[0]!.id));
  }
} finally {
  await db.destroy();
}
