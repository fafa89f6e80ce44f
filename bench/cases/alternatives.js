'use strict';
// What a Node user would use instead of a message queue (case 7): a Unix
// domain socket pair, and the child_process IPC channel. Two Node processes
// each; the client forks its echo, so the channel exists before timing.
const { fork, spawn } = require('child_process');
const net = require('net');
const { nowNs, summarize, roleMain, payload } = require('../child');

const SIZES = [64, 4096];

// The harness pins this client (see the placement in harness.js) and says
// where its echo goes; taskset execs node, so the echo's stdio and IPC
// channel are node's own.
const echoCpu = process.env.BENCH_ECHO_CPU;
function echoCommand() {
  return echoCpu ? { file: 'taskset', pre: ['-c', echoCpu, process.execPath] } : { file: process.execPath, pre: [] };
}

function rows() {
  const out = [];
  for (const size of SIZES) {
    const group = 'message round trip';
    const c = `msg-rtt-${size}-c`;
    out.push({
      id: `alt-uds-${size}`,
      group,
      size,
      impl: 'Node: Unix socket pair',
      metric: 'latency',
      c,
      expectNs: 40000,
      targets: [],
      needs: [],
      run: (h, n) => h.node('alternatives.js', ['uds-client', size, n.warmup, n.count]),
    });
    out.push({
      id: `alt-ipc-${size}`,
      group,
      size,
      impl: 'Node: child_process IPC',
      metric: 'latency',
      c,
      expectNs: 60000,
      targets: [],
      needs: [],
      run: (h, n) => h.node('alternatives.js', ['ipc-client', size, n.warmup, n.count]),
    });
  }
  return out;
}

// Drives `total` round trips: send() starts one, the reply handler calls
// done() when `size` bytes (or one message) are back. Callback style, the
// fastest way to write it in Node.
function roundTrips(send, warmup, count) {
  const samples = new Float64Array(count);
  const total = warmup + count;
  let i = 0;
  let t0 = 0;
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  const next = () => {
    if (i > warmup) samples[i - 1 - warmup] = nowNs() - t0;
    if (i === total) {
      resolve(summarize(samples));
      return;
    }
    i++;
    t0 = nowNs();
    send();
  };
  return { promise, start: next, done: next };
}

const roles = {
  // The echo gets one end of a socketpair as fd 3 (libuv makes stdio
  // 'pipe' a socketpair(AF_UNIX, SOCK_STREAM)). Fixed-size messages: a
  // byte stream, so the client counts bytes until the whole reply is back.
  async 'uds-client'(size, warmup, count) {
    size = Number(size);
    const echo = echoCommand();
    const child = spawn(echo.file, [...echo.pre, __filename, 'uds-echo'], {
      stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    });
    const sock = child.stdio[3];
    const body = payload(size);
    const rt = roundTrips(() => sock.write(body), Number(warmup), Number(count));
    let got = 0;
    sock.on('data', (chunk) => {
      got += chunk.length;
      if (got >= size) {
        got -= size;
        rt.done();
      }
    });
    rt.start();
    const result = await rt.promise;
    sock.destroy();
    child.kill();
    return result;
  },
  'uds-echo'() {
    const sock = new net.Socket({ fd: 3, readable: true, writable: true });
    sock.on('data', (chunk) => sock.write(chunk));
    sock.on('end', () => process.exit(0));
    sock.on('error', () => process.exit(0));
    return new Promise(() => {});
  },
  // The IPC channel with 'advanced' serialization, so a Buffer travels as
  // bytes (with 'json' it would become an array of numbers).
  async 'ipc-client'(size, warmup, count) {
    const echo = echoCommand();
    const child = fork(__filename, ['ipc-echo'], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execPath: echo.file,
      execArgv: echo.pre,
    });
    const body = payload(size);
    const rt = roundTrips(() => child.send(body), Number(warmup), Number(count));
    child.on('message', () => rt.done());
    rt.start();
    const result = await rt.promise;
    child.disconnect();
    child.kill();
    return result;
  },
  'ipc-echo'() {
    process.on('message', (m) => process.send(m));
    process.on('disconnect', () => process.exit(0));
    return new Promise(() => {});
  },
};

module.exports = { rows };
roleMain(module, roles);
