import { describe, expect, it } from 'vitest';
import { allowedDomainsShapeProblem } from '../../domain/email-policy-shape';
import { domainAllowed, emailDomain, heldReason, normalizeAllowedDomains } from '../../domain/email-policy';

describe('allowed e-mail domains', () => {
  it('are kept in one canonical form: lowercase ASCII, no trailing dot, sorted, once each', () => {
    expect(normalizeAllowedDomains(['Example.COM', 'example.com.', ' *.Sub.Example.org ', '@acme.io', 'bücher.de'])).toEqual({
      domains: ['*.sub.example.org', 'acme.io', 'example.com', 'xn--bcher-kva.de'],
    });
    expect(normalizeAllowedDomains([])).toEqual({ domains: [] });
  });

  it('refuses what is not a domain, naming it', () => {
    for (const bad of ['localhost', 'exa mple.com', 'a@b.com', '-x.com', 'x..com', '*', '*.com.', 'http://x.com', 'x_y.com', '']) {
      const r = normalizeAllowedDomains([bad]);
      expect(r, bad).toHaveProperty('problem');
    }
    expect(normalizeAllowedDomains(['ok.com', 'not a domain'])).toEqual({
      problem: expect.stringContaining('"not a domain" is not an e-mail domain'),
    });
    expect(normalizeAllowedDomains('example.com')).toEqual({ problem: expect.stringContaining('expected a list') });
    expect(normalizeAllowedDomains([1])).toEqual({ problem: expect.stringContaining('as a string') });
    expect(normalizeAllowedDomains(Array.from({ length: 201 }, (_, i) => `d${i}.com`))).toEqual({
      problem: 'at most 200 domains per organization',
    });
    // The workflow's check (no URL parser there) refuses the same shapes.
    expect(allowedDomainsShapeProblem('example.com')).toMatch(/expected a list/);
    expect(allowedDomainsShapeProblem([''])).toMatch(/1-255 characters/);
    expect(allowedDomainsShapeProblem(['example.com'])).toBeNull();
  });

  it("read an address's domain the same way", () => {
    expect(emailDomain('Ada@Example.COM')).toBe('example.com');
    expect(emailDomain('"a@b"@example.com')).toBe('example.com');
    expect(emailDomain('ada@')).toBeNull();
    expect(emailDomain('ada')).toBeNull();
    expect(emailDomain(null)).toBeNull();
    expect(emailDomain('ada@bücher.de')).toBe('xn--bcher-kva.de');
  });

  it('match a domain exactly, and *.domain its subdomains only', () => {
    const domains = ['*.corp.example', 'example.com'];
    expect(domainAllowed('example.com', domains)).toBe(true);
    expect(domainAllowed('mail.example.com', domains)).toBe(false);
    expect(domainAllowed('eu.corp.example', domains)).toBe(true);
    expect(domainAllowed('a.eu.corp.example', domains)).toBe(true);
    expect(domainAllowed('corp.example', domains)).toBe(false);
    expect(domainAllowed('evilcorp.example', domains)).toBe(false);
    expect(domainAllowed('example.com.evil.io', domains)).toBe(false);
  });

  it('hold an active user outside them, with the reason; nobody without a policy, and no inactive user', () => {
    const domains = ['example.com'];
    expect(heldReason({ active: true, email: 'ada@example.com' }, domains)).toBeNull();
    expect(heldReason({ active: true, email: 'ada@EXAMPLE.com' }, domains)).toBeNull();
    expect(heldReason({ active: true, email: 'eve@evil.io' }, domains)).toBe(
      "e-mail domain evil.io is not among the organization's allowed domains",
    );
    expect(heldReason({ active: true, email: null }, domains)).toMatch(/no e-mail address/);
    expect(heldReason({ active: true, email: 'broken' }, domains)).toMatch(/no valid domain/);
    expect(heldReason({ active: false, email: 'eve@evil.io' }, domains)).toBeNull();
    expect(heldReason({ active: true, email: 'eve@evil.io' }, [])).toBeNull();
  });
});
