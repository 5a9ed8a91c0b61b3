import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/lib/temporal-server';

/** A fenced shell block (```sh, ```bash) of a Markdown file, as people copy it. */
export interface ShellBlock {
  file: string;
  /** The line of its opening fence. */
  line: number;
  /** The `##` section it is in. */
  section: string;
  text: string;
}

/** The shell blocks of a Markdown file of the project, in order. */
export function shellBlocks(file: string): ShellBlock[] {
  const blocks: ShellBlock[] = [];
  const lines = readFileSync(join(PROJECT_ROOT, file), 'utf8').split('\n');
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith('## ')) section = line.slice(3).trim();
    const open = /^```(\w*)\s*$/.exec(line);
    if (!open) continue;
    const start = i;
    while (++i < lines.length && !/^```\s*$/.test(lines[i] as string));
    if (['sh', 'bash', 'shell', 'zsh'].includes(open[1] as string)) {
      blocks.push({ file, line: start + 1, section, text: lines.slice(start + 1, i).join('\n') });
    }
  }
  return blocks;
}
