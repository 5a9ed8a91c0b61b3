import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { startStack, type Stack } from '../support/stack';

/**
 * deploy/prometheus/alerts.yml: every alert names metrics scimflow exports (the API's /metrics
 * here; `temporal_…` ones come from the worker's Temporal runtime), has a severity and a summary,
 * and links to a section of docs/runbook.md that exists. With promtool installed (Debian: the
 * `prometheus` package; CI installs it), the rules are checked and their unit tests run too.
 */

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const DIR = join(PROJECT_ROOT, 'deploy', 'prometheus');
const rules = (parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/** GitHub's anchor of a Markdown heading. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
const runbookAnchors = new Set(
  readFileSync(join(PROJECT_ROOT, 'docs', 'runbook.md'), 'utf8')
    .split('\n')
    .filter((l) => /^#{1,4} /.test(l))
    .map((l) => anchor(l.replace(/^#+ /, ''))),
);

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

describe('alert rules', () => {
  it('each has a severity, a summary and a runbook section that exists', () => {
    expect(rules.length).toBeGreaterThanOrEqual(8);
    const problems: string[] = [];
    for (const r of rules) {
      if (!['critical', 'warning', 'info'].includes(r.labels?.severity ?? '')) problems.push(`${r.alert}: no severity`);
      if (!r.annotations?.summary) problems.push(`${r.alert}: no summary`);
      const url = r.annotations?.runbook_url ?? '';
      const m = /^docs\/runbook\.md#(.+)$/.exec(url);
      if (!m || !runbookAnchors.has(m[1]!)) problems.push(`${r.alert}: runbook_url ${url} is not a section of docs/runbook.md`);
    }
    expect(problems).toEqual([]);
  });

  it("name only metrics the API exports (or the worker's Temporal runtime)", async () => {
    const exported = new Set([...(await (await fetch(`${stack.baseUrl}/metrics`)).text()).matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]!));
    expect(exported.has('scimflow_state_up')).toBe(true);
    const named = rules.flatMap((r) => [...r.expr.matchAll(/\b((?:scimflow|temporal)_[a-z0-9_]+)/g)].map((m) => [r.alert, m[1]!] as const));
    expect(named.length).toBeGreaterThan(rules.length - 1);
    const unknown = named.filter(([, name]) => name.startsWith('scimflow_') && !exported.has(name.replace(/_(bucket|sum|count)$/, '')));
    expect(unknown).toEqual([]);
  });

  it('pass promtool check rules and promtool test rules, where promtool is installed', () => {
    const version = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (version.error) {
      // Not installed here: the checks above still hold; CI installs it (.ci/run).
      expect((version.error as NodeJS.ErrnoException).code).toBe('ENOENT');
      return;
    }
    for (const args of [
      ['check', 'rules', 'alerts.yml'],
      ['test', 'rules', 'alerts.test.yml'],
    ]) {
      const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
      expect(r.status, `promtool ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
    }
  });
});
