/**
 * Text and JSON derived from an untrusted body, made storable in PostgreSQL: text and jsonb refuse
 * NUL characters, jsonb refuses lone UTF-16 surrogates (and the driver silently replaces them in
 * text), an index entry cannot exceed about 2.7 kB, and a value nested thousands deep overflows the
 * stack of anything that recurses over it. Pure and iterative: no input can overflow the stack.
 */

export const REPLACEMENT_CHARACTER = '\uFFFD';

const NUL = /\u0000/g;
const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Whether `s` can be stored in a text or jsonb column exactly as it is. */
export function isStorableText(s: string): boolean {
  NUL.lastIndex = 0;
  LONE_SURROGATES.lastIndex = 0;
  return !NUL.test(s) && !LONE_SURROGATES.test(s);
}

/**
 * `s` with NUL characters and lone surrogates replaced by U+FFFD, cut to at most `maxChars`
 * UTF-16 units (an ellipsis marks the cut; a surrogate pair is never split).
 */
export function storableText(s: string, maxChars: number): string {
  let out = s;
  if (out.length > maxChars) {
    let end = Math.max(0, maxChars - 1);
    // Do not cut between the halves of a pair.
    const last = out.charCodeAt(end - 1);
    if (end > 0 && last >= 0xd800 && last <= 0xdbff) end -= 1;
    out = `${out.slice(0, end)}…`;
  }
  return out.replace(NUL, REPLACEMENT_CHARACTER).replace(LONE_SURROGATES, REPLACEMENT_CHARACTER);
}

/**
 * A parsed JSON value as jsonb text: every string (keys too) made storable with `storableText`
 * (without a length cap), or null when it is nested deeper than `maxDepth` (keep the raw body
 * instead). Walks the value iteratively; the copy it serializes is at most `maxDepth` deep.
 */
export function storableJson(value: unknown, maxDepth = 64): string | null {
  const clean = (s: string) => storableText(s, Number.MAX_SAFE_INTEGER);
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(typeof value === 'string' ? clean(value) : value) ?? null;
  }
  // Copies have no prototype, so a "__proto__" key stays a key.
  const container = (v: object): unknown => (Array.isArray(v) ? [] : Object.create(null));
  const root = container(value);
  const work: { from: object; to: unknown; depth: number }[] = [{ from: value, to: root, depth: 1 }];
  while (work.length > 0) {
    const { from, to, depth } = work.pop() as { from: object; to: unknown; depth: number };
    if (depth > maxDepth) return null;
    const entries: [string | number, unknown][] = Array.isArray(from) ? from.map((v, i) => [i, v]) : Object.entries(from);
    for (const [k, v] of entries) {
      let copy: unknown = v;
      if (typeof v === 'string') copy = clean(v);
      else if (v !== null && typeof v === 'object') {
        copy = container(v);
        work.push({ from: v, to: copy, depth: depth + 1 });
      }
      if (Array.isArray(to)) to[k as number] = copy;
      else (to as Record<string, unknown>)[typeof k === 'string' ? clean(k) : k] = copy;
    }
  }
  return JSON.stringify(root);
}
