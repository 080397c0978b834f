// services.test.js: order-srv and stock-srv, seen from @grpc/grpc-js.
//
// The same scenarios as tests/test_services.c (tests/data/service_cases.json),
// run by an independent gRPC implementation: it packs requests with
// protobufjs (through @grpc/proto-loader), sends DTM's metadata, and checks
// every status code and message, and the rows each call leaves (read with the
// `mariadb` client as root). grpc-js drops the reply message of a non-OK
// status, so only codes and details are compared. Beyond the table, it calls
// deduct and pb.order/get (cdtm's own method) through generated stubs.
//
// It starts its own order-srv and stock-srv ($CDTM_BIN_DIR) on free ports
// against the MariaDB of the test run ($MARIADB_PORT), and stops them by PID.
// Goods ids 2001.. and gids "node-<pid>-..." belong to this test only.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const ROOT = process.env.CDTM_ROOT || path.resolve(__dirname, '..', '..');
const BIN_DIR = process.env.CDTM_BIN_DIR || path.join(ROOT, 'build');
const DB_PORT = process.env.MARIADB_PORT;
const PREFIX = `node-${process.pid}-`;
const GOODS_BASE = 2000; // table goods i is GOODS_BASE + i + 1
const CALL_TIMEOUT_MS = 15000;

const table = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'tests', 'data', 'service_cases.json'), 'utf8'));

// protobufjs serializers for the two request messages, from the real protos.
const packageDef = protoLoader.loadSync(
  [path.join(ROOT, 'proto', 'order.proto'), path.join(ROOT, 'proto', 'stock.proto')],
  { includeDirs: [path.join(ROOT, 'proto'), '/usr/include'], keepCase: true, defaults: true });
const SERVICES = { order: packageDef['pb.order'], stock: packageDef['pb.stock'] };

// ---- database (as root, test-made SQL only) --------------------------------

function sql(query) {
  return execFileSync('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${DB_PORT}`, '-uroot',
    '-N', '-B', '-e', query], { encoding: 'utf8' }).trim();
}

function sqlInt(query, def) {
  const out = sql(query);
  return out === '' || out === 'NULL' ? def : Number(out);
}

function goodsId(name) {
  const i = table.goods.findIndex((g) => g.name === name);
  assert.ok(i >= 0, `unknown goods '${name}' in the table`);
  return GOODS_BASE + i + 1;
}

const stockOf = (id) =>
  sqlInt(`SELECT num FROM \`dtm-gozero-stock\`.\`stock\` WHERE goods_id=${id}`, -1);

function setStock(id, num) {
  sql(`INSERT INTO \`dtm-gozero-stock\`.\`stock\` (goods_id, num) VALUES (${id}, ${num}) ` +
      'ON DUPLICATE KEY UPDATE num=VALUES(num)');
}

// ---- processes and ports ------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

async function waitPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await portOpen(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `cdtm-node-services-${process.pid}-`));
const children = []; // { name, proc, log, exited: Promise<{code, signal}> }

function startService(svc, port) {
  const conf = path.join(tmp, `${svc}.yaml`);
  fs.writeFileSync(conf, [
    `Name: ${svc}.rpc`,
    `ListenOn: 127.0.0.1:${port}`,
    'DB:',
    `  DataSource: "${svc}_srv:${svc}_srv@tcp(127.0.0.1:${DB_PORT})/dtm-gozero-${svc}` +
      '?charset=utf8mb4&parseTime=true&loc=UTC"',
    ''].join('\n'));
  const log = path.join(tmp, `${svc}.log`);
  const fd = fs.openSync(log, 'a');
  const proc = spawn(path.join(BIN_DIR, `${svc}-srv`), ['-f', conf],
    { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  children.push({ name: `${svc}-srv`, proc, log, exited });
  return proc;
}

// Sends SIGTERM, waits up to timeoutMs, then SIGKILL. Resolves to how it exited.
async function stopChild(c, timeoutMs) {
  if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
  let timer;
  const timeout = new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); });
  let res = await Promise.race([c.exited, timeout]);
  clearTimeout(timer); // a pending timer would keep node alive
  if (res === null) {
    c.proc.kill('SIGKILL');
    res = await c.exited;
    res.killed = true;
  }
  return res;
}

