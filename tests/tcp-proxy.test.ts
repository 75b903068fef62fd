import { expect } from 'chai';
import pg from 'pg';
import { serverUrl } from './support/test-database.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { sleep } from './support/wait.js';

describe('the test TCP proxy in front of PostgreSQL', function () {
  let proxy: TcpProxy;
  const clients: pg.Client[] = [];

  const connect = async (): Promise<pg.Client> => {
    const target = new URL(serverUrl());
    target.port = String(proxy.port);
    const client = new pg.Client({ connectionString: target.toString(), connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    clients.push(client);
    await client.connect();
    return client;
  };
  const one = async (client: pg.Client): Promise<number> => (await client.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n;

  beforeEach(async () => {
    const target = new URL(serverUrl());
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  });
  afterEach(async () => {
    await proxy.close();
    await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
  });

  it('passes queries through on loopback', async () => {
    const client = await connect();
    expect(await one(client)).to.equal(1);
    expect(proxy.connections()).to.equal(1);
  });

  it('refuse: resets open connections and new ones', async () => {
    const client = await connect();
    proxy.setMode('refuse');
    let failed = false;
    await one(client).catch(() => (failed = true));
    expect(failed, 'a query on the open connection fails').to.equal(true);
    let refused = false;
    await connect().catch(() => (refused = true));
    expect(refused, 'a new connection fails').to.equal(true);
    proxy.setMode('pass');
    expect(await one(await connect())).to.equal(1);
  });

  it('stall: holds bytes both ways without closing, then lets them through', async () => {
    const client = await connect();
    proxy.setMode('stall');
    let answered = false;
    const query = one(client).then((n) => {
      answered = true;
      return n;
    });
    const connecting = connect();
    await sleep(700);
    expect(answered, 'no answer while stalled').to.equal(false);
    expect(proxy.connections(), 'connections stay open').to.equal(2);
    proxy.setMode('pass');
    expect(await query).to.equal(1);
    expect(await one(await connecting)).to.equal(1);
  });

  it('closes cleanly with connections open', async () => {
    await connect();
    await proxy.close();
    expect(proxy.connections()).to.equal(0);
  });
});
