import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import type { z } from 'zod';
import type { Logger } from '../logger.js';
import { describeIssues, onePersonAnswerSchema, peoplePageSchema, personSchema, stageSchema, stagesAnswerSchema } from './fub-answers.js';
import { FubClock } from './fub-clock.js';
import { quoteStart } from './fub-text.js';
import { FubRateLimiter, sleep } from './rate-limiter.js';

/** The fields of a FUB person this service uses; texts trimmed, times on FUB's clock. */
export interface FubPerson {
  id: number;
  firstName: string | null;
  lastName: string | null;
  stage: string | null;
  /** FUB's id of the stage: a rename in FUB's settings keeps it. */
  stageId: number | null;
  /** FUB's last-modified time of the person (any edit, not only a move). */
  updated: Date | null;
  /** When FUB created the person. */
  created: Date | null;
  assignedUserId: number | null;
  assignedTo: string | null;
  /** The lead source FUB shows for the person (its `source`, e.g. "Zillow"). */
  source: string | null;
  /** FUB's clock when this copy was read (the answer's `Date` header). */
  readAt: Date;
}

/** A stage definition in FUB's settings. */
export interface FubStage {
  id: number;
  name: string;
}

export class FubApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    /** The answer's body was JSON (FUB's own errors are): a proxy's HTML 404 is not FUB saying "not found". */
    readonly jsonBody = false,
  ) {
    super(message);
    this.name = 'FubApiError';
  }
}

/**
 * FUB (or a proxy in front of it, or a wrong FUB_API_BASE_URL) answered 2xx with something that is
 * not the answer asked for: HTML, truncated JSON, `{}`, an error object, wrong types. Never "nothing
 * there". Carries FUB's status; the message quotes the first bytes of the body.
 */
export class FubMalformedAnswerError extends FubApiError {
  constructor(message: string, status: number) {
    super(message, status);
    this.name = 'FubMalformedAnswerError';
  }
}

/** FUB itself refused the request (4xx, its own answer): not worth repeating unchanged. */
export function isFubRefusal(error: unknown): boolean {
  return error instanceof FubApiError && !(error instanceof FubMalformedAnswerError) && error.status !== undefined && error.status >= 400 && error.status < 500;
}

/** A person in an answer that could not be read: its id when it had a usable one. */
export interface UnreadablePerson {
  id: number | null;
  reason: string;
}

/** One page of GET /people, checked: the people read, the ones that could not be, and the cursor on. */
export interface PeoplePage {
  people: FubPerson[];
  unreadable: UnreadablePerson[];
  next: string | undefined;
  total: number | undefined;
  /** FUB's clock at the answer. */
  fubTime: Date;
}

export interface FubClientOptions {
  baseUrl: string;
  apiKey: string;
  system?: string | undefined;
  systemKey?: string | undefined;
  /** Share one limiter between every client in a process. */
  limiter: FubRateLimiter;
  /** FUB's clock as learned from answers; share one per process (a new one when not given). */
  clock?: FubClock;
  log: Logger;
  timeoutMs?: number;
  /** Retries of 5xx and network errors (429s are waited out separately). */
  maxRetries?: number;
  max429Retries?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Told the outcome of every HTTP attempt (status code, or "network"): for metrics. */
  onCall?: (outcome: string) => void;
}

type Method = 'GET' | 'POST' | 'PUT';
type Params = Record<string, string | number | boolean>;
type Schema<T> = z.ZodType<T, unknown>;

/**
 * Every answer is checked against the shape its call expects (fub-answers.ts); a 2xx that does not fit
 * is retried like a 5xx, then thrown as FubMalformedAnswerError. Texts come back cleaned.
 */
