#!/usr/bin/env node
// Project bootstrap, shared by `npm run dev` and `npm test`. Plain JavaScript with no
// dependencies, because it is what installs them. Idempotent and quick when nothing is to do:
//   1. npm dependencies, when node_modules is missing or older than package-lock.json;
//   2. the pinned Temporal CLI into .tools/ (unless TEMPORAL_CLI or a `temporal` on PATH);
//   3. unless --test: the database (created if missing) and its migrations.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const say = (line) => process.stdout.write(`[bootstrap] ${line}\n`);
const fail = (line) => {
  process.stderr.write(`[bootstrap] ${line}\n`);
  process.exit(1);
};

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 12)) {
  fail(`Node.js ${process.versions.node} is too old: scimflow needs Node.js 20.12 or newer (https://nodejs.org).`);
}

// 1. Dependencies: reinstall when the lockfile changed since the last install.
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.scimflow-lock-hash');
const lockHash = createHash('sha256').update(readFileSync(lock)).digest('hex');
const installed = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
if (installed !== lockHash) {
  say(
    existsSync(join(root, 'node_modules'))
      ? 'package-lock.json changed: reinstalling dependencies (npm ci) …'
      : 'installing dependencies (npm ci) …',
  );
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  if (npm.status !== 0)
    fail('npm ci failed (see above). Check your network access to the npm registry, then run `npm run bootstrap` again.');
  writeFileSync(stamp, `${lockHash}\n`);
}

// 2 and 3 need the project's TypeScript code: hand over to it.
const setupArgs = ['scripts/setup.ts', ...args];
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const setup = spawnSync(tsx, setupArgs, { cwd: root, stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);
