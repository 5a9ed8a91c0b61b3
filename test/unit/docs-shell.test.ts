import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shellBlocks } from '../support/docs';

/**
 * The shell blocks of the documentation are pasted into terminals as they are, in bash and in zsh
 * (macOS's shell). Each must parse in bash, and hold nothing an interactive zsh takes otherwise:
 * a `#` comment (a command named `#` there, its apostrophes opening quotes, unless
 * `setopt interactivecomments`), an unquoted `?`, `*` or `[…]` (a glob that finds no match is an
 * error in zsh: URLs with a query must be quoted), or an unquoted `<placeholder>` (a redirection).
 */

const ROOT = join(import.meta.dirname, '../..');
const DOCS = [
  'README.md',
  'examples/acme-app/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/**
 * What an interactive zsh would trip on, outside quotes: the characters are read as the shell
 * reads them (quotes, backslashes, `$(…)` and `${…}`), here-document bodies skipped.
 */
function zshHazards(script: string): string[] {
  const found: string[] = [];
  const lines = script.split('\n');
  let heredoc: string | null = null;
  let quote: "'" | '"' | null = null;
  for (const [n, line] of lines.entries()) {
    if (heredoc !== null) {
      if (line.trim() === heredoc) heredoc = null;
      continue;
    }
    const where = `line ${n + 1}: ${line.trim()}`;
    let depth = 0; // inside $( … ) or ${ … }
    for (let i = 0; i < line.length; i++) {
      const c = line[i] as string;
      const prev = i === 0 ? ' ' : (line[i - 1] as string);
      if (quote === "'") {
        if (c === "'") quote = null;
        continue;
      }
      if (c === '\\') {
        i++;
        continue;
      }
      if (quote === '"') {
        if (c === '"') quote = null;
        continue;
      }
      if (c === "'" || c === '"') {
        quote = c;
        continue;
      }
      if (c === '$' && (line[i + 1] === '(' || line[i + 1] === '{')) {
        depth++;
        i++;
        continue;
      }
      if ((c === ')' || c === '}') && depth > 0) {
        depth--;
        continue;
      }
      if (c === '#' && /\s/.test(prev)) found.push(`a # comment (${where})`);
      else if (c === '?' || c === '*') found.push(`an unquoted ${c} (${where})`);
      else if (c === '[' && /\S/.test(line[i + 1] ?? ' ')) found.push(`an unquoted [ (${where})`);
      else if (c === '<' && line[i + 1] === '<') {
        const tag = /^<-?\s*['"]?(\w+)['"]?/.exec(line.slice(i + 1));
        if (tag) heredoc = tag[1] as string;
        break;
      } else if (c === '<' && /[\w…]/.test(line[i + 1] ?? '')) found.push(`an unquoted <placeholder> (${where})`);
    }
  }
  if (quote !== null) found.push(`an unclosed ${quote}`);
  return found;
}

describe('shell blocks of the documentation', () => {
  const blocks = DOCS.flatMap(shellBlocks);

  it('are found (README quick start and "Try it" among them)', () => {
    expect(blocks.filter((b) => b.file === 'README.md').length).toBeGreaterThanOrEqual(6);
    expect(blocks.some((b) => b.text.includes('npm run cli -- events list "$ORG" | head'))).toBe(true);
  });

  it('each parses in bash', () => {
    for (const b of blocks) {
      const r = spawnSync('bash', ['-n'], { input: b.text, encoding: 'utf8' });
      expect(r.stderr, `${b.file}:${b.line}`).toBe('');
      expect(r.status, `${b.file}:${b.line}`).toBe(0);
    }
  });

  it('each pastes into an interactive zsh: no # comments, unquoted globs or <placeholders>', () => {
    for (const b of blocks) expect(zshHazards(b.text), `${b.file}:${b.line}`).toEqual([]);
  });

  it('name CLI commands the way that works in the project folder (npm run cli --), not as `scimflow …`, which is not on PATH', () => {
    for (const file of DOCS) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      expect(text.match(/`scimflow [a-z][^`]*`/g) ?? [], file).toEqual([]);
      for (const b of shellBlocks(file)) expect(b.text, `${file}:${b.line}`).not.toMatch(/^scimflow /m);
    }
  });

  it('the check finds each hazard', () => {
    expect(zshHazards('ORG=org_1   # from the banner')).toHaveLength(1);
    expect(zshHazards("# The demo organization's people")[0]).toMatch(/# comment/);
    expect(zshHazards('curl -s http://127.0.0.1:3000/api/users?active=true')).toHaveLength(1);
    expect(zshHazards('npm run cli -- domains set org_1 *.acme.example')).toHaveLength(1);
    expect(zshHazards('npm run cli -- status <org>')).toHaveLength(1);
    expect(zshHazards('echo [abc]')).toHaveLength(1);
    expect(zshHazards(`curl -s "http://x/users?active=true" -H 'a: b' -d '{"q":"#*?"}'`)).toEqual([]);
    expect(zshHazards(`echo "$(date +%s)" \${HOME} x#y`)).toEqual([]);
    expect(zshHazards('cat > .env <<EOF\nA=$(openssl rand -hex 24) # kept\nEOF\necho ok')).toEqual([]);
    expect(zshHazards("curl -s 'http://x/?a=1' \\\n  -d '{}'")).toEqual([]);
  });
});
