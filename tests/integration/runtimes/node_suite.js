// Node.js in the container (t_runtimes.sh): V8's JIT (executable mappings), libuv's epoll and
// thread pool, worker threads, a child process, files on a tmpfs, and an HTTP server and
// client on loopback.  Every step prints in a fixed order.
'use strict';
const fs = require('fs'), os = require('os'), cp = require('child_process'), http = require('http');
const zlib = require('zlib'), crypto = require('crypto');
const { Worker } = require('worker_threads');

function step(name, value) { console.log(`${name}: ${value}`); }

async function main() {
  step('platform', `${os.platform()} cpus>0=${os.cpus().length > 0}`);
  let s = 0;
  for (let i = 0; i < 5e6; i++) s += i % 7; // hot loop: optimised by the JIT
  step('loop', s);
  fs.writeFileSync('/tmp/node.txt', 'x'.repeat(100000));
  await fs.promises.appendFile('/tmp/node.txt', 'end');
  step('fs', (await fs.promises.readFile('/tmp/node.txt', 'utf8')).length);
  step('gzip', zlib.gunzipSync(zlib.gzipSync(Buffer.alloc(1 << 20, 'a'))).length);
  step('sha256', crypto.createHash('sha256').update('cvisor').digest('hex').slice(0, 16));
  const hashes = await Promise.all([1, 2, 3, 4].map(i => new Promise((res, rej) =>
    crypto.pbkdf2('pw', 'salt' + i, 1000, 16, 'sha256', (e, k) => e ? rej(e) : res(k.toString('hex'))))));
  step('threadpool', hashes.length + ' ' + hashes[0].slice(0, 8));
  step('exec', cp.execFileSync('/bin/sh', ['-c', 'echo child $((6*7))']).toString().trim());
  const got = await new Promise((res, rej) => {
    const w = new Worker('const { parentPort } = require("worker_threads");' +
      'let x = 0; for (let i = 0; i < 1e6; i++) x += i; parentPort.postMessage(x);', { eval: true });
    w.on('message', res);
    w.on('error', rej);
  });
  step('worker', got);
  const body = await new Promise((res, rej) => {
    const srv = http.createServer((q, r) => r.end('pong ' + q.url)).listen(0, '127.0.0.1', () => {
      http.get({ host: '127.0.0.1', port: srv.address().port, path: '/ping' }, r => {
        let b = '';
        r.on('data', d => b += d);
        r.on('end', () => { srv.close(); res(b); });
      }).on('error', rej);
    });
  });
  step('http', body);
  await new Promise(r => setTimeout(r, 20));
  step('timer', 'fired');
}

main().catch(e => { console.error(e); process.exit(1); });
