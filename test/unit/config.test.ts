import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_DATABASE_URL, parseConfig } from '../../config/index';

const SECRET_A = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SECRET_B = 'whsec_C2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ==';

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected parseConfig to throw a ConfigError');
}

// Two 32-byte keys in base64 (test values, not secrets of any deployment).
const KEY_B64 = Buffer.alloc(32, 7).toString('base64');
const KEY_B64_OLD = Buffer.alloc(32, 9).toString('base64');

describe('parseConfig defaults', () => {
  it('an empty environment gives the documented defaults', () => {
    expect(parseConfig({})).toEqual({
      scalekit: undefined,
      webhookSecrets: [],
      databaseUrl: DEFAULT_DATABASE_URL,
      databaseUrlIsDefault: true,
      temporal: { address: undefined, namespace: 'default', taskQueue: 'scimflow' },
      delivery: { appTaskQueue: undefined, batch: 500, maxAttempts: 10 },
      worker: { activitySlots: 20, scalekitSlots: 10, reconcileSlots: 4 },
      workerMetrics: { host: '0.0.0.0', port: 9464, temporalPort: 9465 },
      port: 3000,
      publicBaseUrl: undefined,
      trustProxy: false,
      settingsFrameAncestors: [],
      payloadKeys: [],
      payloadCompression: 'zlib',
      codecListen: undefined,
      codecOrigins: [],
      operatorApiToken: undefined,
      logLevel: 'info',
      tracing: undefined,
      reconcile: { fullInterval: '6h', deltaInterval: '1h', guardShare: 0.2, guardMinimum: 10 },
      retention: {
        eventPayloadSeconds: 30 * 86_400,
        eventLedgerSeconds: 180 * 86_400,
        syncRunSeconds: 90 * 86_400,
        deactivatedUserSeconds: 0,
        changeRecordSeconds: 30 * 86_400,
        interval: '1h',
      },
      dev: {
        dataDir: '.data',
        temporalCli: undefined,
        temporalPort: 7233,
        temporalUiPort: 8233,
        emulatorPort: 8280,
        exitWithParent: false,
      },
    });
    expect(DEFAULT_DATABASE_URL).toMatch(/^postgres:\/\//);
  });

  it('treats empty and blank values of optional variables as unset', () => {
    const config = parseConfig({
      SCALEKIT_ENVIRONMENT_URL: '',
      SCALEKIT_CLIENT_ID: '  ',
      SCALEKIT_CLIENT_SECRET: '',
      DATABASE_URL: '',
      TEMPORAL_ADDRESS: ' ',
      OPERATOR_API_TOKEN: '',
      SCALEKIT_WEBHOOK_SECRET: '',
    });
    expect(config.scalekit).toBeUndefined();
    expect(config.databaseUrl).toBe(DEFAULT_DATABASE_URL);
    expect(config.databaseUrlIsDefault).toBe(true);
    expect(config.temporal.address).toBeUndefined();
    expect(config.operatorApiToken).toBeUndefined();
    expect(config.webhookSecrets).toEqual([]);
  });

  it('reads every variable when set', () => {
    const config = parseConfig({
      SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev//',
      SCALEKIT_CLIENT_ID: 'skc_123',
      SCALEKIT_CLIENT_SECRET: 'test_abc',
      SCALEKIT_WEBHOOK_SECRET: SECRET_A,
      DATABASE_URL: 'postgresql://u:p@db:5432/x',
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: 'prod',
      TEMPORAL_TASK_QUEUE: 'scim',
      PORT: '8080',
      PUBLIC_BASE_URL: 'https://scim.example.com/',
      TRUST_PROXY: 'true',
      SETTINGS_FRAME_ANCESTORS: "https://App.example.com/, 'self'",
      PAYLOAD_ENCRYPTION_KEYS: `2026-07:${KEY_B64}, 2026-01:${KEY_B64_OLD}`,
      PAYLOAD_COMPRESSION: 'off',
      CODEC_ALLOWED_ORIGINS: 'https://Temporal-UI.example.com:443/, http://127.0.0.1:8233',
      CODEC_LISTEN: '10.0.0.5:8234',
      OPERATOR_API_TOKEN: '0123456789abcdef',
      APP_READ_TOKEN: 'app-0123456789abcdef',
      LOG_LEVEL: 'debug',
      SCIMFLOW_DATA_DIR: '/var/lib/scimflow',
      TEMPORAL_CLI: '/usr/bin/temporal',
      TEMPORAL_DEV_PORT: '17233',
      TEMPORAL_UI_PORT: '18233',
      EMULATOR_PORT: '18280',
      SCIMFLOW_EXIT_WITH_PARENT: '1',
      RECONCILE_FULL_INTERVAL: '12h',
      RECONCILE_DELTA_INTERVAL: '15m',
      DEPROVISION_GUARD_SHARE: '0.5',
      DEPROVISION_GUARD_MIN: '3',
      RETENTION_EVENT_PAYLOADS: '7d',
      RETENTION_EVENT_LEDGER: '365d',
      RETENTION_SYNC_RUNS: '30d',
      RETENTION_DEACTIVATED_USERS: '90d',
      RETENTION_CHANGE_RECORDS: '7d',
      RETENTION_INTERVAL: '6h',
      WORKER_ACTIVITY_SLOTS: '40',
      APP_TASK_QUEUE: 'acme-app',
      APP_DELIVERY_BATCH: '200',
      APP_DELIVERY_ATTEMPTS: '4',
      WORKER_SCALEKIT_SLOTS: '0',
      WORKER_RECONCILE_SLOTS: '2',
      WORKER_METRICS_HOST: '10.0.0.5',
      API_HOST: '127.0.0.1',
      WORKER_METRICS_PORT: '19464',
      WORKER_TEMPORAL_METRICS_PORT: '19465',
    });
    expect(config).toEqual({
      // Trailing slashes dropped so paths can be appended.
      scalekit: { environmentUrl: 'https://acme.scalekit.dev', clientId: 'skc_123', clientSecret: 'test_abc' },
      webhookSecrets: [SECRET_A],
      databaseUrl: 'postgresql://u:p@db:5432/x',
      databaseUrlIsDefault: false,
      temporal: { address: 'temporal:7233', namespace: 'prod', taskQueue: 'scim' },
      delivery: { appTaskQueue: 'acme-app', batch: 200, maxAttempts: 4 },
      worker: { activitySlots: 40, scalekitSlots: 0, reconcileSlots: 2 },
      workerMetrics: { host: '10.0.0.5', port: 19464, temporalPort: 19465 },
      port: 8080,
      apiHost: '127.0.0.1',
      publicBaseUrl: 'https://scim.example.com',
      trustProxy: true,
      settingsFrameAncestors: ['https://app.example.com', "'self'"],
      payloadCompression: 'off',
      payloadKeys: [
        { id: '2026-07', key: Buffer.from(KEY_B64, 'base64') },
        { id: '2026-01', key: Buffer.from(KEY_B64_OLD, 'base64') },
      ],
      codecListen: { host: '10.0.0.5', port: 8234 },
      // As browsers send them: lower-case host, no default port.
      codecOrigins: ['https://temporal-ui.example.com', 'http://127.0.0.1:8233'],
      operatorApiToken: '0123456789abcdef',
      appReadToken: 'app-0123456789abcdef',
      logLevel: 'debug',
      reconcile: { fullInterval: '12h', deltaInterval: '15m', guardShare: 0.5, guardMinimum: 3 },
      retention: {
        eventPayloadSeconds: 7 * 86_400,
        eventLedgerSeconds: 365 * 86_400,
        syncRunSeconds: 30 * 86_400,
        deactivatedUserSeconds: 90 * 86_400,
        changeRecordSeconds: 7 * 86_400,
        interval: '6h',
      },
      dev: {
        dataDir: '/var/lib/scimflow',
        temporalCli: '/usr/bin/temporal',
        temporalPort: 17233,
        temporalUiPort: 18233,
        emulatorPort: 18280,
        exitWithParent: true,
      },
    });
  });

  it('splits comma-separated webhook secrets, trimming and skipping empty entries', () => {
    const config = parseConfig({ SCALEKIT_WEBHOOK_SECRET: ` ${SECRET_A} ,, ${SECRET_B},` });
    expect(config.webhookSecrets).toEqual([SECRET_A, SECRET_B]);
  });

  it('TRUST_PROXY accepts 1/true/0/false only, and is off unless set', () => {
    expect(parseConfig({}).trustProxy).toBe(false);
    expect(parseConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(true);
    expect(parseConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(configError({ TRUST_PROXY: 'yes' }).message).toMatch(/TRUST_PROXY: expected true or false/);
  });

  it('SETTINGS_FRAME_ANCESTORS takes origins as browsers send them, or self', () => {
    expect(
      parseConfig({ SETTINGS_FRAME_ANCESTORS: 'https://Admin.Example.com:443, http://localhost:5173/, self' }).settingsFrameAncestors,
    ).toEqual(['https://admin.example.com', 'http://localhost:5173', "'self'"]);
    // Anything else could widen the policy (a wildcard, a scheme, a second directive).
    for (const bad of [
      '*',
      'https:',
      'https://*.example.com',
      "https://a.example.com; script-src 'unsafe-inline'",
      'https://a.example.com https://b.example.com',
      "'none'",
    ]) {
      expect(configError({ SETTINGS_FRAME_ANCESTORS: bad }).message, bad).toMatch(
        /SETTINGS_FRAME_ANCESTORS(\.\d+)?: expected origins such as https:\/\/app\.example\.com/,
      );
    }
  });

  it('refuses a webhook secret shorter than the 24 bytes Standard Webhooks asks for, without repeating it', () => {
    const short = `whsec_${Buffer.from('0123456789abcdefghijklm').toString('base64')}`; // 23 bytes
    const err = configError({ SCALEKIT_WEBHOOK_SECRET: `${SECRET_A},${short}` });
    expect(err.problems).toEqual([
      expect.stringMatching(/^SCALEKIT_WEBHOOK_SECRET(\.\d+)?: expected secrets of at least 24 bytes after base64 decoding/),
    ]);
    expect(err.message).not.toContain(short.slice(6));
    expect(configError({ SCALEKIT_WEBHOOK_SECRET: 'whsec_AA==' }).message).toMatch(/at least 24 bytes/);
    const exactly = `whsec_${Buffer.alloc(24, 1).toString('base64')}`;
    expect(parseConfig({ SCALEKIT_WEBHOOK_SECRET: exactly }).webhookSecrets).toEqual([exactly]);
  });

  it('APP_WEBHOOK_URL and APP_WEBHOOK_SECRET: both or neither, a secret of 24 bytes or more, its own', () => {
    const secret = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
    expect(parseConfig({ APP_WEBHOOK_URL: 'https://app.example.com/scimflow/changes', APP_WEBHOOK_SECRET: secret }).push).toEqual({
      url: 'https://app.example.com/scimflow/changes',
      secret,
    });
    expect(parseConfig({}).push).toBeUndefined();
    expect(configError({ APP_WEBHOOK_URL: 'https://app.example.com/x' }).problems).toEqual([
      expect.stringMatching(/^APP_WEBHOOK_SECRET: expected to be set together/),
    ]);
    expect(configError({ APP_WEBHOOK_SECRET: secret }).problems).toEqual([
      expect.stringMatching(/^APP_WEBHOOK_URL: expected to be set together/),
    ]);
    const short = `whsec_${Buffer.alloc(23, 1).toString('base64')}`;
    const err = configError({ APP_WEBHOOK_URL: 'https://app.example.com/x', APP_WEBHOOK_SECRET: short });
    expect(err.message).toMatch(/APP_WEBHOOK_SECRET: expected a secret of at least 24 bytes/);
    expect(err.message).not.toContain(short.slice(6));
    expect(configError({ APP_WEBHOOK_URL: 'ftp://app.example.com/x', APP_WEBHOOK_SECRET: secret }).message).toMatch(/APP_WEBHOOK_URL/);
    expect(configError({ APP_WEBHOOK_URL: 'https://a.example.com/x', APP_WEBHOOK_SECRET: 'not-a-secret' }).message).toMatch(
      /APP_WEBHOOK_SECRET: expected a secret of the form whsec_/,
    );
    expect(
      configError({ APP_WEBHOOK_URL: 'https://a.example.com/x', APP_WEBHOOK_SECRET: secret, SCALEKIT_WEBHOOK_SECRET: secret }).message,
    ).toMatch(/APP_WEBHOOK_SECRET: expected a secret of its own/);
  });

  it('SCIMFLOW_EXIT_WITH_PARENT accepts 1/true/0/false only', () => {
    expect(parseConfig({ SCIMFLOW_EXIT_WITH_PARENT: 'true' }).dev.exitWithParent).toBe(true);
    expect(parseConfig({ SCIMFLOW_EXIT_WITH_PARENT: '0' }).dev.exitWithParent).toBe(false);
    expect(parseConfig({ SCIMFLOW_EXIT_WITH_PARENT: 'false' }).dev.exitWithParent).toBe(false);
    expect(configError({ SCIMFLOW_EXIT_WITH_PARENT: 'yes' }).message).toMatch(/SCIMFLOW_EXIT_WITH_PARENT/);
  });

  it('worker slots: the main queue needs at least one, the Scalekit queue may have none here', () => {
    expect(configError({ WORKER_ACTIVITY_SLOTS: '0' }).message).toMatch(
      /WORKER_ACTIVITY_SLOTS: expected a whole number of activities from 1 to 1000/,
    );
    expect(configError({ WORKER_SCALEKIT_SLOTS: 'ten' }).message).toMatch(
      /WORKER_SCALEKIT_SLOTS: expected a whole number of activities from 0 to 1000/,
    );
    expect(configError({ WORKER_SCALEKIT_SLOTS: '1001' }).message).toMatch(/WORKER_SCALEKIT_SLOTS/);
    expect(parseConfig({ WORKER_SCALEKIT_SLOTS: '3' }).worker.scalekitSlots).toBe(3);
    expect(configError({ WORKER_RECONCILE_SLOTS: '-1' }).message).toMatch(
      /WORKER_RECONCILE_SLOTS: expected a whole number of activities from 0 to 1000/,
    );
    expect(parseConfig({ WORKER_RECONCILE_SLOTS: '0' }).worker.reconcileSlots).toBe(0);
  });

  it('tracing is off unless an OTLP endpoint is set; the traces endpoint wins over the base one', () => {
    expect(parseConfig({ OTEL_SERVICE_NAME: 'scimflow-eu' }).tracing).toBeUndefined();
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }).tracing).toBeUndefined();
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      tracesUrl: 'http://collector:4318/v1/traces',
      serviceName: undefined,
    });
    expect(
      parseConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example.com/otlp/v1/traces',
        OTEL_SERVICE_NAME: 'scimflow-eu',
      }).tracing,
    ).toEqual({ tracesUrl: 'https://traces.example.com/otlp/v1/traces', serviceName: 'scimflow-eu' });
  });

  it('ignores variables it does not know', () => {
    expect(parseConfig({ HOME: '/root', PATH: '/bin' }).port).toBe(3000);
  });
});

