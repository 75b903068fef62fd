// A small Follow Up Boss: speaks the People API over real HTTP and produces signed webhooks,
// so tests replace FUB only at the HTTP level.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signBody } from '../src/webhook/verify-signature.js';

export interface SimPerson {
  id: number;
  firstName: string;
  lastName: string;
  /** FUB's stage id; the name comes from the stage definitions (a rename changes it for everyone). */
  stageId: number;
  /** FUB's own times, on FUB's clock (kept to the millisecond here, printed to the whole second). */
  updated: Date;
  created: Date;
  assignedUserId: number | null;
  assignedTo: string | null;
  /** FUB's lead source (`source`). */
  source: string | null;
}

/** What one people read returned for one person (the tests' ground truth of every report FUB made). */
export interface SimRead {
  personId: number;
  stageId: number;
  stage: string;
  /** `updated` as printed (whole seconds). */
  updated: Date;
  /** FUB's clock when it answered. */
  at: Date;
}

export interface SimRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
  at: number;
}

export interface SimWebhook {
  id: number;
  event: string;
  url: string;
  status: 'Active' | 'Disabled';
  system: string;
}

/** A canned answer; return undefined from a fault to let the request through. */
export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Bytes sent exactly as given instead of `body` (HTML, truncated JSON, invalid UTF-8). */
  rawBody?: string | Buffer;
  /** Milliseconds to wait before answering. */
  delayMs?: number;
  /** Cut the connection instead of answering (a reset). */
  reset?: boolean;
}

export type Fault = (req: SimRequest) => SimResponse | undefined;

/** Changes the simulator's own answer (a person's field, a header, the bytes); undefined keeps it. */
export type AnswerEdit = (req: SimRequest, answer: SimResponse) => SimResponse | undefined;

export interface WebhookEnvelope {
  eventId: string;
  eventCreated: string;
  event: string;
  resourceIds: number[];
  uri: string;
  data?: { stage: string };
}

/** The webhooks FUB sends for one stage move: the event naming the stage, the same without it, and peopleUpdated. */
export interface MoveWebhooks {
  stageUpdated: WebhookEnvelope;
  stageUpdatedBare: WebhookEnvelope;
  peopleUpdated: WebhookEnvelope;
}

