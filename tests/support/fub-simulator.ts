// A small Follow Up Boss: speaks the People API over real HTTP and produces signed webhooks,
// so tests replace FUB only at the HTTP level.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signBody } from '../../src/webhook/verify-signature.js';

export interface SimPerson {
  id: number;
  firstName: string;
  lastName: string;
  stage: string;
  updated: Date;
  created: Date;
  assignedUserId: number | null;
  assignedTo: string | null;
}

export interface SimRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  at: number;
}

/** A canned answer; return undefined from a fault to let the request through. */
export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Milliseconds to wait before answering. */
  delayMs?: number;
}

export type Fault = (req: SimRequest) => SimResponse | undefined;

export interface WebhookEnvelope {
  eventId: string;
  eventCreated: string;
  event: string;
  resourceIds: number[];
  uri: string;
  data?: { stage: string };
}

export class FubSimulator {
  readonly apiKey = 'sim-api-key';
  readonly system = 'fub-collector-tests';
  readonly systemKey = 'sim-system-key-' + randomUUID();
  readonly people = new Map<number, SimPerson>();
  readonly requests: SimRequest[] = [];
  /** Consulted in order for each request; the first answer wins. Remove with `faults.length = 0`. */
  readonly faults: Fault[] = [];
  /** Advertised in X-RateLimit-* headers; `enforceRateLimit` also answers 429 past it. */
  rateLimit = { limit: 250, windowSeconds: 10 };
  enforceRateLimit = false;
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
    this.requests.length = 0;
    this.faults.length = 0;
    this.enforceRateLimit = false;
  }

  addPerson(id: number, stage: string, at = new Date(), names?: { firstName: string; lastName: string }): SimPerson {
    const person: SimPerson = {
      id,
      firstName: names?.firstName ?? `First${id}`,
      lastName: names?.lastName ?? `Last${id}`,
      stage,
      updated: at,
      created: at,
      assignedUserId: 7,
      assignedTo: 'Agent Seven',
    };
    this.people.set(id, person);
    return person;
  }

  /** Moves a person in FUB and returns the webhooks FUB would send for that move. */
  movePerson(id: number, stage: string, at = new Date()): { stageUpdated: WebhookEnvelope; stageUpdatedBare: WebhookEnvelope; peopleUpdated: WebhookEnvelope } {
    const person = this.people.get(id);
    if (!person) throw new Error(`no simulated person ${id}`);
    person.stage = stage;
    person.updated = at;
    const envelope = (event: string): WebhookEnvelope => ({
      eventId: randomUUID(),
      eventCreated: at.toISOString(),
      event,
      resourceIds: [id],
      uri: `${this.baseUrl}/people?id=${id}`,
    });
    return {
      stageUpdated: { ...envelope('peopleStageUpdated'), data: { stage } },
      stageUpdatedBare: envelope('peopleStageUpdated'),
      peopleUpdated: envelope('peopleUpdated'),
    };
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
    const request: SimRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, at: Date.now() };
    this.requests.push(request);
    let answer: SimResponse | undefined;
    for (const fault of this.faults) {
      answer = fault(request);
      if (answer) break;
    }
    answer ??= this.rateLimited(request) ?? this.authFailure(request) ?? this.route(request);
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (res.destroyed) return;
    const used = this.requests.filter((r) => r.at > Date.now() - this.rateLimit.windowSeconds * 1000).length;
    res.writeHead(answer.status, {
      'Content-Type': 'application/json',
      'X-RateLimit-Limit': String(this.rateLimit.limit),
      'X-RateLimit-Remaining': String(Math.max(0, this.rateLimit.limit - used)),
      'X-RateLimit-Window': String(this.rateLimit.windowSeconds),
      'X-RateLimit-Context': 'global',
      ...answer.headers,
    });
    res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
  }

  private rateLimited(req: SimRequest): SimResponse | undefined {
    if (!this.enforceRateLimit) return undefined;
    const windowStart = req.at - this.rateLimit.windowSeconds * 1000;
    const used = this.requests.filter((r) => r.at > windowStart).length;
    if (used <= this.rateLimit.limit) return undefined;
    return { status: 429, headers: { 'Retry-After': String(this.rateLimit.windowSeconds) }, body: { errorMessage: 'Rate limit exceeded' } };
  }

  private authFailure(req: SimRequest): SimResponse | undefined {
    const expected = 'Basic ' + Buffer.from(`${this.apiKey}:`).toString('base64');
    if (req.headers.authorization !== expected) return { status: 401, body: { errorMessage: 'Invalid API key' } };
    if (req.headers['x-system'] !== this.system || req.headers['x-system-key'] !== this.systemKey) {
      return { status: 403, body: { errorMessage: 'Unknown system' } };
    }
    return undefined;
  }

  private route(req: SimRequest): SimResponse {
    const one = /^\/v1\/people\/(\d+)$/.exec(req.path);
    if (req.method === 'GET' && one) {
      const person = this.people.get(Number(one[1]));
      return person ? { status: 200, body: toJson(person) } : { status: 404, body: { errorMessage: 'Not found' } };
    }
    if (req.method === 'GET' && req.path === '/v1/people') {
      const ids = req.query.get('id');
      const limit = Math.min(100, Number(req.query.get('limit') ?? 10));
      const people = ids
        ? ids.split(',').map(Number).flatMap((id) => (this.people.has(id) ? [this.people.get(id)!] : []))
        : [...this.people.values()];
      const page = people.slice(0, limit);
      return {
        status: 200,
        body: { _metadata: { collection: 'people', offset: 0, limit, total: people.length }, people: page.map(toJson) },
      };
    }
    return { status: 404, body: { errorMessage: `no route ${req.method} ${req.path}` } };
  }
}

function toJson(p: SimPerson): Record<string, unknown> {
  return {
    id: p.id,
    firstName: p.firstName,
    lastName: p.lastName,
    name: `${p.firstName} ${p.lastName}`,
    stage: p.stage,
    updated: p.updated.toISOString(),
    created: p.created.toISOString(),
    assignedUserId: p.assignedUserId,
    assignedTo: p.assignedTo,
  };
}
