/**
 * A waiter that cannot read the holder's /proc entry must not take a live
 * holder's lock (issue 19 item 1): out of file descriptors (EMFILE), or under
 * a /proc mounted hidepid=2 with the holder another user's. Only "no such
 * process" and a zombie mean dead (include/sysv-ipc/liveness.h); the holder
 * here is this test process, alive throughout, and its unlock must work after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { FastMutex, SharedMemory } from '../../lib';
import { hidepidAs, hidepidUnavailable, packageRootFor, testIf, track, useCleanup } from '../support/helpers';

useCleanup();

const spawned: ChildProcess[] = [];
afterEach(async () => {
  for (const child of spawned.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
});

interface Report {
  warm?: unknown;
  statOfHolder?: unknown;
  tryLock?: unknown;
  tryLockLater?: unknown;
  lockSync?: unknown;
  lock?: unknown;
  holder?: number;
  error?: string;
}

/** Runs `argv` (which execs the fixture with node) and gives its one report. */
async function report(argv: string[]): Promise<Report> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  spawned.push(child);
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`the waiter exited (code ${code}, signal ${signal}) without a report`);
  });
  const [message] = (await Promise.race([once(child, 'message'), exited])) as [Report];
  return message;
}

const fixture = (uid?: number) => path.join(packageRootFor(uid), 'test', 'fixtures', 'fast-mutex-blind-waiter.js');

/** A live holder: this process, in a segment another user may attach. */
function heldLock(): { shm: SharedMemory; mutex: FastMutex } {
  const shm = track(SharedMemory.create({ size: 4096, mode: 0o666 }));
  const mutex = FastMutex.in(shm, 0);
  expect(mutex.lockSync()).toEqual({ ownerDied: false });
  return { shm, mutex };
}

function expectNothingTaken(r: Report, seen: string): void {
  expect(r).toEqual(
    expect.objectContaining({
      statOfHolder: seen, // the waiter really could not read the holder's entry
      tryLock: false,
      tryLockLater: false,
      lockSync: 'ETIMEDOUT',
      lock: 'ETIMEDOUT',
      holder: process.pid,
    }),
  );
}

test.each(['cold', 'warm'])(
  "a waiter out of file descriptors (%s) never takes a live holder's lock, and the holder unlocks",
  async (warm) => {
    const { shm, mutex } = heldLock();
    const r = await report([
      'sh',
      '-c',
      'ulimit -n 256 && exec "$0" "$@"',
      process.execPath,
      fixture(),
      String(shm.id),
      'emfile',
      warm,
    ]);
    if (warm === 'warm') expect(r.warm).toBe(false);
    expectNothingTaken(r, 'EMFILE');
    expect(() => mutex.unlock()).not.toThrow();
    expect(mutex.holder).toBe(0);
  },
);

// A mount namespace of its own with a proc mount hidepid=2, the waiter as
// uid 65534 there: the holder (root, this process) is invisible to it.
testIf(hidepidUnavailable === '', hidepidUnavailable)(
  'a waiter that /proc hidepid=2 keeps from seeing the holder never takes its lock',
  async () => {
    const { shm, mutex } = heldLock();
    const r = await report(hidepidAs(65534, process.execPath, fixture(65534), String(shm.id), 'hidden', 'cold'));
    expectNothingTaken(r, 'ENOENT');
    expect(() => mutex.unlock()).not.toThrow();
    expect(mutex.holder).toBe(0);
  },
);