export interface FubClient {
  /**
   * People by id, up to 100 per call (several calls for more). An id FUB's well-formed answer does
   * not hold is absent from `people`; a person it sent in a shape we cannot read is in `unreadable`.
   */
  getPeopleByIds(ids: readonly number[]): Promise<{ people: Map<number, FubPerson>; unreadable: UnreadablePerson[] }>;
  /** One page of GET /people (`sort`, `limit`, `next`; `includeTrash` is always on). */
  getPeoplePage(params: { sort: string; limit: number; next?: string | undefined }): Promise<PeoplePage>;
  /** One person, or null when FUB answers 404 (e.g. created seconds ago, not yet visible). */
  getPerson(id: number): Promise<FubPerson | null>;
  /** A GET whose answer must fit `schema`. */
  get<T>(path: string, schema: Schema<T>, params?: Params): Promise<T>;
  /** The stage definitions (id and current name); an entry that is not a stage is skipped. */
  getStages(): Promise<FubStage[]>;
  /** FUB's clock, learned from the `Date` header of every answer. */
  readonly clock: FubClock;
  /** POST and PUT; a POST is retried only after a 429 (FUB did not process it), never after a 5xx. */
  post<T>(path: string, body: unknown, schema: Schema<T>): Promise<T>;
  put<T>(path: string, body: unknown, schema: Schema<T>): Promise<T>;
  readonly stats: { calls: number; byStatus: Record<string, number> };
  /** Milliseconds until the shared rate budget allows another call (0: now). */
  readyInMs(): number;
}

export const PEOPLE_PER_REQUEST = 100;

/** The connection part of the client's options, from the configuration's `fub` section. */
export function fubConnection(fub: { apiBaseUrl: string; apiKey: string; system: string | undefined; systemKey: string | undefined }) {
  return { baseUrl: fub.apiBaseUrl, apiKey: fub.apiKey, system: fub.system, systemKey: fub.systemKey };
}