// ---- gRPC ---------------------------------------------------------------------

const ports = {};
const clients = {};

// One unary call. Resolves to {code, details}: grpc-js drops the reply of a
// non-OK status, and the services' replies are empty messages anyway.
function call(service, method, mdObj, body) {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(mdObj)) md.add(k, v);
  const def = SERVICES[service][method];
  // A raw Buffer goes out as it is (garbage bytes, unknown methods); an object
  // is packed with the method's own protobufjs serializer.
  const serialize = Buffer.isBuffer(body) ? (b) => b : def.requestSerialize;
  return new Promise((resolve) => {
    clients[service].makeUnaryRequest(`/pb.${service}/${method}`, serialize, (b) => b, body, md,
      { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: 'OK' }));
  });
}

function requestOf(service, spec) {
  if ('raw_hex' in spec) return Buffer.from(spec.raw_hex, 'hex');
  const req = { ...spec.req };
  if ('goods' in req) {
    req.goodsId = goodsId(req.goods);
    delete req.goods;
  }
  return req;
}

// ---- setup and teardown ----------------------------------------------------------

before(async () => {
  assert.ok(DB_PORT, 'MARIADB_PORT must name the MariaDB of the test run');
  // Rows of an earlier run that had the same pid.
  sql(`DELETE FROM dtm_barrier.barrier WHERE gid LIKE '${PREFIX}%'`);
  sql(`DELETE FROM \`dtm-gozero-order\`.\`order\` WHERE gid LIKE '${PREFIX}%'`);
  table.goods.forEach((g, i) => {
    const id = GOODS_BASE + i + 1;
    if (g.num === null) sql(`DELETE FROM \`dtm-gozero-stock\`.\`stock\` WHERE goods_id=${id}`);
    else setStock(id, g.num);
  });
  ports.order = await freePort();
  ports.stock = await freePort();
  startService('order', ports.order);
  startService('stock', ports.stock);
  await waitPort(ports.order, 10000);
  await waitPort(ports.stock, 10000);
  for (const s of ['order', 'stock'])
    clients[s] = new grpc.Client(`127.0.0.1:${ports[s]}`, grpc.credentials.createInsecure());
});

after(async () => {
  for (const c of Object.values(clients)) c.close();
  let ok = true;
  for (const c of children) {
    const res = await stopChild(c, 8000);
    if (res.code !== 0) ok = false;
  }
  if (ok) fs.rmSync(tmp, { recursive: true, force: true });
  else console.error(`service logs kept in ${tmp}`);
});

// ---- the shared table ---------------------------------------------------------------

for (const c of table.cases) {
  test(c.name, async () => {
    const gid = PREFIX + c.name;
    for (const [name, num] of Object.entries(c.stock || {})) setStock(goodsId(name), num);
    const start = table.goods.map((g, i) => stockOf(GOODS_BASE + i + 1));
    for (const [k, spec] of c.calls.entries()) {
      const where = `${c.name}[${k}] ${spec.service}.${spec.method}`;
      const md = {};
      for (const [key, v] of Object.entries(spec.md)) md[key] = v === '$gid' ? gid : v;
      const got = await call(spec.service, spec.method, md, requestOf(spec.service, spec));
      assert.equal(got.code, spec.code, `${where}: status ${got.code} "${got.details}"`);
      if ('message' in spec) assert.equal(got.details, spec.message, `${where}: message`);

      const a = spec.after || {};
      if ('orders' in a)
        assert.equal(sqlInt(`SELECT COUNT(*) FROM \`dtm-gozero-order\`.\`order\` WHERE gid='${gid}'`, -1),
          a.orders, `${where}: orders`);
      if ('row_state' in a)
        assert.equal(sqlInt(`SELECT row_state FROM \`dtm-gozero-order\`.\`order\` WHERE gid='${gid}'`, -99),
          a.row_state, `${where}: row_state`);
      if ('barrier' in a)
        assert.equal(sqlInt(`SELECT COUNT(*) FROM dtm_barrier.barrier WHERE gid='${gid}'`, -1),
          a.barrier, `${where}: barrier rows`);
      for (const [name, delta] of Object.entries(a.stock || {})) {
        const id = goodsId(name);
        assert.equal(stockOf(id) - start[id - GOODS_BASE - 1], delta, `${where}: stock of ${name}`);
      }
    }
  });
}

