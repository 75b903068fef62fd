// A hand-written HTTP/1.1 request on a plain socket: tests decide byte by byte what the server gets.
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  /** 0 when the server closed without answering. */
  status: number;
  headers: Record<string, string>;
  /** Whether the server closed the connection (the answer resolves only then). */
  closed: true;
}

export interface RawRequest {
  socket: Socket;
  /** Writes more of the body; ignored once the server closed the socket. */
  write(bytes: string | Buffer): void;
  /** Resolves once the server answered and closed the socket; rejects after `timeoutMs`. */
  answer(timeoutMs: number): Promise<RawAnswer>;
  /** The answer's status as soon as its head arrived, without waiting for the close. */
  status(timeoutMs: number): Promise<number>;
  destroy(): void;
}

/** Opens a socket to 127.0.0.1:`port` and sends `head` (request line and headers, without the blank line). */
export async function openRawRequest(port: number, head: string[]): Promise<RawRequest> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = '';
  let closed = false;
  const waiters: (() => void)[] = [];
  const notify = (): void => waiters.splice(0).forEach((w) => w());
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    notify();
  });
  // The server may reset a socket whose body it refused to read: that is still a close.
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
    notify();
  });
  socket.write(`${head.join('\r\n')}\r\n\r\n`);

  const until = (what: string, done: () => boolean, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms (received ${JSON.stringify(received.slice(0, 120))})`)), timeoutMs);
      const check = (): void => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  const statusOf = (): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0);

  return {
    socket,
    write(bytes) {
      if (!closed && !socket.destroyed) socket.write(bytes);
    },
    async answer(timeoutMs) {
      await until('answer and close', () => closed, timeoutMs);
      const [headLines = ''] = received.split('\r\n\r\n');
      const headers: Record<string, string> = {};
      for (const line of headLines.split('\r\n').slice(1)) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      return { status: statusOf(), headers, closed: true };
    },
    async status(timeoutMs) {
      await until('answer', () => statusOf() !== 0 || closed, timeoutMs);
      return statusOf();
    },
    destroy() {
      socket.destroy();
    },
  };
}