export function createFubClient(options: FubClientOptions): FubClient {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const http: AxiosInstance = axios.create({
    baseURL: options.baseUrl.replace(/\/+$/, '') + '/',
    // Only a silence this long: an answer sent a byte at a time is bounded by the signal below.
    timeout: timeoutMs,
    auth: { username: options.apiKey, password: '' },
    headers: {
      Accept: 'application/json',
      ...(options.system ? { 'X-System': options.system } : {}),
      ...(options.system && options.systemKey ? { 'X-System-Key': options.systemKey } : {}),
    },
    // The body as text, parsed and checked below: axios would hand back an HTML page as a string.
    responseType: 'text',
    transformResponse: (data: unknown) => data,
    // A page of 100 people is about 100 kB; anything near this is not an answer to read.
    maxContentLength: MAX_ANSWER_BYTES,
    // Every status is handled below; axios should not throw on any of them.
    validateStatus: () => true,
    // FUB's API does not redirect. Following one would send X-System-Key (it signs webhooks) to
    // wherever the Location points, in clear text after an https-to-http hop, and take that
    // address's answer for FUB's: a 3xx is an error like any other unexpected status.
    maxRedirects: 0,
  });
  const maxRetries = options.maxRetries ?? 5;
  const max429Retries = options.max429Retries ?? 30;
  const baseDelay = options.retryBaseDelayMs ?? 500;
  const maxDelay = options.retryMaxDelayMs ?? 30_000;
  const log = options.log.child({ component: 'fub-client' });
  const stats = { calls: 0, byStatus: {} as Record<string, number> };
  const clock = options.clock ?? new FubClock();

  const count = (outcome: string): void => {
    stats.byStatus[outcome] = (stats.byStatus[outcome] ?? 0) + 1;
    options.onCall?.(outcome);
  };

  /** The checked answer, and FUB's clock when it was given. */
  async function send<T>(method: Method, path: string, params: Params, schema: Schema<T>, body?: unknown): Promise<{ data: T; fubTime: Date }> {
    // Repeating a POST that may have been processed could create a second webhook, say.
    const retriable = method !== 'POST';
    let failures = 0;
    let rateLimited = 0;
    for (;;) {
      await options.limiter.acquire();
      stats.calls += 1;
      let response: AxiosResponse<unknown>;
      const sentAt = Date.now();
      try {
        // The whole exchange, headers to last byte, within timeoutMs (axios's timeout is per silence).
        response = await http.request({ method, url: path.replace(/^\//, ''), params, data: body, signal: AbortSignal.timeout(timeoutMs) });
      } catch (error) {
        count('network');
        const code = (error as { code?: string }).code;
        const reason = code === 'ERR_CANCELED' ? `no complete answer within ${timeoutMs} ms` : (code ?? (error as Error).message);
        if (!retriable || ++failures > maxRetries) {
          throw new FubApiError(`FUB ${path} unreachable after ${failures || 1} tries: ${reason}`, undefined);
        }
        const delay = backoff(failures, baseDelay, maxDelay);
        log.warn({ path, reason, attempt: failures, retryInMs: delay }, 'FUB request failed; retrying');
        await sleep(delay);
        continue;
      }
      count(String(response.status));
      const fubTime = clock.observe(response.headers.date, sentAt, Date.now());
      options.limiter.observe(response.headers as Record<string, unknown>);
      const raw = typeof response.data === 'string' ? response.data : '';
      if (response.status >= 200 && response.status < 300) {
        const checked = checkAnswer(raw, schema);
        if (checked.ok) return { data: checked.data, fubTime };
        // Not the answer asked for: a proxy's page or a half-sent body is as passing as a 5xx.
        const what = `FUB ${path} answered ${response.status} with ${checked.problem}: ${quoteStart(raw)}`;
        if (!retriable) throw new FubMalformedAnswerError(`${what}; not retried (it may have been processed)`, response.status);
        if (++failures > maxRetries) throw new FubMalformedAnswerError(`${what} (${failures} times)`, response.status);
        const delay = backoff(failures, baseDelay, maxDelay);
        log.warn({ path, status: response.status, problem: checked.problem, attempt: failures, retryInMs: delay }, 'FUB answer unreadable; retrying');
        await sleep(delay);
        continue;
      }
      if (response.status === 429) {
        // At least a second: a missing or zero Retry-After must not turn into a burst of retries.
        const waitMs = Math.max(1000, retryAfterMs(response.headers['retry-after']) ?? 10_000);
        options.limiter.blockFor(waitMs);
        if (++rateLimited > max429Retries) throw new FubApiError(`FUB ${path} still rate limited after ${rateLimited} waits`, 429);
        log.warn({ path, waitMs }, 'FUB rate limit reached (429); waiting Retry-After');
        continue;
      }
      if (response.status >= 500) {
        if (!retriable) throw new FubApiError(`FUB ${path} answered ${response.status}; not retried (it may have been processed)`, response.status);
        if (++failures > maxRetries) throw new FubApiError(`FUB ${path} answered ${response.status} ${failures} times: ${quoteStart(raw)}`, response.status);
        const delay = backoff(failures, baseDelay, maxDelay);
        log.warn({ path, status: response.status, attempt: failures, retryInMs: delay }, 'FUB server error; retrying');
        await sleep(delay);
        continue;
      }
      throw new FubApiError(describeClientError(path, response.status, raw), response.status, parsesAsObject(raw));
    }
  }

  /** Each person on its own: one that cannot be read is reported, and never hides the others. */
  function readPeople(raws: unknown[], fubTime: Date): { people: FubPerson[]; unreadable: UnreadablePerson[] } {
    const people: FubPerson[] = [];
    const unreadable: UnreadablePerson[] = [];
    for (const [i, raw] of raws.entries()) {
      const read = readPerson(raw, fubTime);
      if ('person' in read) people.push(read.person);
      else {
        unreadable.push(read.unreadable);
        log.warn({ index: i, personId: read.unreadable.id, reason: read.unreadable.reason }, 'FUB sent a person we cannot read; skipped');
      }
    }
    return { people, unreadable };
  }

  return {
    stats,
    clock,
    readyInMs: () => options.limiter.readyInMs(),
    async get(path, schema, params = {}) {
      return (await send('GET', path, params, schema)).data;
    },
    async post(path, body, schema) {
      return (await send('POST', path, {}, schema, body)).data;
    },
    async put(path, body, schema) {
      return (await send('PUT', path, {}, schema, body)).data;
    },
    async getPeoplePage({ sort, limit, next }) {
      const { data, fubTime } = await send('GET', '/people', { sort, limit, includeTrash: true, ...(next ? { next } : {}) }, peoplePageSchema);
      return { ...readPeople(data.people, fubTime), next: nextCursor(data._metadata), total: data._metadata.total ?? undefined, fubTime };
    },
    async getPeopleByIds(ids) {
      const found = new Map<number, FubPerson>();
      const unreadable: UnreadablePerson[] = [];
      const unique = [...new Set(ids)];
      for (let i = 0; i < unique.length; i += PEOPLE_PER_REQUEST) {
        const chunk = unique.slice(i, i + PEOPLE_PER_REQUEST);
        const { data, fubTime } = await send('GET', '/people', { id: chunk.join(','), limit: chunk.length, includeTrash: true }, peoplePageSchema);
        const read = readPeople(data.people, fubTime);
        const answered = new Set([...read.people.map((p) => p.id), ...read.unreadable.map((u) => u.id)]);
        // A page that says more follow is not FUB's whole answer: an id missing from it is unknown, not absent.
        const more = Boolean(data._metadata.next ?? data._metadata.nextLink) || (data._metadata.total ?? 0) > data.people.length;
        if (more && chunk.some((id) => !answered.has(id))) {
          throw new FubMalformedAnswerError(`GET /people by id answered ${data.people.length} of ${chunk.length} people and said more follow`, 200);
        }
        for (const person of read.people) if (chunk.includes(person.id)) found.set(person.id, person);
        unreadable.push(...read.unreadable.filter((u) => u.id === null || chunk.includes(u.id)));
      }
      return { people: found, unreadable };
    },
    async getStages() {
      const { data } = await send('GET', '/stages', { limit: 100 }, stagesAnswerSchema);
      return data.stages.flatMap((raw) => {
        const stage = stageSchema.safeParse(raw);
        // An odd entry only costs that stage's id (moves into it are kept by name): not worth failing for.
        if (!stage.success) log.warn({ reason: describeIssues(stage.error) }, 'FUB listed a stage we cannot read; skipped');
        return stage.success ? [stage.data] : [];
      });
    },
    async getPerson(id) {
      try {
        const { data, fubTime } = await send('GET', `/people/${id}`, {}, onePersonAnswerSchema);
        const read = readPerson(data, fubTime);
        if ('person' in read) return read.person;
        throw new FubMalformedAnswerError(`FUB /people/${id} answered with a person we cannot read: ${read.unreadable.reason}`, 200);
      } catch (error) {
        // Only FUB's own 404 says "not found"; a proxy's page with a 404 is a fault like any other.
        if (error instanceof FubApiError && error.status === 404 && error.jsonBody) return null;
        throw error;
      }
    },
  };
}

// Bodies larger than this are refused before they are read (see maxContentLength).
const MAX_ANSWER_BYTES = 20 * 1024 * 1024;

type Checked<T> = { ok: true; data: T } | { ok: false; problem: string };

/** Parses a 2xx body as JSON and checks it against the call's schema. */
function checkAnswer<T>(raw: string, schema: Schema<T>): Checked<T> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, problem: raw.trim() === '' ? 'an empty body' : 'a body that is not JSON' };
  }
  const result = schema.safeParse(json);
  return result.success ? { ok: true, data: result.data } : { ok: false, problem: `an answer that is not the one asked for (${describeIssues(result.error)})` };
}

