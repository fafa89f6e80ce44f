'use strict';
// What the case files need from the harness: the C programs compiled, kernel
// objects created and always removed, and child processes that are always
// killed — also when the run is interrupted (see installSignalHandlers).
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const BENCH = __dirname;
const BIN = path.join(BENCH, 'bin');

// ---- C programs

/**
 * Compiles every bench/*.c into bench/bin/ with plain `cc -O2` (only when the
 * source or common.h is newer than the binary). Returns null, or why not.
 */
function compileC() {
  const cc = process.env.CC || 'cc';
  fs.mkdirSync(BIN, { recursive: true });
  const header = fs.statSync(path.join(BENCH, 'common.h')).mtimeMs;
  for (const file of fs.readdirSync(BENCH).filter((f) => f.endsWith('.c'))) {
    const out = path.join(BIN, file.slice(0, -2));
    const src = path.join(BENCH, file);
    const newest = Math.max(fs.statSync(src).mtimeMs, header);
    if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest) continue;
    try {
      execFileSync(cc, ['-O2', '-Wall', '-o', out, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const why = err.code === 'ENOENT' ? `no C compiler (${cc})` : `${file}: ${String(err.stderr || err.message).trim()}`;
      return why;
    }
  }
  return null;
}

function bin(name) {
  return path.join(BIN, name);
}

// ---- kernel objects

const live = new Map(); // "kind:id" -> { kind, id }
let pkgCache;
function loadPackage() {
  if (pkgCache === undefined) {
    try {
      pkgCache = require(path.join(BENCH, '..'));
    } catch (err) {
      pkgCache = null;
    }
  }
  return pkgCache;
}

/** Whether the built package exports every one of `names`. */
function packageHas(names) {
  const p = loadPackage();
  return p !== null && names.every((n) => typeof p[n] === 'function');
}

/**
 * Creates an IPC_PRIVATE object: kind 'msg', 'sem' ({ size, values }) or
 * 'shm' ({ size }). Through the C helper when compiled (so the C rows run
 * before the package's class for the kind exists), else through the package.
 */
function createObject(kind, opts = {}) {
  let id;
  if (fs.existsSync(bin('ipcobj'))) {
    const args =
      kind === 'msg' ? ['msg'] : kind === 'sem' ? ['sem', String(opts.size), ...(opts.values || []).map(String)] : ['shm', String(opts.size)];
    id = Number(execFileSync(bin('ipcobj'), args, { encoding: 'utf8' }).trim());
  } else {
    const p = loadPackage();
    if (kind === 'msg') id = p.MessageQueue.create().id;
    else if (kind === 'sem') id = p.SemaphoreSet.create({ size: opts.size, initialValues: opts.values }).id;
    else id = p.SharedMemory.create({ size: opts.size }).id;
  }
  live.set(`${kind}:${id}`, { kind, id });
  if (process.env.BENCH_DEBUG) process.stderr.write(`bench: created ${kind} ${id}\n`);
  return id;
}

/** Removes objects (IPC_RMID); already gone is fine. Synchronous, so usable in exit paths. */
function removeObjects(list) {
  if (list.length === 0) return;
  for (const { kind, id } of list) live.delete(`${kind}:${id}`);
  if (fs.existsSync(bin('ipcobj'))) {
    try {
      execFileSync(bin('ipcobj'), ['rm', ...list.flatMap((o) => [o.kind, String(o.id)])], { stdio: 'ignore' });
      return;
    } catch {
      // fall through to the package
    }
  }
  const p = loadPackage();
  for (const { kind, id } of list) {
    try {
      if (kind === 'msg') p.MessageQueue.fromId(id).remove();
      else if (kind === 'sem') p.SemaphoreSet.fromId(id).remove();
      else p.SharedMemory.fromId(id).remove();
    } catch {
      // gone already, or the class is missing (then the helper did it)
    }
  }
}

function removeAllObjects() {
  removeObjects([...live.values()]);
}

// ---- child processes

const children = new Set();

/**
 * Starts a child and resolves with the JSON of its last stdout line (or
 * null when it printed none). Rejects when it exits non-zero, is killed, or
 * outlives `timeoutMs`.
 */
function run(command, args, { timeoutMs = 30000, env, stdio } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: stdio || ['ignore', 'pipe', 'pipe'], env: env || process.env });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err = (err + d).slice(-2000)));
    const timer = setTimeout(() => {
      err += `\n(timed out after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) {
        const name = path.basename(args[0] && !command.includes('/bench/bin/') ? args[0] : command);
        reject(new Error(`${name} ${args.slice(1, 2).join(' ')} exited ${signal || code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      const lines = out.trim().split('\n').filter(Boolean);
      try {
        resolve(lines.length ? JSON.parse(lines[lines.length - 1]) : null);
      } catch (e) {
        reject(new Error(`bad output from ${command}: ${out.slice(-200)}`));
      }
    });
  });
}

/** Runs a Node script of bench/cases with a role. */
function node(caseFile, args, opts = {}) {
  return run(process.execPath, [...(opts.nodeFlags || []), path.join(BENCH, 'cases', caseFile), ...args.map(String)], opts);
}

/** Runs a C program of bench/bin. */
function c(name, args, opts) {
  return run(bin(name), args.map(String), opts);
}

/**
 * Runs a server and a client together; resolves with the client's result
 * (and the server's as `.server` when it printed one). If one fails, the
 * other is killed so that nothing waits forever.
 */
async function pair(server, client) {
  const s = server();
  const k = client();
  try {
    const [sr, kr] = await Promise.all([s, k]);
    if (kr && sr) kr.server = sr;
    return kr;
  } catch (err) {
    killChildren();
    await Promise.allSettled([s, k]);
    throw err;
  }
}

function killChildren() {
  for (const child of children) child.kill('SIGKILL');
}

/**
 * On SIGINT/SIGTERM/SIGHUP: kill every child, remove every object, exit with
 * 128 + signal. On any exit: remove what is left. Children that are not ours
 * (a client's forked echo) end when their socket or channel closes, and
 * processes blocked on a removed object wake with EIDRM.
 */
function installSignalHandlers(onInterrupt) {
  const codes = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
  for (const sig of Object.keys(codes)) {
    process.on(sig, () => {
      onInterrupt(sig);
      killChildren();
      removeAllObjects();
      process.exit(128 + codes[sig]);
    });
  }
  process.on('exit', () => {
    killChildren();
    removeAllObjects();
  });
}

module.exports = {
  compileC,
  bin,
  loadPackage,
  packageHas,
  createObject,
  removeObjects,
  removeAllObjects,
  run,
  node,
  c,
  pair,
  killChildren,
  installSignalHandlers,
};
