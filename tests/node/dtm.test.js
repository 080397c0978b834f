// dtm.test.js: cdtm's coordinator, driven by an independent gRPC client.
//
// @grpc/grpc-js (with protobufjs through @grpc/proto-loader) plays the part of
// a dtmgrpc application: it asks the built `dtm` for a gid, then submits the
// demo's place-order saga (order-srv create / createRollback, stock-srv
// deduct / deductRollback) with BinPayloads packed from proto/order.proto and
// proto/stock.proto and WaitResult true. It checks what a user observes:
//   - saga_reaches_the_c_services: Submit answers OK, HTTP query says
//     succeed, the order row exists with row_state 0 and the stock went down;
//   - saga_over_the_stock_rolls_back: Submit answers ABORTED (10), the saga
//     ends failed, the order row is cancelled (row_state -1) and the stock is
//     unchanged.
//
// It starts dtm (own database dtm_test_node, created with `dtm -r`),
// order-srv and stock-srv from $CDTM_BIN_DIR on free ports against the
// MariaDB of the test run ($MARIADB_PORT), and stops them by PID. Goods ids
// 3001.. belong to this test only.
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
const DB_NAME = 'dtm_test_node';
const GOODS = 3001;
const CALL_TIMEOUT_MS = 30000;

const LOAD_OPTS = { includeDirs: [path.join(ROOT, 'proto'), '/usr/include'], keepCase: true,
  defaults: true };
const dtmDef = protoLoader.loadSync(path.join(ROOT, 'proto', 'dtmgimp.proto'), LOAD_OPTS);
const busiDef = protoLoader.loadSync(
  [path.join(ROOT, 'proto', 'order.proto'), path.join(ROOT, 'proto', 'stock.proto')], LOAD_OPTS);
const dtmgimp = grpc.loadPackageDefinition(dtmDef).dtmgimp;

// The branch payloads, packed by protobufjs with the methods' own serializers.
const packCreate = (req) => busiDef['pb.order'].create.requestSerialize(req);
const packDeduct = (req) => busiDef['pb.stock'].deduct.requestSerialize(req);

// ---- database (as root, test-made SQL only) ----------------------------------

function sql(query) {
  return execFileSync('mariadb', ['--no-defaults', '-h127.0.0.1', `-P${DB_PORT}`, '-uroot',
    '-N', '-B', '-e', query], { encoding: 'utf8' }).trim();
}

function sqlInt(query, def) {
  const out = sql(query);
  return out === '' || out === 'NULL' ? def : Number(out);
}

const stockOf = (id) =>
  sqlInt(`SELECT num FROM \`dtm-gozero-stock\`.\`stock\` WHERE goods_id=${id}`, -1);

const orderState = (gid) =>
  sqlInt(`SELECT row_state FROM \`dtm-gozero-order\`.\`order\` WHERE gid='${gid}'`, -99);

function setStock(id, num) {
  sql(`INSERT INTO \`dtm-gozero-stock\`.\`stock\` (goods_id, num) VALUES (${id}, ${num}) ` +
      'ON DUPLICATE KEY UPDATE num=VALUES(num)');
}

// ---- processes and ports -------------------------------------------------------

