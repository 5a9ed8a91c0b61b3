import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SETTINGS_LINK_TTL_SECONDS, SettingsLinks } from '../../api/settings-link';

const TOKEN = 'operator-token-0123456789';
const NOW = 1_900_000_000;
const query = (q: string) => Object.fromEntries(new URLSearchParams(q));

describe('settings links', () => {
  const links = new SettingsLinks(TOKEN);

  it('opens within its 15 minutes and expires after them', () => {
    const link = links.create('org_1', NOW);
    expect(links.check(query(link.query), NOW)).toMatchObject({ status: 'ok', organizationId: 'org_1' });
    expect(links.check(query(link.query), NOW + SETTINGS_LINK_TTL_SECONDS)).toMatchObject({ status: 'ok' });
    expect(links.check(query(link.query), NOW + SETTINGS_LINK_TTL_SECONDS + 1)).toEqual({ status: 'expired' });
  });

  it('refuses a correctly signed link that claims to live longer than 15 minutes', () => {
    // As if made with a far expiry: signed with the right key, by another build or by hand.
    const farFuture = links.create('org_1', NOW + 24 * 3600);
    expect(links.check(query(farFuture.query), NOW)).toEqual({ status: 'invalid' });
    // By the link's own signature scheme: expires in a year.
    const key = createHmac('sha256', TOKEN).update('scimflow settings link v2').digest();
    const expires = String(NOW + 365 * 24 * 3600);
    const n = randomBytes(16).toString('base64url');
    const sig = createHmac('sha256', key).update(['link', 'org_1', expires, n].join('.')).digest('base64url');
    expect(links.check({ org: 'org_1', expires, n, sig }, NOW)).toEqual({ status: 'invalid' });
  });

  it('tolerates another instance whose clock runs up to a minute ahead', () => {
    const ahead = links.create('org_1', NOW + 60);
    expect(links.check(query(ahead.query), NOW)).toMatchObject({ status: 'ok' });
    expect(links.check(query(links.create('org_1', NOW + 61).query), NOW)).toEqual({ status: 'invalid' });
  });
});
