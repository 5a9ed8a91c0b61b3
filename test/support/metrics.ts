import type { Counter } from 'prom-client';

/** A counter's value for exactly these labels; 0 when never counted. */
export async function counterValue(metric: Counter, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  const wanted = Object.entries(labels);
  const sample = values.find(
    (v) => Object.keys(v.labels).length === wanted.length && wanted.every(([k, value]) => String(v.labels[k]) === value),
  );
  return sample?.value ?? 0;
}

/** The samples of a Prometheus text exposition: `name{labels}` → value. */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}
