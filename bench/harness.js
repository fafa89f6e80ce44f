'use strict';
// What the case files need from the harness: the C programs compiled, kernel
// objects created and always removed, and child processes that are always
// killed — also when the run is interrupted (see installSignalHandlers).
const { spawn, execFileSync } = require('child_process');
const crypto = require('crypto');
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
      execFileSync(cc, ['-O2', '-Wall', `-I${path.join(BENCH, '..', 'include')}`, '-o', out, src], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (err) {
      const why =
        err.code === 'ENOENT' ? `no C compiler (${cc})` : `${file}: ${String(err.stderr || err.message).trim()}`;
      return why;
    }
  }
  return null;
}

function bin(name) {
  return path.join(BIN, name);
}

// ---- the Python peer
//
// README names Python's sysv_ipc as the peer people compare with; bench/peer.py
// runs the same protocols as msg.c and sem.c through it. Debian's
// python3-sysv-ipc installs it for the system interpreter, /usr/bin/python3,
// which is not necessarily the python3 first on PATH (pyenv): BENCH_PYTHON
// chooses another.
let pythonCache;

/** The interpreter for bench/peer.py, or null when none can import sysv_ipc. */
function pythonPath() {
  return checkPython() === null ? pythonCache.path : null;
}

/** Returns null when bench/peer.py can run, or why not (the rows are then skipped). */
function checkPython() {
  if (pythonCache === undefined) {
    const candidates = process.env.BENCH_PYTHON ? [process.env.BENCH_PYTHON] : ['/usr/bin/python3', 'python3'];
    pythonCache = { path: null, why: null };
    for (const candidate of candidates) {
      try {
        const version = execFileSync(
          candidate,
          ['-c', 'import sysv_ipc, sys; print(sysv_ipc.VERSION, sys.version.split()[0])'],
          {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'ignore'],
          },
        ).trim();
        pythonCache = { path: candidate, version, why: null };
        break;
      } catch (err) {
        pythonCache.why =
          err.code === 'ENOENT'
            ? `no ${candidate}`
            : `${candidate} cannot import sysv_ipc (Debian: apt-get install python3-sysv-ipc; or set BENCH_PYTHON)`;
      }
    }
  }
  return pythonCache.path ? null : pythonCache.why;
}

/** "sysv_ipc 1.0.0 on Python 3.11.2", or null. */
function pythonVersion() {
  if (checkPython() !== null) return null;
  const [lib, py] = pythonCache.version.split(' ');
  return `sysv_ipc ${lib} on Python ${py}`;
}

// ---- kernel objects

