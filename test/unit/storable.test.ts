import { describe, expect, it } from 'vitest';
import { isStorableText, storableJson, storableText } from '../../domain/storable';

describe('storableText', () => {
  it('replaces NUL characters and lone surrogates, and keeps surrogate pairs', () => {
    expect(storableText('a\u0000b', 100)).toBe('a\uFFFDb');
    expect(storableText('\ud800x\udfff', 100)).toBe('\uFFFDx\uFFFD');
    expect(storableText('😀 \u2028', 100)).toBe('😀 \u2028');
    expect(isStorableText('😀')).toBe(true);
    expect(isStorableText('\ud83d')).toBe(false);
    expect(isStorableText('a\u0000')).toBe(false);
  });

  it('caps the length with an ellipsis, never splitting a pair', () => {
    expect(storableText('abcdef', 4)).toBe('abc…');
    const capped = storableText('ab😀cd', 4);
    expect(capped).toBe('ab…');
    expect(isStorableText(capped)).toBe(true);
    expect(storableText('abc', 3)).toBe('abc');
  });
});

describe('storableJson', () => {
  it('cleans strings and keys, and keeps a "__proto__" key as a key', () => {
    const value = JSON.parse('{"a\\u0000":["x\\ud800",{"__proto__":1}],"n":null,"t":true,"f":1.5}') as unknown;
    expect(JSON.parse(storableJson(value) as string)).toEqual(
      JSON.parse('{"a\uFFFD":["x\uFFFD",{"__proto__":1}],"n":null,"t":true,"f":1.5}'),
    );
  });

  it('gives up (null) past the depth limit, without overflowing the stack however deep', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
    expect(storableJson(deep)).toBeNull();
    expect(storableJson(JSON.parse(`${'['.repeat(64)}${']'.repeat(64)}`))).toBe(`${'['.repeat(64)}${']'.repeat(64)}`);
    expect(storableJson(JSON.parse(`${'['.repeat(65)}${']'.repeat(65)}`))).toBeNull();
  });

  it('handles primitives', () => {
    expect(storableJson('a\u0000')).toBe('"a\uFFFD"');
    expect(storableJson(3)).toBe('3');
    expect(storableJson(null)).toBe('null');
  });
});
