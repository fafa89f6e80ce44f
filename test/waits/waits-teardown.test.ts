/**
 * Every wait can be ended, and what it got is not lost: worker.terminate(),
 * process.exit(), close(), abort and detach() end waits (also built without
 * per-thread timers, also after timer_create failed or other code took the
 * interrupt signal), and a message, unit or lock that arrives as its worker
 * is torn down goes back. Each case runs in a child process with a timeout:
 * before its fix it crashed (SIGSEGV) or hung (issue 9 and its outside
 * review), and this file checks the child ends normally, in time, with the
 * right result.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { MessageQueue, Mutex, Semaphore, SharedMemory } from '../../lib';
import { binding } from '../../lib/binding';
import { threadsBlockedIn, track, until, useCleanup } from '../support/helpers';

useCleanup();

const fixture = (name: string) => path.join(__dirname, '..', 'fixtures', name);
// Built without per-thread timers (scripts/ci-no-timers.sh): waits poll.
const threadTimers = binding.constants.HAVE_THREAD_TIMERS;

/** Runs a fixture in a child process; a crash or hang shows as a signal or a timeout. */
function run(args: string[], timeout = 30000) {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('…Sync waits without a timeout end with their worker', () => {
  const make = {
    receive: () => track(MessageQueue.create()).id,
    send: () => track(MessageQueue.create()).id,
    acquire: () => track(Semaphore.create()).id,
    wait: () => {
      const shm = track(SharedMemory.create({ size: 4096 }));
      return shm.id;
    },
  };
  for (const kind of Object.keys(make) as Array<keyof typeof make>) {
    test(`worker.terminate() ends a worker in ${kind}Sync()`, () => {
      const r = run([fixture('wait-sync-terminate.js'), kind, 'terminate', String(make[kind]())], 20000);
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({ terminated: true, code: 1 });
      expect(out.withinSeconds).toBeLessThanOrEqual(5);
    });
  }
  test('process.exit() does not hang joining a worker in receiveSync()', () => {
    const r = run([fixture('wait-sync-terminate.js'), 'receive', 'exit', String(make.receive())], 20000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  });
});

describe('waits that nothing parks beyond reach (also built without per-thread timers: scripts/ci-no-timers.sh)', () => {
  const lib = JSON.stringify(path.join(__dirname, '..', '..'));
  test('close(), abort and detach() end pending waits', () => {
    const q = track(MessageQueue.create());
    const sem = track(Semaphore.create());
    const shm = track(SharedMemory.create({ size: 4096 }));
    const script = `
      const { MessageQueue, Semaphore, SharedMemory } = require(${lib});
      const [qid, sid, mid] = process.argv.slice(1).map(Number);
      const q = MessageQueue.fromId(qid), s = Semaphore.fromId(sid), shm = SharedMemory.fromId(mid);
      const code = (p) => p.then(() => 'resolved', (e) => e.code);
      const ac = new AbortController();
      const ends = [code(q.receive()), code(s.acquire({ signal: ac.signal })), code(shm.wait(0, 0))];
      setTimeout(() => { q.close(); ac.abort(); shm.detach(); }, 200);
      Promise.all(ends).then((v) => console.log(JSON.stringify(v)));`;
    const r = run(['-e', script, String(q.id), String(sem.id), String(shm.id)], 20000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual(['ERR_SYSV_IPC_CLOSED', 'ABORT_ERR', 'ERR_SYSV_IPC_CLOSED']);
  });

  test("a process whose only pending waits are unref'd exits by itself", () => {
    const q = track(MessageQueue.create());
    const sem = track(Semaphore.create());
    const script = `
      const { MessageQueue, Semaphore } = require(${lib});
      const q = MessageQueue.fromId(Number(process.argv[1])), s = Semaphore.fromId(Number(process.argv[2]));
      q.unref(); s.unref();
      q.receive().catch(() => {}); s.acquire().catch(() => {});
      setTimeout(() => console.log('end of script'), 200);`;
    const r = run(['-e', script, String(q.id), String(sem.id)], 20000);
    expect({ status: r.status, signal: r.signal, stdout: r.stdout.trim() }).toEqual({
      status: 0,
      signal: null,
      stdout: 'end of script',
    });
  });
});

describe('waits that a failed timer does not poison', () => {
  test('after timer_create failed (RLIMIT_SIGPENDING), waits poll meanwhile and park again once timers are back', async () => {
    let prlimit: string;
    try {
      prlimit = execFileSync('sh', ['-c', 'command -v prlimit'], { encoding: 'utf8' }).trim();
    } catch {
      console.warn('prlimit (util-linux) is missing: not exercised');
      return;
    }
    const q = track(MessageQueue.create());
    // The hard limit stays: an unprivileged process may raise its soft limit back to it.
    const hard =
      /Max pending signals\s+\S+\s+(\S+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 'unlimited';
    // prlimit runs node in its place (same pid, same IPC channel) with a soft limit of 0.
    const child = fork(fixture('wait-timer-retry.js'), [String(q.id)], {
      execPath: prlimit,
      execArgv: ['--sigpending=0:', process.execPath],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = once(child, 'exit');
    const inbox: unknown[] = [];
    let wake: (() => void) | undefined;
    child.on('message', (m) => {
      inbox.push(m);
      wake?.();
    });
    const next = async <T>(): Promise<T> => {
      await until(
        () => inbox.length > 0 || child.exitCode !== null || child.signalCode !== null,
        20000,
        'a message from the child',
      );
      if (inbox.length === 0) throw new Error(`child exited (${child.exitCode}, ${child.signalCode})`);
      return inbox.shift() as T;
    };
    try {
      const pid = child.pid as number;
      expect(await next()).toEqual({ step: 'raise' });
      execFileSync(prlimit, ['--pid', String(pid), `--sigpending=${hard}:`]);
      child.send('raised');
      const parked = await next<{ step: string; out: unknown }>();
      expect(parked.step).toBe('parked');
      // With its timer back, the waiter thread sleeps in the kernel, not in a poll.
      if (threadTimers) await until(() => threadsBlockedIn(pid, 'msgrcv') >= 1, 10000, 'a thread parked in msgrcv');
      q.sendSync('after');
      child.send('sent');
      const done = await next<{ step: string; out: unknown }>();
      expect(done.out).toEqual({
        limitedAsync: 'ETIMEDOUT',
        limitedSync: 'ETIMEDOUT',
        limitedAbort: 'ABORT_ERR',
        raisedAsync: 'ETIMEDOUT',
        raisedSync: 'ETIMEDOUT',
        received: 'after',
      });
      expect(await exited).toEqual([0, null]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('no JavaScript runs while the waiter pool holds its lock', () => {
  test('a setter for `code` on Error.prototype that calls back into the addon does not deadlock', () => {
    const r = run([fixture('pool-error-setter.js')], 20000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ duplicate: 'ERR_OUT_OF_RANGE', reentered: 1 });
  });
});

describe('results that complete during teardown are given back', () => {
  test('a message received while its worker is terminated goes back to the queue', () => {
    const q = track(MessageQueue.create());
    const r = run([fixture('wait-teardown-undo.js'), 'receive', String(q.id)], 30000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ messages: 1, data: 'keep me' });
  });

  test('a Mutex taken while its worker is terminated is released', () => {
    const mutex = track(Mutex.create());
    const r = run([fixture('wait-teardown-undo.js'), 'lock', String(mutex.id)], 30000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ value: 1, lockedAgain: true });
  });
});

describe('the reserved interrupt signal (SIGRTMIN+6)', () => {
  // A native module loaded after sysv-ipc changes the signal's action; the
  // addon checks it again before each wait and each cancel.
  let rogue: string | undefined;
  beforeAll(() => {
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-rogue-'));
      const include = path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node');
      execFileSync('cc', [
        '-shared',
        '-fPIC',
        '-DNODE_GYP_MODULE_NAME=rogue',
        `-I${include}`,
        '-o',
        path.join(dir, 'rogue.node'),
        fixture('signal-rogue.c'),
      ]);
      rogue = path.join(dir, 'rogue.node');
    } catch (err) {
      console.warn(`cannot build the stand-in native module (${(err as Error).message}): not exercised`);
    }
  });
  afterAll(() => {
    if (rogue) fs.rmSync(path.dirname(rogue), { recursive: true, force: true });
  });

  // SIG_DFL: the first cancel would kill the process. SA_RESTART: a futex
  // wait would resume after the signal (signal(7); SysV IPC calls never do),
  // so a cancel would never end it.
  const cases = [
    { mode: 'default', what: 'SIG_DFL', kind: 'receive' },
    { mode: 'restart', what: 'an SA_RESTART handler', kind: 'wait' },
  ];
  for (const { mode, what, kind } of cases) {
    test(`a pending ${kind} is still cancelled after other code set ${what}`, () => {
      if (!rogue || threadTimers === false) return; // no signal to protect without per-thread timers
      const q = track(MessageQueue.create());
      const shm = track(SharedMemory.create({ size: 4096 }));
      const script = `
        const { MessageQueue, SharedMemory } = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
        const q = MessageQueue.fromId(Number(process.argv[1]));
        const shm = SharedMemory.fromId(Number(process.argv[2]));
        process.dlopen({ exports: {} }, process.argv[3]); // after sysv-ipc installed its handler
        const ac = new AbortController();
        const wait = process.argv[4] === 'receive' ? q.receive({ signal: ac.signal }) : shm.wait(0, 0, { signal: ac.signal });
        setTimeout(() => ac.abort(), 200);
        wait.then(() => 'resolved', (e) => e.code).then((code) => console.log(code));`;
      const r = spawnSync(process.execPath, ['-e', script, String(q.id), String(shm.id), rogue, kind], {
        encoding: 'utf8',
        timeout: 20000,
        killSignal: 'SIGKILL',
        env: { ...process.env, SYSV_IPC_ROGUE: mode },
      });
      expect({ status: r.status, signal: r.signal, stdout: r.stdout.trim() }).toEqual({
        status: 0,
        signal: null,
        stdout: 'ABORT_ERR',
      });
    });
  }
});

describe('results that complete after worker.terminate() in a …Sync wait', () => {
  test('a message or semaphore unit that arrives after terminate() goes back (receiveSync, acquireSync)', () => {
    const r = run([fixture('wait-sync-terminate-undo.js'), '3'], 60000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ messages: 3, units: 3 });
  });
});

describe('a cancel that lands as the waiter thread arms its deadline', () => {
  test('20000 async receives with a 20 s timeout, each aborted as it parks: all settle at once (none sleeps to its deadline)', () => {
    const r = run([fixture('wait-cancel-arm-race.js'), '20000'], 120000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ waits: true, slow: 0 });
  }, 130000);
});