// ---- beyond the table -----------------------------------------------------------------

test('generated_stub_calls_deduct', async () => {
  // The way an application would call it: the stub proto-loader generates.
  const pb = grpc.loadPackageDefinition(packageDef).pb;
  const stub = new pb.stock(`127.0.0.1:${ports.stock}`, grpc.credentials.createInsecure());
  const id = goodsId('plenty');
  const before = stockOf(id);
  const md = new grpc.Metadata();
  md.add('dtm-gid', `${PREFIX}stub`);
  md.add('dtm-trans_type', 'saga');
  md.add('dtm-branch_id', '02');
  md.add('dtm-op', 'action');
  const reply = await new Promise((resolve, reject) =>
    stub.deduct({ goodsId: id, num: 1 }, md, { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err, resp) => (err ? reject(err) : resolve(resp))));
  stub.close();
  assert.deepEqual(reply, {}); // DeductResp is an empty message
  assert.equal(stockOf(id), before - 1);
});

test('generated_stub_reads_the_order_row', async () => {
  // pb.order/get, cdtm's own method (order-api's GET /order/{gid}), through
  // protobufjs's encoding of GetReq and GetResp.
  const pb = grpc.loadPackageDefinition(packageDef).pb;
  const stub = new pb.order(`127.0.0.1:${ports.order}`, grpc.credentials.createInsecure());
  const call = (method, req, md) => new Promise((resolve, reject) =>
    stub[method](req, md || new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err, resp) => (err ? reject(err) : resolve(resp))));
  const gid = `${PREFIX}stubget`;
  const md = new grpc.Metadata();
  md.add('dtm-gid', gid);
  md.add('dtm-trans_type', 'saga');
  md.add('dtm-branch_id', '01');
  md.add('dtm-op', 'action');
  try {
    assert.equal((await call('get', { gid })).found, false);
    await call('create', { userId: 5, goodsId: goodsId('plenty'), num: 2 }, md);
    const row = await call('get', { gid });
    const n = (v) => Number(String(v)); // int64 arrives as a Long or a number
    const id = sqlInt(`SELECT id FROM \`dtm-gozero-order\`.\`order\` WHERE gid='${gid}'`, -1);
    assert.equal(row.found, true);
    assert.equal(n(row.id), id);
    assert.equal(n(row.userId), 5);
    assert.equal(n(row.goodsId), goodsId('plenty'));
    assert.equal(n(row.num), 2);
    assert.equal(n(row.rowState), 0);
    await assert.rejects(call('get', { gid: 'a b' }),
      (err) => err.code === grpc.status.INVALID_ARGUMENT && /printable/.test(err.details));
  } finally {
    stub.close();
  }
});

test('sigterm_stops_cleanly', async () => {
  for (const c of children) {
    const t0 = Date.now();
    const res = await stopChild(c, 8000);
    assert.equal(res.code, 0, `${c.name} exit ${JSON.stringify(res)} (log ${c.log})`);
    assert.ok(Date.now() - t0 < 8000, `${c.name} took ${Date.now() - t0} ms to stop`);
  }
});
