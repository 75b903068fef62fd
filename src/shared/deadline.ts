/** Thrown when an answer did not come in time. */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/**
 * `work`, or a DeadlineError after `ms`: for answers someone is waiting on (/health, /metrics) while
 * the statement itself may go on until the pool's own deadline ends it.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what} took longer than ${ms} ms`)), ms);
  });
  work.catch(() => undefined); // settled after the deadline: nobody is listening any more
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
