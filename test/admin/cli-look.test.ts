/**
 * What the `sysv-ipc` command shows without changing what it shows (issue 22
 * item 3: `ls` and `stat` read /proc only unless told to look inside a segment)
 * and "who holds it?" (item 4): pid columns, semaphore members with their
 * waiters and last pids, lock holders inside segments, each with whether that
 * process is still alive. Real objects, real child processes, real deaths.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { Channel, FastMutex, MessageQueue, remove, Semaphore, SemaphoreSet, SharedMemory } from '../../lib';
import { CIpc } from '../support/admin-c';
import { Child, track, until, useCleanup } from '../support/helpers';
import { cellOf, cli, expectOneLineError, procShm } from './cli-run';

useCleanup();
const c = new CIpc();
c.install();

const DIST = JSON.stringify(path.join(__dirname, '..', '..', 'dist'));

/** Runs `script` in a node process that has exited (and been reaped) when this returns: its pid and output. */
function inDeadProcess(script: string): { pid: number; out: string } {
  const r = spawnSync(process.execPath, ['-e', `const lib = require(${DIST}); ${script}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return { pid: r.pid!, out: r.stdout.trim() };
}

// Segments made by children that have exited (removed by id: attaching them here would change what is tested).
const madeShm: number[] = [];
afterEach(() => {
  for (const id of madeShm.splice(0)) {
    try {
      remove('shm', id);
    } catch {
      // removed by the test
    }
  }
});

/** The fields an attach or detach changes (shmat(2), shmdt(2)). */
const attachFields = (row: Record<string, string>) => ({
  lpid: row.lpid,
  atime: row.atime,
  dtime: row.dtime,
  nattch: row.nattch,
});

describe('looking without touching (item 3)', () => {
  // The segments are attached by other processes only: a process attached to a
  // segment makes each child it forks the segment's last pid (fork(2) copies the
  // attachment, exec drops it), so this test's own process must not be attached.
  test('default ls, ls --json and stat shm leave every segment’s last pid and attach/detach times as they were', async () => {
    const plain = c.create('shm', 0, 4096); // made by C: never attached, lpid 0
    const chId = Number(
      inDeadProcess(`const ch = lib.Channel.create({ capacity: 4096 }); ch.trySend('queued'); console.log(ch.id)`).out,
    );
    madeShm.push(chId);
    await c.hold(chId); // a C process stays attached, as a consumer would
    const before = [attachFields(procShm(plain)), attachFields(procShm(chId))];
    expect(before[0]).toMatchObject({ lpid: '0', atime: '0' });
    expect(before[1]).toMatchObject({ nattch: '1' });
    for (const args of [
      ['ls'],
      ['ls', '--json'],
      ['ls', '-k', 'shm'],
      ['stat', 'shm', String(plain)],
      ['stat', 'shm', String(chId)],
      ['stat', 'shm', String(chId), '--json'],
    ]) {
      const r = cli(args);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const after = [attachFields(procShm(plain)), attachFields(procShm(chId))];
      // The CLI must not be the segments' last attacher. Another test file
      // running beside this one may attach every segment (`ls --peek`), so a
      // change by some other pid is not this CLI's doing: then only the pid
      // is checked; otherwise nothing may have changed.
      for (const [i, row] of after.entries()) {
        expect({ segment: i, lpid: row.lpid }).not.toEqual({ segment: i, lpid: String(r.pid) });
        if (row.lpid === before[i].lpid) expect(row).toEqual(before[i]);
      }
    }
    // Without looking, ls has no CHANNEL column and stat says how to look.
    expect(cli(['ls', '-k', 'shm']).stdout).not.toMatch(/CHANNEL/);
    expect(cli(['stat', 'shm', String(chId)]).stdout).toMatch(/^ {2}contents +not looked at \(--peek attaches/m);
    expect(JSON.parse(cli(['ls', '-k', 'shm', '--json']).stdout)[0]).not.toHaveProperty('channel');
  });

  test('--peek looks inside, and says so: the kernel then records the CLI as the last pid', () => {
    const plain = c.create('shm', 0, 4096);
    const r = cli(['ls', '-k', 'shm', '--peek']);
    expect(r.status).toBe(0);
    expect(cellOf(r.stdout, plain, 'CHANNEL')).toBe('-');
    expect(procShm(plain).lpid).toBe(String(r.pid));
    expect(cli(['ls', '--help']).stdout).toMatch(/--peek +.*attach/);
  });
});

describe('who holds it (item 4)', () => {
  test('ls shows the last sender and receiver of a queue and the last pid of a segment, marking dead ones', async () => {
    const queue = track(MessageQueue.create());
    queue.trySend('one');
    queue.trySend('two');
    const receiver = inDeadProcess(`lib.MessageQueue.fromId(${queue.id}).tryReceive()`).pid;
    const msg = cli(['ls', '-k', 'msg']).stdout;
    expect(cellOf(msg, queue.id, 'LSPID')).toBe(String(process.pid));
    expect(cellOf(msg, queue.id, 'LRPID')).toBe(`${receiver} (dead)`);
    const created = track(SharedMemory.create({ size: 4096 }));
    expect(cellOf(cli(['ls', '-k', 'shm']).stdout, created.id, 'CREATOR')).toBe(String(process.pid));
    const fromC = c.create('shm', 0, 4096); // its creator, the C program, has exited
    expect(cellOf(cli(['ls', '-k', 'shm']).stdout, fromC, 'CREATOR')).toMatch(/^\d+ \(dead\)$/);
    expect(cellOf(cli(['ls', '-k', 'shm']).stdout, fromC, 'LPID')).toBe('-'); // never attached
    const holder = await c.hold(fromC);
    expect(cellOf(cli(['ls', '-k', 'shm']).stdout, fromC, 'LPID')).toBe(String(holder.pid));
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    // Its exit detached it (shm_lpid is then the exiting process): a dead pid.
    expect(cellOf(cli(['ls', '-k', 'shm']).stdout, fromC, 'LPID')).toBe(`${holder.pid} (dead)`);
  });

  test('stat sem shows each member’s value, waiters and last pid (alive or dead)', async () => {
    const set = track(SemaphoreSet.create({ size: 2, initialValues: [0, 3] }));
    const releaser = inDeadProcess(`lib.Semaphore.fromId(${set.id}, 1).release()`).pid;
    const abort = new AbortController();
    const waits = [
      Semaphore.fromId(set.id, 0).acquire({ signal: abort.signal }),
      Semaphore.fromId(set.id, 1).waitForZero({ signal: abort.signal }),
    ].map((p) => p.catch((err: Error) => err));
    try {
      await until(() => {
        const [a, b] = [Semaphore.fromId(set.id, 0).info(), Semaphore.fromId(set.id, 1).info()];
        return a.waitingForNonZero === 1 && b.waitingForZero === 1;
      });
      const r = cli(['stat', 'sem', String(set.id)]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^ {2}members +2$/m);
      const table = r.stdout.split('\n').filter((l) => l.startsWith('    '));
      expect(table.map((l) => l.trim().split(/\s{2,}/))).toEqual([
        ['SEMNUM', 'VALUE', 'NCOUNT', 'ZCOUNT', 'LAST PID'],
        ['0', '0', '1', '0', `${process.pid} (alive)`], // SETALL at create() stamps the creator
        ['1', '4', '0', '1', `${releaser} (dead)`],
      ]);
      const asJson = JSON.parse(cli(['stat', 'sem', String(set.id), '--json']).stdout) as Record<string, unknown>;
      expect(asJson).toMatchObject({ kind: 'sem', id: set.id, members: 2 });
      expect(asJson.semaphores).toEqual([
        { index: 0, value: 0, waitingForNonZero: 1, waitingForZero: 0, lastPid: process.pid, lastPidAlive: true },
        { index: 1, value: 4, waitingForNonZero: 0, waitingForZero: 1, lastPid: releaser, lastPidAlive: false },
      ]);
    } finally {
      abort.abort();
      await Promise.all(waits);
    }
  });

  test('stat sem by a user who may not read the set says so instead of failing', () => {
    const set = track(SemaphoreSet.create({ size: 1, mode: 0o600 }));
    const r = cli(['stat', 'sem', String(set.id)], { uid: 65534, gid: 65534 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}values +unreadable \(EACCES\)$/m);
  });

  test('--peek shows a FastMutex’s holder, alive and then killed', async () => {
    const mutex = track(FastMutex.create());
    const free = cli(['ls', '-k', 'shm', '--peek']).stdout;
    expect(cellOf(free, mutex.id, 'LOCK')).toBe('mutex: free');
    const holder = new Child('fast-mutex-holder', [mutex.id, 0]);
    const { pid } = await holder.next<{ pid: number }>();
    expect(cellOf(cli(['ls', '-k', 'shm', '--peek']).stdout, mutex.id, 'LOCK')).toBe(`mutex: ${pid}`);
    expect(cli(['stat', 'shm', String(mutex.id), '--peek']).stdout).toMatch(
      new RegExp(`^ {2}fast mutex +held by ${pid} \\(alive\\)$`, 'm'),
    );
    holder.kill('SIGKILL');
    await holder.exited;
    expect(cellOf(cli(['ls', '-k', 'shm', '--peek']).stdout, mutex.id, 'LOCK')).toBe(`mutex: ${pid} (dead)`);
    const asJson = JSON.parse(cli(['stat', 'shm', String(mutex.id), '--peek', '--json']).stdout) as {
      locks: unknown;
    };
    expect(asJson.locks).toEqual([{ at: 0, what: 'fast mutex', holder: pid, alive: false, waiters: false }]);
  });

  test('--peek shows that others wait for a FastMutex, and the waiter that took it over from a killed holder', async () => {
    const mutex = track(FastMutex.create());
    const first = new Child('fast-mutex-holder', [mutex.id, 0]);
    const { pid } = await first.next<{ pid: number }>();
    const second = new Child('fast-mutex-holder', [mutex.id, 0]); // blocks in lockSync
    type Looked = { locks: Array<{ holder: number; alive: boolean; waiters: boolean }> };
    const look = () => JSON.parse(cli(['stat', 'shm', String(mutex.id), '--peek', '--json']).stdout) as Looked;
    await until(() => look().locks[0]?.waiters === true, 20000, 'the second locker to say it sleeps');
    expect(cli(['stat', 'shm', String(mutex.id), '--peek']).stdout).toMatch(
      new RegExp(`^ {2}fast mutex +held by ${pid} \\(alive\\), others waiting$`, 'm'),
    );
    first.kill('SIGKILL');
    const taken = await second.next<{ pid: number; ownerDied: boolean }>();
    expect(taken.ownerDied).toBe(true);
    expect(look().locks[0]).toMatchObject({ holder: taken.pid, alive: true });
    second.send('exit');
    await second.exited;
  });

  test('--peek shows the producer that holds a Channel’s send lock', async () => {
    const ch = track(Channel.create({ capacity: 4096 }));
    expect(cli(['stat', 'shm', String(ch.id), '--peek']).stdout).toMatch(/^ {2}send lock +free$/m);
    // A producer holds the send lock (lock.h at byte 80 of the header) while it copies a record in:
    // take the very same lock record from a child, as a producer stopped mid-send would hold it.
    const holder = new Child('fast-mutex-holder', [ch.id, 80]);
    const { pid } = await holder.next<{ pid: number }>();
    const ls = cli(['ls', '-k', 'shm', '--peek']).stdout;
    expect(cellOf(ls, ch.id, 'LOCK')).toBe(`send: ${pid}`);
    expect(cellOf(ls, ch.id, 'CHANNEL')).toBe('0 msg, 0 B of 4 KiB');
    expect(cli(['stat', 'shm', String(ch.id), '--peek']).stdout).toMatch(
      new RegExp(`^ {2}send lock +held by ${pid} \\(alive\\)$`, 'm'),
    );
    holder.kill('SIGKILL');
    await holder.exited;
    expect(cli(['stat', 'shm', String(ch.id), '--peek']).stdout).toMatch(
      new RegExp(`^ {2}send lock +held by ${pid} \\(dead: the next sender takes it over\\)$`, 'm'),
    );
  });

  test('stat shm --mutex-at reads a FastMutex placed inside a segment (FastMutex.in)', async () => {
    const shm = track(SharedMemory.create({ size: 4096 }));
    const holder = new Child('fast-mutex-holder', [shm.id, 64]);
    const { pid } = await holder.next<{ pid: number }>();
    const r = cli(['stat', 'shm', String(shm.id), '--mutex-at', '64', '--mutex-at', '128']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^ {2}mutex at 64 +held by ${pid} \\(alive\\)$`, 'm'));
    expect(r.stdout).toMatch(/^ {2}mutex at 128 +free$/m);
    expectOneLineError(cli(['stat', 'shm', String(shm.id), '--mutex-at', '12']), 2, /multiple of 8/);
    expectOneLineError(cli(['stat', 'shm', String(shm.id), '--mutex-at', '4088']), 2, /4096-byte segment/);
    expectOneLineError(cli(['stat', 'msg', '1', '--mutex-at', '0']), 2, /only for shm/);
    holder.send('exit');
    await holder.exited;
  });
});
