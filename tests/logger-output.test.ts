import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { runEntrypoint } from './support/run-entrypoint.js';

const FIXTURE = 'tests/fixtures/processes/log-lines.ts';

/** JSON lines a process wrote, with the message asked for. */
const linesOf = (stdout: string, msg: string): { line: number }[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; line: number })
    .filter((l) => l.msg === msg);

describe('log output (lines gathered into few writes)', function () {
  this.timeout(20_000);

  it('shows a quiet process its line within about a second, while it runs', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, '1', '15000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stdout = '';
      let loggedAt: number | undefined;
      child.stderr.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('logged')) loggedAt ??= Date.now();
      });
      const shownAt = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (linesOf(stdout, 'a line').length === 1) resolve(Date.now());
        });
        child.once('exit', () => reject(new Error(`exited before its line was shown: ${stdout}`)));
      });
      expect(loggedAt, 'the fixture said when it logged').to.be.a('number');
      // The flush comes within a second of the line; a little more for a busy machine.
      expect(shownAt - loggedAt!).to.be.below(2500);
      expect(child.exitCode, 'still running when its line was shown').to.equal(null);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('writes every line logged before the process exits, in order', async () => {
    // About 400 KB: many buffers' worth, the last one written only as the process exits.
    const result = await runEntrypoint(FIXTURE, ['2000', 'exit'], {});
    expect(result.code, result.stderr).to.equal(3);
    const lines = linesOf(result.stdout, 'a line');
    expect(lines.map((l) => l.line)).to.deep.equal(Array.from({ length: 2000 }, (_, i) => i));
  });
});
