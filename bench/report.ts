import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';

const FILE = 'docs/BENCHMARKS.md';
const HEADER = '# Benchmarks\n\nEach figure is measured beside its baseline in the same run on the same machine. Regenerate a section with its `npm run bench:*` script.\n';

/** Replaces (or appends) the `## title` section of docs/BENCHMARKS.md. */
export async function writeBenchmarkSection(title: string, body: string): Promise<void> {
  const current = existsSync(FILE) ? await readFile(FILE, 'utf8') : HEADER;
  const section = `## ${title}\n\n${body.trim()}\n`;
  const start = current.indexOf(`## ${title}\n`);
  let next: string;
  if (start === -1) {
    next = `${current.trimEnd()}\n\n${section}`;
  } else {
    const end = current.indexOf('\n## ', start + 1);
    // A blank line before the next heading, which the body's own trim took away.
    next = current.slice(0, start) + section + (end === -1 ? '' : '\n' + current.slice(end + 1));
  }
  await writeFile(FILE, next.trimEnd() + '\n');
}
