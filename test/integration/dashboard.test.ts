import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';
import { startStack, type Stack } from '../support/stack';

/**
 * deploy/grafana/scimflow.json: every panel's query names metrics that exist. scimflow's own are
 * read from the two scrape targets (the API's /metrics, the worker's); the Temporal SDK's
 * (`temporal_…`) from the runtime library the worker loads, which defines them.
 */

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
}

const dashboard = JSON.parse(readFileSync(join(PROJECT_ROOT, 'deploy', 'grafana', 'scimflow.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
};
const queried = dashboard.panels.filter((p) => p.type !== 'row');

/** The metric names a PromQL expression reads (label names and functions are not metric names). */
function metricNames(expr: string): string[] {
  return [...expr.replace(/\{[^}]*\}/g, '').matchAll(/\b((?:scimflow|temporal)_[a-z0-9_]+)\b/g)].map((m) => m[1]!);
}

/** The metric names the Temporal SDK's native runtime defines (it exports them with `temporal_`). */
function temporalRuntimeNames(): string {
  const releases = join(PROJECT_ROOT, 'node_modules', '@temporalio', 'core-bridge', 'releases');
  return readdirSync(releases)
    .filter((d) => d.includes('linux'))
    .map((d) => readFileSync(join(releases, d, 'index.node')).toString('latin1'))
    .join('\n');
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

describe('the Grafana dashboard', () => {
  it("puts the checklist's four metrics first and gives every panel a query and a description", () => {
    expect(dashboard.uid).toBe('scimflow');
    expect(queried.slice(0, 4).map((p) => p.title)).toEqual([
      'Webhook delivery success rate',
      'Provisioning latency (p50, p99)',
      'Deprovisioning latency (p50, p99)',
      'Failed sync events, by type and error',
    ]);
    expect(queried.find((p) => /mapping accuracy/i.test(p.title))).toBeDefined();
    for (const p of queried) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect((p as { description?: string }).description, p.title).toBeTruthy();
    }
  });

  it('queries only metrics the API, the worker or the Temporal runtime export', async () => {
    const help = async (url: string) => [...(await (await fetch(url)).text()).matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]!);
    const exported = new Set([...(await help(`${stack.baseUrl}/metrics`)), ...(await help(stack.workerMetricsUrl))]);
    const runtime = temporalRuntimeNames();
    const named = queried.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr).map((name) => [p.title, name] as const)));
    expect(named.length).toBeGreaterThan(queried.length);
    const missing = named.filter(([, name]) =>
      name.startsWith('temporal_')
        ? !runtime.includes(name.slice('temporal_'.length))
        : !exported.has(name.replace(/_(bucket|sum|count)$/, '')),
    );
    expect(missing).toEqual([]);
  });
});
