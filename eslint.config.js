import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'assert',
  'buffer',
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'readline',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'v8',
  'vm',
  'worker_threads',
  'zlib',
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.data/**', 'coverage/**', 'dist/**', '.build-test-*/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A `${…}` in quotes prints as it is: a hint meant to say what to run would print the placeholder.
      'no-template-curly-in-string': 'error',
    },
  },
  {
    // Compose's own `${VAR}` interpolation, written as the file holds it.
    files: ['test/unit/compose.test.ts'],
    rules: { 'no-template-curly-in-string': 'off' },
  },
  {
    // The directory mirror has one writer: its statements (db/mirror/*) are reached only through
    // db/mirror/writer.ts, which takes the organization's lock. (Workflow and domain code, below,
    // import no database code at all.)
    files: ['**/*.ts'],
    ignores: ['db/mirror/**', 'test/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)mirror/(?!writer$)[^/]+$',
              message: 'Write the directory mirror through its writer (db/mirror/writer.ts): withMirrorWriter.',
            },
          ],
        },
      ],
    },
  },
  {
    // Workflow code is deterministic and sandboxed: no Node built-ins, no process, no clients.
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.flatMap((m) => [
              { name: m, message: 'Node built-ins are not allowed in workflow or domain code.' },
              { name: `node:${m}`, message: 'Node built-ins are not allowed in workflow or domain code.' },
            ]),
            { name: '@temporalio/activity', message: 'Activities run in the worker, not in workflows.' },
            { name: '@temporalio/client', message: 'Use message definitions, not the client, in workflows.' },
            { name: '@temporalio/worker', message: 'Not allowed in workflow code.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'process is not available in workflows.' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