const live = new Map(); // "kind:id" -> { kind, id }
let pkgCache;
function loadPackage() {
  if (pkgCache === undefined) {
    try {
      pkgCache = require(path.join(BENCH, '..'));
    } catch {
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
  return create(kind, opts, null);
}

/**
 * Like createObject, but at a random unused key: for peers that can only
 * attach by key (Python's sysv_ipc). Created with IPC_EXCL, so an object
 * someone else holds is never taken over. Resolves to { id, key }.
 */
function createKeyedObject(kind, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    const key = crypto.randomInt(1, 0x7fffffff);
    try {
      return { id: create(kind, opts, key), key };
    } catch (err) {
      if (!err.keyTaken || attempt === 20) throw err;
    }
  }
}

function create(kind, opts, key) {
  let id;
  if (fs.existsSync(bin('ipcobj'))) {
    const args =
      kind === 'msg'
        ? ['msg']
        : kind === 'sem'
          ? ['sem', String(opts.size), ...(opts.values || []).map(String)]
          : ['shm', String(opts.size)];
    try {
      id = Number(
        execFileSync(bin('ipcobj'), [...(key === null ? [] : ['-k', String(key)]), ...args], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        }).trim(),
      );
    } catch (err) {
      const e = new Error(`ipcobj ${args[0]}: ${String(err.stderr || err.message).trim()}`);
      e.keyTaken = err.status === 3; // EEXIST
      throw e;
    }
  } else {
    const p = loadPackage();
    const k = key === null ? {} : { key };
    try {
      if (kind === 'msg') id = p.MessageQueue.create(k).id;
      else if (kind === 'sem') id = p.SemaphoreSet.create({ ...k, size: opts.size, initialValues: opts.values }).id;
      else id = p.SharedMemory.create({ ...k, size: opts.size }).id;
    } catch (err) {
      err.keyTaken = err.code === 'EEXIST';
      throw err;
    }
  }
  live.set(`${kind}:${id}`, { kind, id });
  if (process.env.BENCH_DEBUG)
    process.stderr.write(`bench: created ${kind} ${id}${key === null ? '' : ` key ${key}`}\n`);
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

// ---- CPU placement
//
// On a small machine a two-process round trip is bimodal: with both ends on
// one CPU a trip is two context switches; with the ends on two CPUs it is two
// cross-CPU wake-ups, which on a VM whose idle vCPUs halt cost several times
// more. Left to the scheduler, each repetition lands in one mode or the other
// depending on the machine's other load, and a C row and a package row of the
// same repetition may not even agree, which makes their ratio meaningless.
// So the children are pinned (taskset), the same way for every row:
//   same  — both ends on one CPU (default: the per-call cost, stable)
//   split — server on one CPU, client on another (the cross-CPU wake-up cost)
//   free  — not pinned (the scheduler decides)
let placement = 'free';
let cpus = null; // [server CPU, client CPU], or null when not pinned
let placing = null; // the CPU for the child being started, set by pair()

/** Chooses the placement; returns null, or why it cannot be honoured (then 'free'). */
function setPlacement(mode) {
  placement = 'free';
  cpus = null;
  if (mode === 'free') return null;
  let allowed;
  try {
    // The CPUs this process may use (a container may restrict them).
    const out = execFileSync('taskset', ['-cp', String(process.pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    allowed = parseCpuList(out.slice(out.lastIndexOf(':') + 1).trim());
  } catch {
    return 'taskset is not available: children not pinned';
  }
  if (allowed.length === 0) return 'no CPU list from taskset: children not pinned';
  if (mode === 'split' && allowed.length < 2) return 'one CPU only: children not pinned';
  placement = mode;
  // The last allowed CPUs: CPU 0 takes more of the machine's interrupts.
  const last = allowed[allowed.length - 1];
  cpus = mode === 'same' ? [last, last] : [allowed[allowed.length - 2], last];
  return null;
}

function parseCpuList(text) {
  const out = [];
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (!Number.isInteger(a)) continue;
    for (let i = a; i <= (Number.isInteger(b) ? b : a); i++) out.push(i);
  }
  return out;
}

/** The placement in force and the CPUs (server, client), for the report. */
function getPlacement() {
  return { mode: placement, cpus };
}

/**
 * The CPU a child other than a pair's server runs on: a single-process row
 * runs where a client would. Its own children (an echo it forks) are placed
 * with echoCpu().
 */
function childCpu() {
  if (!cpus) return null;
  return placing !== null ? placing : cpus[1];
}

/** Where a child's own echo process should run (null: not pinned). */
function echoCpu() {
  return cpus ? cpus[0] : null;
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
    const cpu = childCpu();
    let environment = env || process.env;
    if (cpu !== null) {
      // taskset execs the command: the pid, signals and exit status are the command's.
      args = ['-c', String(cpu), command, ...args];
      command = 'taskset';
      environment = { ...environment, BENCH_ECHO_CPU: String(echoCpu()) };
    }
    const child = spawn(command, args, { stdio: stdio || ['ignore', 'pipe', 'pipe'], env: environment });
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
    // The result is read when the child's stdout has ended, not at 'exit':
    // 'exit' may come before the last data event (seen under load as a row
    // failing on a null result). A grandchild that inherited our stderr
    // could hold 'close' back, so after the exit it gets a second at most.
    let settled = false;
    const finish = (code, signal) => {
      if (settled) return;
      settled = true;
      if (code !== 0) {
        const [cmd, argv] = command === 'taskset' ? [args[2], args.slice(3)] : [command, args];
        const name = path.basename(argv[0] && !cmd.includes('/bench/bin/') ? argv[0] : cmd);
        reject(
          new Error(
            `${name} ${argv.slice(1, 2).join(' ')} exited ${signal || code}: ${err.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
        return;
      }
      const lines = out.trim().split('\n').filter(Boolean);
      try {
        resolve(lines.length ? JSON.parse(lines[lines.length - 1]) : null);
      } catch {
        reject(new Error(`bad output from ${command}: ${out.slice(-200)}`));
      }
    };
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      setTimeout(() => finish(code, signal), 1000).unref();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      finish(code, signal);
    });
  });
}

/** Runs a Node script of bench/cases with a role. */
function node(caseFile, args, opts = {}) {
  return run(
    process.execPath,
    [...(opts.nodeFlags || []), path.join(BENCH, 'cases', caseFile), ...args.map(String)],
    opts,
  );
}

/** Runs bench/peer.py (Python's sysv_ipc) with a role; placed and killed like the C programs. */
function python(args, opts) {
  const interpreter = pythonPath();
  if (!interpreter) return Promise.reject(new Error(`no Python peer: ${checkPython()}`));
  return run(interpreter, [path.join(BENCH, 'peer.py'), ...args.map(String)], opts);
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
  // Both start synchronously (spawn), so `placing` is read by their run().
  placing = cpus ? cpus[0] : null;
  const s = server();
  placing = cpus ? cpus[1] : null;
  const k = client();
  placing = null;
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
  checkPython,
  pythonVersion,
  createObject,
  createKeyedObject,
  removeObjects,
  removeAllObjects,
  run,
  node,
  c,
  python,
  pair,
  setPlacement,
  getPlacement,
  killChildren,
  installSignalHandlers,
};
