import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findChromium } from '../../scripts/lib/chromium';

/** Which Chromium the browser tests drive: CHROMIUM_PATH first, then the usual names on PATH. */

const dir = mkdtempSync(join(tmpdir(), 'scimflow-chromium-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, mode);
  return path;
}

describe('findChromium', () => {
  it('takes CHROMIUM_PATH when it is executable, and says so when it is not', () => {
    const chrome = file('my-chrome', 0o755);
    expect(findChromium({ CHROMIUM_PATH: chrome, PATH: '' })).toEqual({ path: chrome });
    const plain = file('not-executable', 0o644);
    expect(findChromium({ CHROMIUM_PATH: plain, PATH: dir })).toEqual({ problem: `CHROMIUM_PATH=${plain} is not an executable file.` });
  });

  it('looks for chromium, then chromium-browser and google-chrome, on PATH', () => {
    const browser = file('chromium-browser', 0o755);
    expect(findChromium({ PATH: `/nonexistent:${dir}` })).toEqual({ path: browser });
    const chromium = file('chromium', 0o755);
    expect(findChromium({ PATH: dir })).toEqual({ path: chromium });
    expect(findChromium({ PATH: '/nonexistent' })).toEqual({
      problem: 'No Chromium on PATH (looked for chromium, chromium-browser, google-chrome-stable, google-chrome).',
    });
  });
});
