import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';
import { HttpError } from './http-error.js';

export interface BodyLimits {
  maxBytes: number;
  /** Time to receive the whole body, from when the read starts (headers already in). */
  timeoutMs: number;
  /** Bodies being read at once; beyond it a request is refused (503) without reading it. */
  maxInFlight: number;
}

export interface BodyReader {
  /** Reads the whole body, or throws HttpError 413 (too big), 408 (too slow), 503 (too many at once), 400. */
  read(req: IncomingMessage, declaredLength: number | undefined): Promise<Buffer>;
  /** Bodies being read now (a read that timed out counts until its socket is gone). */
  inFlight(): number;
}

/**
 * Bounds what unfinished bodies can cost: each has a deadline, and only `maxInFlight` are buffered at
 * once, so at most maxInFlight x maxBytes of memory and sockets. Over the cap the answer is an
 * immediate 503 rather than a queue: a queue would hold the same sockets, and FUB retries a 503.
 */
export function createBodyReader(limits: BodyLimits): BodyReader {
  let inFlight = 0;
  return {
    inFlight: () => inFlight,
    async read(req, declaredLength) {
      if (declaredLength !== undefined && declaredLength > limits.maxBytes) throw tooLarge(limits.maxBytes);
      if (inFlight >= limits.maxInFlight) throw new HttpError(503, 'too many requests being received, retry later');
      inFlight += 1;
      // The slot is given back when the read ends, or when the socket closes: a read that ran out of
      // time never settles (raw-body hears nothing once the server closed the connection).
      let held = true;
      const release = (): void => {
        if (held) inFlight -= 1;
        held = false;
        req.socket.off('close', release);
      };
      req.socket.once('close', release);
      const reading = getRawBody(req, { limit: limits.maxBytes, length: declaredLength });
      reading.then(release, release);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HttpError(408, `body not received within ${limits.timeoutMs} ms`)), limits.timeoutMs);
      });
      try {
        return await Promise.race([reading, deadline]);
      } catch (error) {
        if (error instanceof HttpError) throw error;
        if ((error as { status?: number }).status === 413) throw tooLarge(limits.maxBytes);
        throw new HttpError(400, `could not read body: ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `body over ${maxBytes} bytes`);
}