describe('parseConfig errors', () => {
  it('is a ConfigError that lists every problem and says where to fix it', () => {
    const err = configError({ PORT: 'eighty', LOG_LEVEL: 'loud' });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigError');
    expect(err.problems).toHaveLength(2);
    expect(err.message).toMatch(/PORT/);
    expect(err.message).toMatch(/LOG_LEVEL/);
    expect(err.message).toMatch(/\.env/);
  });

  it.each([
    ['SCALEKIT_ENVIRONMENT_URL', 'not a url', /SCALEKIT_ENVIRONMENT_URL: expected a URL/],
    ['DATABASE_URL', 'mysql://localhost/db', /DATABASE_URL: expected a postgres:\/\/ connection URL/],
    ['TEMPORAL_ADDRESS', 'http://localhost:7233', /TEMPORAL_ADDRESS: expected host:port/],
    ['TEMPORAL_ADDRESS', 'localhost', /TEMPORAL_ADDRESS: expected host:port/],
    ['PORT', 'abc', /PORT: expected a port between 1 and 65535/],
    ['PORT', '0', /PORT: expected a port between 1 and 65535/],
    ['PORT', '65536', /PORT: expected a port between 1 and 65535/],
    ['PORT', '80.5', /PORT: expected a port between 1 and 65535/],
    ['EMULATOR_PORT', '-1', /EMULATOR_PORT: expected a port between 1 and 65535/],
    ['TEMPORAL_DEV_PORT', 'x', /TEMPORAL_DEV_PORT: expected a port between 1 and 65535/],
    ['RECONCILE_FULL_INTERVAL', 'often', /RECONCILE_FULL_INTERVAL: expected a duration such as 6h/],
    ['RECONCILE_DELTA_INTERVAL', '-1h', /RECONCILE_DELTA_INTERVAL: expected a duration/],
    ['DEPROVISION_GUARD_SHARE', '1.5', /DEPROVISION_GUARD_SHARE: expected a share between 0 and 1/],
    ['DEPROVISION_GUARD_MIN', '2.5', /DEPROVISION_GUARD_MIN: expected a whole number of users/],
    ['SCALEKIT_WEBHOOK_SECRET', 'not-a-secret', /SCALEKIT_WEBHOOK_SECRET(\.\d+)?: expected one or more secrets of the form whsec_<base64>/],
    ['SCALEKIT_WEBHOOK_SECRET', 'whsec_', /SCALEKIT_WEBHOOK_SECRET(\.\d+)?: expected one or more secrets of the form whsec_<base64>/],
    ['SCALEKIT_WEBHOOK_SECRET', 'whsec_abc def', /SCALEKIT_WEBHOOK_SECRET(\.\d+)?: expected one or more secrets/],
    ['OPERATOR_API_TOKEN', 'short', /OPERATOR_API_TOKEN: expected at least 16 characters/],
    ['APP_READ_TOKEN', 'short', /APP_READ_TOKEN: expected at least 16 characters/],
    [
      'PAYLOAD_ENCRYPTION_KEYS',
      'just-a-key',
      /PAYLOAD_ENCRYPTION_KEYS(\.\d+)?: expected keys of the form <key id>:<32 random bytes in base64>/,
    ],
    ['PAYLOAD_ENCRYPTION_KEYS', 'k1:c2hvcnQ=', /PAYLOAD_ENCRYPTION_KEYS(\.\d+)?: expected keys of the form/],
    ['PUBLIC_BASE_URL', 'scim.example.com', /PUBLIC_BASE_URL: expected the URL people reach the API at/],
    [
      'PUBLIC_BASE_URL',
      'https://scim.example.com/app?x=1',
      /PUBLIC_BASE_URL: expected the URL people reach the API at, scheme and host only/,
    ],
    [
      'PUBLIC_BASE_URL',
      'https://user:pw@scim.example.com',
      /PUBLIC_BASE_URL: expected the URL people reach the API at, scheme and host only/,
    ],
    ['LOG_LEVEL', 'verbose', /LOG_LEVEL: .*debug.*info.*warn.*error/],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318', /OTEL_EXPORTER_OTLP_ENDPOINT: expected the base URL of an OTLP\/HTTP collector/],
    [
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'grpc://collector:4317',
      /OTEL_EXPORTER_OTLP_ENDPOINT: expected the base URL of an OTLP\/HTTP collector.*an http:\/\/ or https:\/\/ URL/,
    ],
    [
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      'not a url',
      /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected the traces URL of an OTLP\/HTTP collector/,
    ],
  ])('%s=%j names the variable and what it expects', (name, value, pattern) => {
    // The Scalekit credentials go together; give the other two so only `name` is wrong.
    const creds = { SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev', SCALEKIT_CLIENT_ID: 'skc_1', SCALEKIT_CLIENT_SECRET: 'test_1' };
    const err = configError({ ...creds, [name]: value });
    expect(err.message).toMatch(pattern);
    expect(err.problems).toHaveLength(1);
  });

  it('one bad secret among good ones is still an error', () => {
    const err = configError({ SCALEKIT_WEBHOOK_SECRET: `${SECRET_A},oops` });
    expect(err.message).toMatch(/SCALEKIT_WEBHOOK_SECRET/);
  });

  it('partial Scalekit credentials name exactly the missing ones', () => {
    const onlyUrl = configError({ SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev' });
    expect(onlyUrl.problems).toHaveLength(2);
    expect(onlyUrl.message).toMatch(/SCALEKIT_CLIENT_ID: expected to be set together/);
    expect(onlyUrl.message).toMatch(/SCALEKIT_CLIENT_SECRET: expected to be set together/);
    expect(onlyUrl.problems.some((p) => p.startsWith('SCALEKIT_ENVIRONMENT_URL'))).toBe(false);

    const noSecret = configError({ SCALEKIT_ENVIRONMENT_URL: 'https://acme.scalekit.dev', SCALEKIT_CLIENT_ID: 'skc_1' });
    expect(noSecret.problems).toEqual([expect.stringMatching(/^SCALEKIT_CLIENT_SECRET: .*all three or none/)]);

    const noUrl = configError({ SCALEKIT_CLIENT_ID: 'skc_1', SCALEKIT_CLIENT_SECRET: 'test_1' });
    expect(noUrl.problems).toEqual([expect.stringMatching(/^SCALEKIT_ENVIRONMENT_URL: /)]);
  });

  it("the application's read token is a token of its own", () => {
    expect(configError({ OPERATOR_API_TOKEN: '0123456789abcdef', APP_READ_TOKEN: '0123456789abcdef' }).message).toMatch(
      /APP_READ_TOKEN: expected a token of its own, not OPERATOR_API_TOKEN/,
    );
  });

  it('keys go together with their rules: each id once, codec origins only with keys', () => {
    expect(configError({ PAYLOAD_ENCRYPTION_KEYS: `a:${KEY_B64},a:${KEY_B64_OLD}` }).message).toMatch(
      /PAYLOAD_ENCRYPTION_KEYS: expected each key id once/,
    );
    expect(parseConfig({ PAYLOAD_ENCRYPTION_KEYS: `none,k1:${KEY_B64}` }).payloadKeys.map((k) => k.id)).toEqual(['none', 'k1']);
    expect(configError({ PAYLOAD_ENCRYPTION_KEYS: `k1:${KEY_B64},none` }).message).toMatch(/"none" \(decrypt only\) goes first/);
    // Compressed payloads (the default, and what was written before it was turned off) are what the UI decodes through it, keys or not.
    expect(parseConfig({ CODEC_LISTEN: '127.0.0.1:8234' }).codecListen).toEqual({ host: '127.0.0.1', port: 8234 });
    expect(configError({ PAYLOAD_COMPRESSION: 'gzip' }).message).toMatch(
      /PAYLOAD_COMPRESSION: expected zlib \(compress payloads, the default\) or off/,
    );
    expect(configError({ PAYLOAD_ENCRYPTION_KEYS: `k1:${KEY_B64}`, CODEC_ALLOWED_ORIGINS: 'http://127.0.0.1:8233' }).message).toMatch(
      /CODEC_ALLOWED_ORIGINS: expected only with CODEC_LISTEN/,
    );
    expect(configError({ PAYLOAD_ENCRYPTION_KEYS: `k1:${KEY_B64}`, CODEC_LISTEN: '8234' }).message).toMatch(
      /CODEC_LISTEN: expected host:port/,
    );
    const origin = configError({
      PAYLOAD_ENCRYPTION_KEYS: `k1:${KEY_B64}`,
      CODEC_LISTEN: '127.0.0.1:8234',
      CODEC_ALLOWED_ORIGINS: 'temporal-ui.example.com',
    });
    expect(origin.problems).toEqual([
      expect.stringMatching(/^CODEC_ALLOWED_ORIGINS(\.\d+)?: expected origins such as https:\/\/temporal-ui\.example\.com/),
    ]);
    // A malformed key is never echoed back.
    const bad = `k1:${KEY_B64.slice(0, 30)}`;
    expect(configError({ PAYLOAD_ENCRYPTION_KEYS: bad }).message).not.toContain(KEY_B64.slice(0, 30));
  });

  it('never repeats a secret value it was given', () => {
    const clientSecret = 'test_live_Zx9QmR7vK2pLw4Nj';
    const badWebhookSecret = 'hunter2-webhook-secret-value';
    const shortToken = 'tok_Ab3dEf9';
    const err = configError({
      SCALEKIT_CLIENT_ID: 'skc_1',
      SCALEKIT_CLIENT_SECRET: clientSecret, // URL missing: credentials incomplete
      SCALEKIT_WEBHOOK_SECRET: `${SECRET_A},${badWebhookSecret}`,
      OPERATOR_API_TOKEN: shortToken,
      DATABASE_URL: 'mysql://admin:db-password-123@db/x',
    });
    expect(err.problems.length).toBeGreaterThanOrEqual(4);
    for (const value of [clientSecret, badWebhookSecret, shortToken, SECRET_A, 'db-password-123', SECRET_A.slice(6)]) {
      expect(err.message).not.toContain(value);
      expect(err.problems.join('\n')).not.toContain(value);
    }
  });
});