// A random port below the kernel's ephemeral range that can be bound now (an
// ephemeral port could be taken by an outgoing connection before the server
// binds it), as tests/harness_proc.c does.
function ephemeralLow() {
  try {
    const lo = parseInt(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'), 10);
    return lo > 12000 ? lo : 32768;
  } catch (_) {
    return 32768;
  }
}

function tryBind(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function freePort() {
  const lo = ephemeralLow();
  for (let i = 0; i < 200; i++) {
    const port = 10000 + Math.floor(Math.random() * (lo - 10000));
    if (await tryBind(port)) return port;
  }
  throw new Error('no free port below the ephemeral range');
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

async function waitPort(port, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await portOpen(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `cdtm-node-dtm-${process.pid}-`));
const children = []; // { name, proc, log, exited }

function start(name, args) {
  const log = path.join(tmp, `${name}.log`);
  const fd = fs.openSync(log, 'a');
  const proc = spawn(path.join(BIN_DIR, name), args, { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  children.push({ name, proc, log, exited });
}

function writeServiceConf(svc, port) {
  const conf = path.join(tmp, `${svc}.yaml`);
  fs.writeFileSync(conf, [
    `Name: ${svc}.rpc`,
    `ListenOn: 127.0.0.1:${port}`,
    'DB:',
    `  DataSource: "${svc}_srv:${svc}_srv@tcp(127.0.0.1:${DB_PORT})/dtm-gozero-${svc}` +
      '?charset=utf8mb4&parseTime=true&loc=UTC"',
    ''].join('\n'));
  return conf;
}

function writeDtmConf(httpPort, grpcPort) {
  const conf = path.join(tmp, 'conf.yml');
  fs.writeFileSync(conf, [
    'Store:',
    "  Driver: 'mysql'",
    "  Host: '127.0.0.1'",
    `  Port: ${DB_PORT}`,
    "  User: 'root'",
    "  Password: ''",
    `  Db: '${DB_NAME}'`,
    `HttpPort: ${httpPort}`,
    `GrpcPort: ${grpcPort}`,
    'RetryInterval: 1',
    'TimeoutToFail: 3',
    'RequestTimeout: 3',
    'TransCronInterval: 1',
    ''].join('\n'));
  return conf;
}

async function stopChild(c, timeoutMs) {
  if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
  let timer;
  const timeout = new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); });
  let res = await Promise.race([c.exited, timeout]);
  clearTimeout(timer);
  if (res === null) {
    c.proc.kill('SIGKILL');
    res = await c.exited;
    res.killed = true;
  }
  return res;
}

// ---- the coordinator's surfaces ---------------------------------------------------

const ports = {};
let dtm; // the dtmgimp.Dtm client

function rpc(method, req) {
  return new Promise((resolve) => {
    dtm[method](req, { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err, resp) => resolve(err ? { code: err.code, details: err.details } : { code: 0, resp }));
  });
}

async function query(gid) {
  const r = await fetch(`http://127.0.0.1:${ports.http}/api/dtmsvr/query?gid=${encodeURIComponent(gid)}`);
  assert.equal(r.status, 200, `query ${gid}: HTTP ${r.status}`);
  return r.json();
}

// The place-order saga of the demo: create the order, then deduct the stock.
function placeOrderSaga(gid, userId, num) {
  const o = `127.0.0.1:${ports.order}/pb.order`;
  const s = `127.0.0.1:${ports.stock}/pb.stock`;
  return {
    Gid: gid,
    TransType: 'saga',
    Steps: JSON.stringify([
      { action: `${o}/create`, compensate: `${o}/createRollback` },
      { action: `${s}/deduct`, compensate: `${s}/deductRollback` },
    ]),
    BinPayloads: [packCreate({ goodsId: GOODS, userId, num }), packDeduct({ goodsId: GOODS, num })],
    TransOptions: { WaitResult: true },
  };
}

// ---- setup and teardown ---------------------------------------------------------------

before(async () => {
  assert.ok(DB_PORT, 'MARIADB_PORT must name the MariaDB of the test run');
  for (const b of ['dtm', 'order-srv', 'stock-srv'])
    assert.ok(fs.existsSync(path.join(BIN_DIR, b)), `${b} is not built in ${BIN_DIR}`);
  sql(`DROP DATABASE IF EXISTS ${DB_NAME}`); // `dtm -r` creates it again
  setStock(GOODS, 10);
  for (const k of ['http', 'grpc', 'order', 'stock']) ports[k] = await freePort();
  start('order-srv', ['-f', writeServiceConf('order', ports.order)]);
  start('stock-srv', ['-f', writeServiceConf('stock', ports.stock)]);
  start('dtm', ['-c', writeDtmConf(ports.http, ports.grpc), '-r']);
  await waitPort(ports.order, 10000, 'order-srv');
  await waitPort(ports.stock, 10000, 'stock-srv');
  await waitPort(ports.grpc, 10000, 'dtm gRPC');
  await waitPort(ports.http, 10000, 'dtm HTTP');
  dtm = new dtmgimp.Dtm(`127.0.0.1:${ports.grpc}`, grpc.credentials.createInsecure());
});

after(async () => {
  if (dtm) dtm.close();
  let ok = true;
  for (const c of children) {
    const res = await stopChild(c, 8000);
    if (res.code !== 0) ok = false;
  }
  if (ok) fs.rmSync(tmp, { recursive: true, force: true });
  else console.error(`logs kept in ${tmp}`);
});

// ---- tests ------------------------------------------------------------------------------

async function newGid() {
  const r = await rpc('NewGid', {});
  assert.equal(r.code, 0, `NewGid: ${r.details}`);
  assert.match(r.resp.Gid, /^[2-9A-HJ-NP-Za-km-z]{22}$/);
  return r.resp.Gid;
}

test('saga_reaches_the_c_services', async () => {
  const gid = await newGid();
  const before = stockOf(GOODS);
  const r = await rpc('Submit', placeOrderSaga(gid, 7, 2));
  assert.equal(r.code, 0, `Submit: status ${r.code} "${r.details}"`);
  assert.deepEqual(r.resp, {}); // google.protobuf.Empty

  const q = await query(gid);
  assert.equal(q.transaction.status, 'succeed');
  assert.equal(q.transaction.protocol, 'grpc');
  const rows = q.branches.map((b) => `${b.branch_id}/${b.op}/${b.status}`);
  assert.deepEqual(rows, ['01/compensate/prepared', '01/action/succeed',
    '02/compensate/prepared', '02/action/succeed']);

  assert.equal(orderState(gid), 0, 'the order row exists, awaiting payment');
  assert.equal(sqlInt(`SELECT user_id FROM \`dtm-gozero-order\`.\`order\` WHERE gid='${gid}'`, -1), 7);
  assert.equal(stockOf(GOODS), before - 2);
});

test('saga_over_the_stock_rolls_back', async () => {
  const gid = await newGid();
  const before = stockOf(GOODS);
  const r = await rpc('Submit', placeOrderSaga(gid, 8, before + 1));
  assert.equal(r.code, grpc.status.ABORTED, `Submit: status ${r.code} "${r.details}"`);

  const q = await query(gid);
  assert.equal(q.transaction.status, 'failed');
  assert.equal(orderState(gid), -1, 'the order row is cancelled by createRollback');
  assert.equal(stockOf(GOODS), before, 'the stock is unchanged');
});

test('resubmit_of_a_finished_saga_is_aborted', async () => {
  const gid = await newGid();
  const first = await rpc('Submit', placeOrderSaga(gid, 9, 1));
  assert.equal(first.code, 0, `Submit: "${first.details}"`);
  const again = await rpc('Submit', placeOrderSaga(gid, 9, 1));
  assert.equal(again.code, grpc.status.ABORTED);
  assert.match(again.details, /current status 'succeed', cannot sumbmit/);
});

test('bad_request_is_invalid_argument', async () => {
  const r = await rpc('Submit', { Gid: '', TransType: 'saga', Steps: '[]' });
  assert.equal(r.code, grpc.status.INVALID_ARGUMENT);
  assert.match(r.details, /Gid/);
  const m = await rpc('Submit', { Gid: 'x', TransType: 'msg', Steps: '[]' });
  assert.equal(m.code, grpc.status.UNIMPLEMENTED);
});
