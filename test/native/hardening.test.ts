/**
 * Issue 9: shared memory that cannot crash the process, and waits that every
 * teardown can end. Each case runs in a child process with a timeout: before
 * its fix it crashed (SIGSEGV) or hung, and this file checks the child ends
 * normally, in time, with the right result.
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
const [major] = process.versions.node.split('.').map(Number);
// Built without per-thread timers (scripts/ci-no-timers.sh): waits poll.
const threadTimers = binding.constants.HAVE_THREAD_TIMERS;

/** Runs a fixture in a child process; a crash or hang shows as a signal or a timeout. */
function run(args: string[], timeout = 30000) {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('shared memory that cannot crash the process', () => {
  test('detach() while libuv threadpool jobs still write the view (randomFill, fs.read): no SIGSEGV, attach count falls at once', () => {
    const r = run([fixture('shm-detach-busy.js'), '64']);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({
      randomFill: { views: true, attachments: 0 },
      read: { views: true, attachments: 0 },
    });
  });

  test('a backing store moved out with transfer() outlives the worker that made it', () => {
    const flags = major < 21 ? ['--harmony-rab-gsab-transfer'] : [];
    const probe = spawnSync(process.execPath, [...flags, '-p', 'typeof ArrayBuffer.prototype.transfer'], {
      encoding: 'utf8',
    });
    if (probe.stdout.trim() !== 'function') {
      console.warn(`ArrayBuffer.prototype.transfer is missing on Node ${process.versions.node}: not exercised`);
      return;
    }
    const r = run([...flags, fixture('shm-transfer-teardown.js')]);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ length: 1 << 20, first: 9, sharedWrite: 42, sharedRead: 7, filled: true });
  });
});

describe('shared memory views under a replaced global ArrayBuffer', () => {
  test('a view that cannot get its transfer guards is refused cleanly (detached at once), and the next one works', () => {
    const shm = track(SharedMemory.create({ size: 4096 }));
    const r = run([
      '-e',
      `
      const { SharedMemory } = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
      const shm = SharedMemory.fromId(Number(process.argv[1]));
      const real = globalThis.ArrayBuffer;
      globalThis.ArrayBuffer = 1;
      let first;
      try { void shm.arrayBuffer; first = 'accepted'; } catch (e) { first = 'refused'; }
      globalThis.ArrayBuffer = real;
      shm.buffer[0] = 7;
      console.log(JSON.stringify({ first, read: shm.read(0, 1)[0] }));`,
      String(shm.id),
    ]);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ first: 'refused', read: 7 });
  });
});

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

describe('message types a number cannot hold', () => {
  // A C program may send any positive long as mtype; JavaScript numbers are exact to 2^53 - 1.
  const C_SENDER = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
int main(int argc, char** argv) {
  struct { long mtype; char mtext[16]; } m;
  m.mtype = strtol(argv[2], NULL, 10);
  strcpy(m.mtext, "big");
  return msgsnd(atoi(argv[1]), &m, 3, 0) == 0 ? 0 : 1;
}
`;
  let sender: string | undefined;
  beforeAll(() => {
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-mtype-'));
      fs.writeFileSync(path.join(dir, 'send.c'), C_SENDER);
      execFileSync('cc', ['-o', path.join(dir, 'send'), path.join(dir, 'send.c')]);
      sender = path.join(dir, 'send');
    } catch {
      console.warn('no C compiler (cc): message types above 2^53 are not exercised');
    }
  });
  afterAll(() => {
    if (sender) fs.rmSync(path.dirname(sender), { recursive: true, force: true });
  });

  const BIG = 2n ** 60n + 1n; // 1152921504606846977: the nearest double is 2^60
  test('a type above Number.MAX_SAFE_INTEGER is reported exactly (bigint) on an error that carries the message', async () => {
    if (!sender) return;
    const q = track(MessageQueue.create());
    const send = () => execFileSync(sender as string, [String(q.id), String(BIG)]);
    const caught = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err as { code: string; type: bigint; data: Buffer };
      }
      throw new Error('no error');
    };
    send();
    const sync = caught(() => q.receiveSync());
    expect([sync.code, sync.type, sync.data.toString()]).toEqual(['ERR_SYSV_IPC_UNSAFE_MESSAGE_TYPE', BIG, 'big']);
    send();
    const tried = caught(() => q.tryReceive());
    expect([tried.type, tried.data.toString()]).toEqual([BIG, 'big']);
    // Through a waiter thread: the wait parks first, then the message comes.
    const pending = q.receive().catch((err) => err);
    await new Promise((r) => setTimeout(r, 100));
    send();
    const parked = await pending;
    expect([parked.code, parked.type, parked.data.toString()]).toEqual([
      'ERR_SYSV_IPC_UNSAFE_MESSAGE_TYPE',
      BIG,
      'big',
    ]);
    // The largest safe type is still a plain number.
    execFileSync(sender, [String(q.id), String(Number.MAX_SAFE_INTEGER)]);
    expect(q.receiveSync()).toEqual({ type: Number.MAX_SAFE_INTEGER, data: Buffer.from('big') });
    expect(q.info().messages).toBe(0);
  });
});
