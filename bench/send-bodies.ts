// The bulk benchmark's sender, in a process of its own: in the benchmark's process it shared one
// thread with the FUB simulator answering people reads and with the row counting, and the
// deliveries it could send, not the server, set the pace. Reads the bodies from a JSON file, sends
// each once (sendAll) and prints the result with times on the wall clock (ms since the epoch).
import { readFile } from 'node:fs/promises';
import { sendAll } from './support.js';

const [file, url, path, connections, deadlineWallMs] = process.argv.slice(2);
const bodies = JSON.parse(await readFile(file!, 'utf8')) as { body: string; headers: Record<string, string> }[];
const toWall = (perf: number) => perf + performance.timeOrigin;
const result = await sendAll(url!, path!, bodies, Number(connections), Number(deadlineWallMs) - performance.timeOrigin);
console.log(JSON.stringify({ ...result, startedAt: toWall(result.startedAt), firstAckAt: toWall(result.firstAckAt), lastAckAt: toWall(result.lastAckAt) }));