export class FubSimulator {
  readonly apiKey = 'sim-api-key';
  /** A valid key that is not the account owner's: FUB answers 403 on /webhooks for it. */
  readonly agentApiKey = 'sim-agent-key';
  readonly webhooks: SimWebhook[] = [];
  /** FUB allows a couple of webhooks per event per system (unconfirmed number). */
  webhooksPerEvent = 2;
  readonly system = 'fub-collector-tests';
  readonly systemKey = 'sim-system-key-' + randomUUID();
  readonly people = new Map<number, SimPerson>();
  /** Stage definitions: id → current name. Stages are created on first use of a name. */
  readonly stages = new Map<number, string>();
  readonly requests: SimRequest[] = [];
  /** Every person every people read returned, in order. */
  readonly reads: SimRead[] = [];
  /** FUB's clock minus ours, in ms: real FUB runs on its own clock, and so does this one. */
  clockOffsetMs = 0;
  /** When set, FUB's clock stands still at this moment (ms) until a test moves it (`setClock`, `advanceClock`). */
  private frozenAt: number | undefined;
  /** Consulted in order for each request; the first answer wins. Remove with `faults.length = 0`. */
  readonly faults: Fault[] = [];
  /** Applied in order to every answer the simulator gives itself (not to a fault's). Remove with `edits.length = 0`. */
  readonly edits: AnswerEdit[] = [];
  /** Advertised in X-RateLimit-* headers; `enforceRateLimit` also answers 429 past it. */
  rateLimit = { limit: 250, windowSeconds: 10 };
  enforceRateLimit = false;
  /** Added to every answer, as a slow FUB would. */
  latencyMs = 0;
  /** Behave as if FUB ignored the '-' of `sort=-updated` (the order the docs do not confirm). */
  ignoreDescending = false;
  /** Behave as if FUB did not know `-updated` at all and fell back to its default order (created). */
  descendingFallsBackToCreated = false;
  /** Give only `_metadata.nextLink`, no `next`. */
  onlyNextLink = false;
  private server: Server | undefined;
  baseUrl = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}/v1`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  reset(): void {
    this.people.clear();
    this.stages.clear();
    this.reads.length = 0;
    this.clockOffsetMs = 0;
    this.frozenAt = undefined;
    this.webhooks.length = 0;
    this.requests.length = 0;
    this.faults.length = 0;
    this.edits.length = 0;
    this.enforceRateLimit = false;
    this.ignoreDescending = false;
    this.descendingFallsBackToCreated = false;
    this.onlyNextLink = false;
    this.latencyMs = 0;
  }

  /** FUB's clock now (our clock plus `clockOffsetMs`, or the moment it was set to). */
  now(): Date {
    return new Date(this.frozenAt ?? Date.now() + this.clockOffsetMs);
  }

  /** Stops FUB's clock at `at` (undefined: runs again), so a test decides what falls in one second. */
  setClock(at: Date | undefined): void {
    this.frozenAt = at?.getTime();
  }

  advanceClock(ms: number): void {
    if (this.frozenAt === undefined) throw new Error('advanceClock needs setClock first');
    this.frozenAt += ms;
  }

  /** The id of the stage called `name`, defining it if it does not exist yet. */
  stageId(name: string): number {
    for (const [id, existing] of this.stages) if (existing === name) return id;
    const id = 100 + this.stages.size;
    this.stages.set(id, name);
    return id;
  }

  stageName(person: SimPerson): string {
    return this.stages.get(person.stageId)!;
  }

  /** A rename in FUB's settings: same id, new name; nobody's `updated` changes and no webhook fires. */
  renameStage(from: string, to: string): number {
    const id = this.stageId(from);
    this.stages.set(id, to);
    return id;
  }

  /** A person FUB already has (created and last updated at `at`, FUB's clock); no webhook. */
  addPerson(id: number, stage: string, at = this.now(), names?: { firstName: string; lastName: string }): SimPerson {
    const person: SimPerson = {
      id,
      firstName: names?.firstName ?? `First${id}`,
      lastName: names?.lastName ?? `Last${id}`,
      stageId: this.stageId(stage),
      updated: at,
      created: at,
      assignedUserId: 7,
      assignedTo: 'Agent Seven',
      source: 'Zillow',
    };
    this.people.set(id, person);
    return person;
  }

  /** Creates a person in FUB now and returns the peopleCreated webhook FUB sends. */
  createPerson(id: number, stage: string, at = this.now()): WebhookEnvelope {
    this.addPerson(id, stage, at);
    return this.envelope('peopleCreated', [id], at);
  }

  /** What a client needs to talk to this simulator as the registered system. */
  connection(): { baseUrl: string; apiKey: string; system: string; systemKey: string } {
    return { baseUrl: this.baseUrl, apiKey: this.apiKey, system: this.system, systemKey: this.systemKey };
  }

  /** Moves a person in FUB (at `at`, FUB's clock) and returns the webhooks FUB would send for that move. */
  movePerson(id: number, stage: string, at = this.now()): MoveWebhooks {
    const person = this.person(id);
    person.stageId = this.stageId(stage);
    person.updated = at;
    return {
      stageUpdated: { ...this.envelope('peopleStageUpdated', [id], at), data: { stage } },
      stageUpdatedBare: this.envelope('peopleStageUpdated', [id], at),
      peopleUpdated: this.envelope('peopleUpdated', [id], at),
    };
  }

  /** Sets a person's stage as FUB shows it, without a move's webhooks (a lagging read, a test's setup). */
  setStage(id: number, stage: string, updated: Date): void {
    const person = this.person(id);
    person.stageId = this.stageId(stage);
    person.updated = updated;
  }

  /** An edit that is not a move (a note, a tag): `updated` moves on, and peopleUpdated fires. */
  touchPerson(id: number, at = this.now()): WebhookEnvelope {
    this.person(id).updated = at;
    return this.envelope('peopleUpdated', [id], at);
  }

  /** An edit of who the lead is with or where it came from: `updated` moves on, and peopleUpdated fires. */
  editPerson(id: number, changes: Partial<Pick<SimPerson, 'assignedUserId' | 'assignedTo' | 'source'>>, at = this.now()): WebhookEnvelope {
    Object.assign(this.person(id), changes);
    return this.touchPerson(id, at);
  }

  /** Deletes a person: FUB answers 404 for them from now on, and sends peopleDeleted. */
  deletePerson(id: number, at = this.now()): WebhookEnvelope {
    this.person(id);
    this.people.delete(id);
    return this.envelope('peopleDeleted', [id], at);
  }

  /** A webhook envelope as FUB prints it: `eventCreated` to the whole second, with an offset. */
  envelope(event: string, ids: number[], at = this.now()): WebhookEnvelope {
    return {
      eventId: randomUUID(),
      eventCreated: fubEventTime(at),
      event,
      resourceIds: ids,
      uri: `${this.baseUrl}/people?id=${ids.join(',')}`,
    };
  }

  private person(id: number): SimPerson {
    const person = this.people.get(id);
    if (!person) throw new Error(`no simulated person ${id}`);
    return person;
  }

  /** The body bytes and `FUB-Signature` FUB would send for this payload. */
  sign(payload: unknown, key = this.systemKey): { body: string; signature: string } {
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    return { body, signature: signBody(Buffer.from(body), key) };
  }

  /** Requests to the people endpoints (what the rate budget is spent on). */
  peopleCalls(): SimRequest[] {
    return this.requests.filter((r) => r.path.startsWith('/v1/people'));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const request: SimRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body, at: Date.now() };
    this.requests.push(request);
    let answer: SimResponse | undefined;
    for (const fault of this.faults) {
      answer = fault(request);
      if (answer) break;
    }
    if (!answer) {
      answer = this.rateLimited(request) ?? this.authFailure(request) ?? this.route(request);
      for (const edit of this.edits) answer = edit(request, answer) ?? answer;
    }
    const delay = (answer.delayMs ?? 0) + this.latencyMs;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (answer.reset) {
      req.socket.destroy();
      return;
    }
    if (res.destroyed) return;
    const used = this.requests.filter((r) => r.at > Date.now() - this.rateLimit.windowSeconds * 1000).length;
    res.writeHead(answer.status, {
      'Content-Type': 'application/json',
      // FUB's clock at the answer, whole seconds (HTTP dates have no fractions).
      Date: this.now().toUTCString(),
      'X-RateLimit-Limit': String(this.rateLimit.limit),
      'X-RateLimit-Remaining': String(Math.max(0, this.rateLimit.limit - used)),
      'X-RateLimit-Window': String(this.rateLimit.windowSeconds),
      'X-RateLimit-Context': 'global',
      ...answer.headers,
    });
    res.end(answer.rawBody ?? (answer.body === undefined ? '' : JSON.stringify(answer.body)));
  }

  /**
   * GET /people like FUB: `sort` (created by default; `updated`, `id`; a leading '-' for newest
   * first unless `ignoreDescending`), `limit` ≤ 100, `id=1,2`, `includeTrash`, and a keyset `next`
   * cursor, so people updated during a walk move the way they do in FUB.
   */
  private listPeople(req: SimRequest): SimResponse {
    const includeTrash = req.query.get('includeTrash') === 'true';
    const limit = Math.max(1, Math.min(100, Number(req.query.get('limit') ?? 10)));
    let people = [...this.people.values()].filter((p) => includeTrash || this.stageName(p) !== 'Trash');
    const ids = req.query.get('id');
    if (ids) {
      const wanted = new Set(ids.split(',').map(Number));
      people = people.filter((p) => wanted.has(p.id));
    }
    const asked = req.query.get('sort') ?? 'created';
    const sortParam = this.descendingFallsBackToCreated && asked === '-updated' ? 'created' : asked;
    const descending = sortParam.startsWith('-') && !this.ignoreDescending;
    const key = sortParam.replace(/^-/, '') as SortKey;
    if (!['created', 'updated', 'id'].includes(key)) return { status: 400, body: { errorMessage: `bad sort ${sortParam}` } };
    const direction = descending ? -1 : 1;
    const compare = (a: SimPerson, b: SimPerson): number => direction * (sortValue(a, key) - sortValue(b, key) || a.id - b.id);
    people.sort(compare);
    const total = people.length;
    const next = req.query.get('next');
    if (next) {
      const [value, id] = JSON.parse(Buffer.from(next, 'base64url').toString()) as [number, number];
      people = people.filter((p) => direction * (sortValue(p, key) - value || p.id - id) > 0);
    }
    const offset = Number(req.query.get('offset') ?? 0);
    const page = people.slice(offset, offset + limit);
    const last = page[page.length - 1];
    const cursor = last && people.length > offset + limit ? Buffer.from(JSON.stringify([sortValue(last, key), last.id])).toString('base64url') : null;
    return {
      status: 200,
      body: {
        _metadata: {
          collection: 'people',
          offset,
          limit,
          total,
          next: this.onlyNextLink ? undefined : cursor,
          nextLink: cursor ? `${this.baseUrl}/people?sort=${sortParam}&limit=${limit}&next=${cursor}` : null,
        },
        people: page.map((p) => this.toJson(p)),
      },
    };
  }

  /** A person as FUB prints one: whole-second times with `Z`, the stage's current name and its id. */
  private toJson(p: SimPerson): Record<string, unknown> {
    const stage = this.stageName(p);
    this.reads.push({ personId: p.id, stageId: p.stageId, stage, updated: new Date(fubSeconds(p.updated) * 1000), at: this.now() });
    return {
      id: p.id,
      firstName: p.firstName,
      lastName: p.lastName,
      name: `${p.firstName} ${p.lastName}`,
      stage,
      stageId: p.stageId,
      updated: fubPersonTime(p.updated),
      created: fubPersonTime(p.created),
      assignedUserId: p.assignedUserId,
      assignedTo: p.assignedTo,
      source: p.source,
    };
  }

  /** GET/POST /webhooks and PUT /webhooks/{id}, scoped to the calling system as FUB does. */
  private routeWebhooks(req: SimRequest): SimResponse {
    const system = String(req.headers['x-system'] ?? '');
    const mine = this.webhooks.filter((w) => w.system === system);
    const show = (w: SimWebhook) => ({ id: w.id, event: w.event, url: w.url, status: w.status });
    const one = /^\/v1\/webhooks\/(\d+)$/.exec(req.path);
    if (req.method === 'GET' && req.path === '/v1/webhooks') {
      const event = req.query.get('event');
      const status = req.query.get('status');
      const list = mine.filter((w) => (!event || w.event === event) && (!status || w.status === status));
      return { status: 200, body: { _metadata: { collection: 'webhooks', total: list.length }, webhooks: list.map(show) } };
    }
    if (req.method === 'POST' && req.path === '/v1/webhooks') {
      const { event, url } = (req.body ?? {}) as { event?: string; url?: string };
      if (!event || !url?.startsWith('https://')) return { status: 400, body: { errorMessage: 'event and an https url are required' } };
      if (mine.filter((w) => w.event === event).length >= this.webhooksPerEvent) {
        return { status: 400, body: { errorMessage: `Maximum webhooks reached for event ${event}` } };
      }
      const hook: SimWebhook = { id: this.webhooks.length + 1, event, url, status: 'Active', system };
      this.webhooks.push(hook);
      return { status: 201, body: show(hook) };
    }
    if (req.method === 'PUT' && one) {
      const hook = mine.find((w) => w.id === Number(one[1]));
      if (!hook) return { status: 404, body: { errorMessage: 'Not found' } };
      const { status, url } = (req.body ?? {}) as { status?: SimWebhook['status']; url?: string };
      if (status) hook.status = status;
      if (url) hook.url = url;
      return { status: 200, body: show(hook) };
    }
    return { status: 404, body: { errorMessage: `no route ${req.method} ${req.path}` } };
  }

  private rateLimited(req: SimRequest): SimResponse | undefined {
    if (!this.enforceRateLimit) return undefined;
    const windowStart = req.at - this.rateLimit.windowSeconds * 1000;
    const used = this.requests.filter((r) => r.at > windowStart).length;
    if (used <= this.rateLimit.limit) return undefined;
    return { status: 429, headers: { 'Retry-After': String(this.rateLimit.windowSeconds) }, body: { errorMessage: 'Rate limit exceeded' } };
  }

  private authFailure(req: SimRequest): SimResponse | undefined {
    const basic = (key: string): string => 'Basic ' + Buffer.from(`${key}:`).toString('base64');
    const owner = req.headers.authorization === basic(this.apiKey);
    if (!owner && req.headers.authorization !== basic(this.agentApiKey)) return { status: 401, body: { errorMessage: 'Invalid API key' } };
    if (!owner && req.path.startsWith('/v1/webhooks')) return { status: 403, body: { errorMessage: 'Only the account owner can manage webhooks' } };
    if (req.headers['x-system'] !== this.system || req.headers['x-system-key'] !== this.systemKey) {
      return { status: 403, body: { errorMessage: 'Unknown system' } };
    }
    return undefined;
  }

  private route(req: SimRequest): SimResponse {
    const one = /^\/v1\/people\/(\d+)$/.exec(req.path);
    if (req.method === 'GET' && one) {
      const person = this.people.get(Number(one[1]));
      return person ? { status: 200, body: this.toJson(person) } : { status: 404, body: { errorMessage: 'Not found' } };
    }
    if (req.method === 'GET' && req.path === '/v1/stages') {
      const stages = [...this.stages].map(([id, name]) => ({ id, name }));
      return { status: 200, body: { _metadata: { collection: 'stages', total: stages.length }, stages } };
    }
    if (req.method === 'GET' && req.path === '/v1/people') return this.listPeople(req);
    if (req.path.startsWith('/v1/webhooks')) return this.routeWebhooks(req);
    return { status: 404, body: { errorMessage: `no route ${req.method} ${req.path}` } };
  }
}

type SortKey = 'created' | 'updated' | 'id';

function sortValue(p: SimPerson, key: SortKey): number {
  return key === 'id' ? p.id : p[key].getTime();
}

/** FUB prints times to the whole second: these are the seconds it shows for a moment. */
function fubSeconds(at: Date): number {
  return Math.floor(at.getTime() / 1000);
}

/** `eventCreated` as FUB prints it: "2022-08-15T14:30:00+00:00". */
export function fubEventTime(at: Date): string {
  return new Date(fubSeconds(at) * 1000).toISOString().replace('.000Z', '+00:00');
}

/** A person's `updated` / `created` as FUB prints them: "2026-03-11T16:48:12Z". */
export function fubPersonTime(at: Date): string {
  return new Date(fubSeconds(at) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The moment FUB prints for `at`, as a Date (what our rows must hold for a move made then). */
export function fubSecond(at: Date | number): Date {
  return new Date(Math.floor(new Date(at).getTime() / 1000) * 1000);
}