function parsesAsObject(raw: string): boolean {
  try {
    const json: unknown = JSON.parse(raw);
    return json !== null && typeof json === 'object';
  } catch {
    return false;
  }
}

/** `_metadata.next`, or the `next` parameter of `_metadata.nextLink` when only the link is given. */
function nextCursor(metadata: { next?: string | null | undefined; nextLink?: string | null | undefined }): string | undefined {
  if (metadata.next) return metadata.next;
  if (!metadata.nextLink) return undefined;
  try {
    return new URL(metadata.nextLink).searchParams.get('next') ?? undefined;
  } catch {
    return undefined;
  }
}

/** Exponential backoff, truncated at `max`, with the upper half jittered so retries spread out. */
export function backoff(attempt: number, base: number, max: number): number {
  const ceiling = Math.min(max, base * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function retryAfterMs(value: unknown): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(String(value));
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function describeClientError(path: string, status: number, raw: string): string {
  if (status === 401) return `FUB rejected the API key (401) on ${path}: check FUB_API_KEY`;
  if (status === 403 && path.startsWith('/webhooks')) {
    return `FUB refused ${path} (403): only the account owner's API key may manage webhooks`;
  }
  if (status === 403) return `FUB refused ${path} (403): this API key lacks the permission (or FUB_SYSTEM/FUB_SYSTEM_KEY are wrong)`;
  return `FUB answered ${status} on ${path}: ${quoteStart(raw)}`;
}

/**
 * One person from an answer, checked (fub-answers.ts: ids as numbers or strings, texts cleaned and
 * trimmed once, here). What cannot be read comes back as `unreadable`, with its id when it had one.
 */
export function readPerson(raw: unknown, readAt: Date): { person: FubPerson } | { unreadable: UnreadablePerson } {
  const result = personSchema.safeParse(raw);
  if (result.success) return { person: { ...result.data, readAt } };
  const id = raw !== null && typeof raw === 'object' ? Number((raw as { id?: unknown }).id) : Number.NaN;
  return { unreadable: { id: Number.isSafeInteger(id) && id > 0 ? id : null, reason: describeIssues(result.error) } };
}
