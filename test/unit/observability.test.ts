import { describe, expect, it } from 'vitest';
import { createLogger, memoryLogger } from '../../observability/logger';
import type { LogLevel } from '../../observability/logger';
import { Metrics } from '../../observability/metrics';

function capture(level?: LogLevel, base?: Record<string, unknown>) {
  const lines: string[] = [];
  const logger = createLogger({ level, base, write: (l) => lines.push(l) });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records };
}

describe('logger', () => {
  it('writes one JSON object per line with time, level, message and fields', () => {
    const { logger, lines, records } = capture();
    logger.info('webhook accepted', { eventId: 'evt_1', type: 'organization.directory.user_created' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    const [r] = records();
    expect(r).toMatchObject({ level: 'info', msg: 'webhook accepted', eventId: 'evt_1', type: 'organization.directory.user_created' });
    expect(Number.isNaN(Date.parse(String(r?.time)))).toBe(false);
  });

  it.each([
    'secret',
    'clientSecret',
    'SCALEKIT_CLIENT_SECRET',
    'webhookSecret',
    'token',
    'accessToken',
    'OPERATOR_API_TOKEN',
    'password',
    'dbPassword',
    'authorization',
    'Authorization',
    'signature',
    'webhook-signature',
    'portalLink',
    'portal_link',
    'portal-link',
    'location',
  ])('redacts a field named %s', (field) => {
    const { logger, lines } = capture();
    logger.warn('something', { [field]: 'S3CR3T-value-xyz', keep: 'visible' });
    expect(lines[0]).not.toContain('S3CR3T-value-xyz');
    const r = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(r[field]).toBe('[redacted]');
    expect(r.keep).toBe('visible');
  });

  it('redacts whatever the value type is', () => {
    const { logger, lines } = capture();
    logger.info('x', { token: { value: 'S3CR3T' }, password: 12345678, secret: ['S3CR3T'] });
    expect(lines[0]).not.toContain('S3CR3T');
    expect(lines[0]).not.toContain('12345678');
  });

  it('does not redact ordinary fields', () => {
    const { logger, records } = capture();
    logger.info('x', { eventId: 'evt_1', organizationId: 'org_1', reason: 'invalid_signature', webhookId: 'msg_1', status: 400 });
    expect(records()[0]).toMatchObject({
      eventId: 'evt_1',
      organizationId: 'org_1',
      reason: 'invalid_signature',
      webhookId: 'msg_1',
      status: 400,
    });
  });

  it('redacts secret-looking fields inside nested objects too', () => {
    // e.g. logging a request's headers or a config section must not print the secret inside.
    const { logger, lines } = capture();
    logger.error('request failed', {
      headers: { authorization: 'Bearer S3CR3T-bearer', 'webhook-signature': 'v1,S3CR3T-sig', 'content-type': 'application/json' },
      scalekit: { environmentUrl: 'https://acme.scalekit.dev', clientId: 'skc_1', clientSecret: 'S3CR3T-client' },
    });
    expect(lines[0]).not.toContain('S3CR3T');
    expect(lines[0]).toContain('application/json');
    expect(lines[0]).toContain('skc_1');
  });

  it('redacts secret fields given as base fields of a child logger', () => {
    const { logger, records } = capture();
    const child = logger.child({ organizationId: 'org_1', token: 'S3CR3T' });
    child.info('hello', { step: 2 });
    expect(records()[0]).toMatchObject({ organizationId: 'org_1', token: '[redacted]', step: 2, msg: 'hello' });
  });

  it('serializes an Error as name and message (no stack, which could carry anything)', () => {
    const { logger, records } = capture();
    const err = new TypeError('connection refused');
    logger.error('failed', { error: err });
    expect(records()[0]?.error).toEqual({ name: 'TypeError', message: 'connection refused' });
  });

  it.each<[LogLevel, string[]]>([
    ['debug', ['debug', 'info', 'warn', 'error']],
    ['info', ['info', 'warn', 'error']],
    ['warn', ['warn', 'error']],
    ['error', ['error']],
  ])('at level %s writes only that level and above', (level, expected) => {
    const { logger, records } = capture(level);
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((r) => r.level)).toEqual(expected);
  });

  it('defaults to info', () => {
    const { logger, records } = capture();
    logger.debug('hidden');
    logger.info('shown');
    expect(records().map((r) => r.msg)).toEqual(['shown']);
  });

  it('a child keeps the parent level and merges base fields (child fields win)', () => {
    const { logger, records } = capture('warn', { service: 'api', organizationId: 'org_0' });
    const child = logger.child({ organizationId: 'org_1' });
    child.info('hidden');
    child.warn('shown', { extra: true });
    expect(records()).toHaveLength(1);
    expect(records()[0]).toMatchObject({ service: 'api', organizationId: 'org_1', extra: true, msg: 'shown' });
  });

  it('call fields override base fields', () => {
    const { logger, records } = capture('info', { component: 'base' });
    logger.info('real message', { component: 'call' });
    expect(records()[0]).toMatchObject({ component: 'call', msg: 'real message', level: 'info' });
  });

  it('memoryLogger keeps every level, redacted', () => {
    const log = memoryLogger();
    log.debug('d', { password: 'p4ss' });
    log.error('e');
    expect(log.lines).toHaveLength(2);
    expect(log.lines[0]).not.toContain('p4ss');
    expect(JSON.parse(log.lines[1] ?? '{}')).toMatchObject({ level: 'error', msg: 'e' });
  });
});

describe('metrics (Prometheus text format, prom-client)', () => {
  function section(text: string, name: string): string[] {
    return text.split('\n').filter((l) => l.startsWith(`${name}`) || l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `));
  }

  it('lists each scimflow family with HELP and TYPE even before any observation, and ends with a newline', async () => {
    const text = await new Metrics().render();
    expect(text.endsWith('\n')).toBe(true);
    expect(text).toContain('# TYPE scimflow_webhook_deliveries_total counter');
    expect(text).toContain('# TYPE scimflow_webhook_duration_seconds histogram');
    expect(text).toContain('# TYPE scimflow_http_requests_total counter');
    expect(text).toMatch(/^# HELP scimflow_webhook_deliveries_total \S.*$/m);
    // No scimflow samples yet.
    expect(text.split('\n').filter((l) => l.startsWith('scimflow_'))).toEqual([]);
  });

  it("includes the process's default metrics", async () => {
    const text = await new Metrics().render();
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('counts per label set, with the labels as the webhook route and the tests read them', async () => {
    const m = new Metrics();
    m.webhookDeliveries.inc({ result: 'accepted', status: '202' });
    m.webhookDeliveries.inc({ status: '202', result: 'accepted' }); // same series, other key order
    m.webhookDeliveries.inc({ result: 'rejected', status: '400' }, 3);
    expect(section(await m.render(), 'scimflow_webhook_deliveries_total')).toEqual([
      expect.stringMatching(/^# HELP scimflow_webhook_deliveries_total /),
      '# TYPE scimflow_webhook_deliveries_total counter',
      'scimflow_webhook_deliveries_total{result="accepted",status="202"} 2',
      'scimflow_webhook_deliveries_total{result="rejected",status="400"} 3',
    ]);
  });

  it('renders histograms with cumulative buckets (le is "less or equal"), +Inf, sum and count', async () => {
    const m = new Metrics();
    for (const v of [0.003, 0.02, 0.1, 0.7, 9]) m.webhookSeconds.observe({ result: 'accepted' }, v);
    const lines = section(await m.render(), 'scimflow_webhook_duration_seconds');
    expect(lines).toEqual([
      expect.stringMatching(/^# HELP scimflow_webhook_duration_seconds /),
      '# TYPE scimflow_webhook_duration_seconds histogram',
      'scimflow_webhook_duration_seconds_bucket{le="0.005",result="accepted"} 1',
      'scimflow_webhook_duration_seconds_bucket{le="0.01",result="accepted"} 1',
      'scimflow_webhook_duration_seconds_bucket{le="0.025",result="accepted"} 2',
      'scimflow_webhook_duration_seconds_bucket{le="0.05",result="accepted"} 2',
      'scimflow_webhook_duration_seconds_bucket{le="0.1",result="accepted"} 3',
      'scimflow_webhook_duration_seconds_bucket{le="0.25",result="accepted"} 3',
      'scimflow_webhook_duration_seconds_bucket{le="0.5",result="accepted"} 3',
      'scimflow_webhook_duration_seconds_bucket{le="1",result="accepted"} 4',
      'scimflow_webhook_duration_seconds_bucket{le="2.5",result="accepted"} 4',
      'scimflow_webhook_duration_seconds_bucket{le="5",result="accepted"} 4',
      'scimflow_webhook_duration_seconds_bucket{le="+Inf",result="accepted"} 5',
      'scimflow_webhook_duration_seconds_sum{result="accepted"} 9.823',
      'scimflow_webhook_duration_seconds_count{result="accepted"} 5',
    ]);
  });

  it('escapes quotes, backslashes and newlines in label values', async () => {
    const m = new Metrics();
    m.httpRequests.inc({ route: 'a"b\\c\nd', status: '200' });
    expect(section(await m.render(), 'scimflow_http_requests_total').at(-1)).toBe(
      'scimflow_http_requests_total{route="a\\"b\\\\c\\nd",status="200"} 1',
    );
  });

  it('renders the values read at scrape time, leaves an unknown one without a sample, and types a total as a counter', async () => {
    const m = new Metrics();
    const read = (held: number | null) => [
      { name: 'scimflow_held_users', help: 'Held.', value: held },
      { name: 'scimflow_change_records_written_total', help: 'Written.', value: 7, type: 'counter' as const },
    ];
    let text = await m.render(read(3));
    expect(text).toContain('# TYPE scimflow_held_users gauge\nscimflow_held_users 3\n');
    expect(text).toContain('# TYPE scimflow_change_records_written_total counter\nscimflow_change_records_written_total 7\n');
    text = await m.render(read(null));
    expect(text).toContain('# TYPE scimflow_held_users gauge\n');
    expect(text).not.toMatch(/^scimflow_held_users /m);
    // A total read again is the value read, not added to the last one.
    expect(text).toContain('scimflow_change_records_written_total 7\n');
  });

  it('every sample line is well formed', async () => {
    const m = new Metrics();
    m.webhookDeliveries.inc({ status: '202', result: 'accepted' });
    m.webhookSeconds.observe({ result: 'accepted' }, 0.2);
    m.httpRequests.inc({ route: '/healthz', status: '200' });
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? -?[0-9.e+-]+$/;
    const lines = (await m.render())
      .trimEnd()
      .split('\n')
      .filter((l) => l.startsWith('scimflow_'));
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(sample);
  });
});

describe('the route label of /metrics', () => {
  it('is the route pattern, or the prefix of the router whose middleware answered', async () => {
    const { routeLabel } = await import('../../api/app');
    expect(routeLabel('/api/organizations/:orgId/users')).toBe('/api/organizations/:orgId/users');
    expect(routeLabel('/api(?:_/|$)')).toBe('/api');
    expect(routeLabel(undefined)).toBe('unmatched');
  });
});
