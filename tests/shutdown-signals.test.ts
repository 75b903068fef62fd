import { expect } from 'chai';
import { spawn } from 'node:child_process';

/** Runs a fixture process, sends SIGTERM once it says ready, and gives its exit code. */
function exitCodeAfterSigterm(fixture: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    proc.once('error', reject);
    proc.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) proc.kill('SIGTERM');
    });
    proc.once('exit', (code) => resolve(code));
  });
}

describe('shutdown signals', () => {
  it('loading the embedded PostgreSQL leaves SIGTERM to our graceful stop (no exit 143 from its exit hook)', async () => {
    expect(await exitCodeAfterSigterm('tests/fixtures/processes/embedded-loaded-then-sigterm.ts')).to.equal(0);
  });
});
