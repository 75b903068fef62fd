import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import type { Logger } from '../logger.js';
import { FubClock } from './fub-clock.js';
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
  ) {
    super(message);
    this.name = 'FubApiError';
  }
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

export interface FubClient {
  /** People by id, up to 100 per call (several calls for more); ids FUB does not return are absent. */
  getPeopleByIds(ids: readonly number[]): Promise<Map<number, FubPerson>>;
  /** One person, or null when FUB answers 404 (e.g. created seconds ago, not yet visible). */
  getPerson(id: number): Promise<FubPerson | null>;
  /** Raw GET for callers with their own shapes. */
  get<T>(path: string, params?: Record<string, string | number | boolean>): Promise<T>;
  /** Raw GET with FUB's clock at the answer (the poller's paging dates what it read by it). */
  getTimed<T>(path: string, params?: Record<string, string | number | boolean>): Promise<{ data: T; fubTime: Date }>;
  /** The stage definitions (id and current name). */
  getStages(): Promise<FubStage[]>;
  /** FUB's clock, learned from the `Date` header of every answer. */
  readonly clock: FubClock;
  /** POST and PUT; a POST is retried only after a 429 (FUB did not process it), never after a 5xx. */
  post<T>(path: string, body: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
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
  const http: AxiosInstance = axios.create({
    baseURL: options.baseUrl.replace(/\/+$/, '') + '/',
    timeout: options.timeoutMs ?? 10_000,
    auth: { username: options.apiKey, password: '' },
    headers: {
      Accept: 'application/json',
      ...(options.system ? { 'X-System': options.system } : {}),
      ...(options.system && options.systemKey ? { 'X-System-Key': options.systemKey } : {}),
    },
    // Every status is handled below; axios should not throw on any of them.
    validateStatus: () => true,
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

  /** The answer, and FUB's clock when it was given. */
  async function send(method: Method, path: string, params: Params, body?: unknown): Promise<{ response: AxiosResponse; fubTime: Date }> {
    // Repeating a POST that may have been processed could create a second webhook, say.
    const retriable = method !== 'POST';
    let failures = 0;
    let rateLimited = 0;
    for (;;) {
      await options.limiter.acquire();
      stats.calls += 1;
      let response: AxiosResponse;
      const sentAt = Date.now();
      try {
        response = await http.request({ method, url: path.replace(/^\//, ''), params, data: body });
      } catch (error) {
        count('network');
        const reason = (error as { code?: string; message?: string }).code ?? (error as Error).message;
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
      if (response.status >= 200 && response.status < 300) return { response, fubTime };
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
        if (++failures > maxRetries) throw new FubApiError(`FUB ${path} answered ${response.status} ${failures} times`, response.status);
        const delay = backoff(failures, baseDelay, maxDelay);
        log.warn({ path, status: response.status, attempt: failures, retryInMs: delay }, 'FUB server error; retrying');
        await sleep(delay);
        continue;
      }
      throw new FubApiError(describeClientError(path, response.status), response.status);
    }
  }

  return {
    stats,
    clock,
    readyInMs: () => options.limiter.readyInMs(),
    async get<T>(path: string, params: Params = {}): Promise<T> {
      return (await send('GET', path, params)).response.data as T;
    },
    async getTimed<T>(path: string, params: Params = {}): Promise<{ data: T; fubTime: Date }> {
      const { response, fubTime } = await send('GET', path, params);
      return { data: response.data as T, fubTime };
    },
    async post<T>(path: string, body: unknown): Promise<T> {
      return (await send('POST', path, {}, body)).response.data as T;
    },
    async put<T>(path: string, body: unknown): Promise<T> {
      return (await send('PUT', path, {}, body)).response.data as T;
    },
    async getPeopleByIds(ids) {
      const found = new Map<number, FubPerson>();
      const unique = [...new Set(ids)];
      for (let i = 0; i < unique.length; i += PEOPLE_PER_REQUEST) {
        const chunk = unique.slice(i, i + PEOPLE_PER_REQUEST);
        const { response, fubTime } = await send('GET', '/people', { id: chunk.join(','), limit: chunk.length, includeTrash: true });
        for (const raw of (response.data as { people?: unknown[] }).people ?? []) {
          const person = toFubPerson(raw, fubTime);
          if (person && chunk.includes(person.id)) found.set(person.id, person);
        }
      }
      return found;
    },
    async getStages() {
      const body = (await send('GET', '/stages', { limit: 100 })).response.data as { stages?: unknown[] };
      return (body.stages ?? []).flatMap((raw) => {
        const stage = raw as { id?: unknown; name?: unknown };
        const id = Number(stage.id);
        const name = typeof stage.name === 'string' ? stage.name.trim() : '';
        return Number.isSafeInteger(id) && id > 0 && name !== '' ? [{ id, name }] : [];
      });
    },
    async getPerson(id) {
      try {
        const { response, fubTime } = await send('GET', `/people/${id}`, {});
        const body = response.data as Record<string, unknown>;
        return toFubPerson(body.person ?? body, fubTime);
      } catch (error) {
        if (error instanceof FubApiError && error.status === 404) return null;
        throw error;
      }
    },
  };
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

function describeClientError(path: string, status: number): string {
  if (status === 401) return `FUB rejected the API key (401) on ${path}: check FUB_API_KEY`;
  if (status === 403 && path.startsWith('/webhooks')) {
    return `FUB refused ${path} (403): only the account owner's API key may manage webhooks`;
  }
  if (status === 403) return `FUB refused ${path} (403): this API key lacks the permission (or FUB_SYSTEM/FUB_SYSTEM_KEY are wrong)`;
  return `FUB answered ${status} on ${path}`;
}

/**
 * Accepts FUB's person shape (ids as numbers or strings); null when there is no usable id. Texts are
 * trimmed here, once: FUB's stage names are free text, and "Lead " is the stage "Lead".
 */
export function toFubPerson(raw: unknown, readAt: Date): FubPerson | null {
  if (raw === null || typeof raw !== 'object') return null;
  const p = raw as Record<string, unknown>;
  const id = Number(p.id);
  if (!Number.isSafeInteger(id) || id <= 0) return null;
  const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);
  const positive = (v: unknown): number | null => {
    const n = v === null || v === undefined || v === '' ? Number.NaN : Number(v);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  };
  const time = (v: unknown): Date | null => {
    const date = typeof v === 'string' ? new Date(v) : null;
    return date && !Number.isNaN(date.getTime()) ? date : null;
  };
  return {
    id,
    firstName: str(p.firstName),
    lastName: str(p.lastName),
    stage: str(p.stage),
    stageId: positive(p.stageId),
    updated: time(p.updated),
    created: time(p.created),
    assignedUserId: positive(p.assignedUserId),
    assignedTo: str(p.assignedTo),
    source: str(p.source),
    readAt,
  };
}
