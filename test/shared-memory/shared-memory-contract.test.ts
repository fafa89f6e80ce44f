/**
 * What SharedMemory promises that the other shared-memory tests left unsaid
 * (the mutants of lib/shared-memory.ts that survived them, issue #14): the
 * exact results of waitSync, notify's default of "all", open() making private
 * segments, the detached/closed flags, read-only before range, the range an
 * out-of-bounds error names, and a view moved out by transfer(). Children
 * load lib/ (LOAD_LIB), so that a mutant of lib/ reaches them too.
 */
import { spawnSync } from 'node:child_process';
import { IPC_PRIVATE, SharedMemory } from '../../lib';
import { Child, LOAD_LIB, testIf, threadsInFutexOn, track, until, useCleanup } from '../support/helpers';

useCleanup();

describe('SharedMemory.waitSync results', () => {
  test("'ok' when another process notifies; 'not-equal' and 'timed-out' otherwise", async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    // The child notifies word 1 until it has woken one waiter: this thread,
    // which blocks here meanwhile (the child needs nothing more from it).
    const child = new Child('shm-notify-until', [shm.id, 1, 1]);
    expect(shm.waitSync(1, 0, { timeout: 20000 })).toBe('ok');
    expect(await child.next()).toEqual({ woken: 1 });
    expect(await child.exited).toEqual({ code: 0, signal: null });

    shm.write(Buffer.from([5, 0, 0, 0]), 4);
    expect(shm.waitSync(1, 0)).toBe('not-equal');
    expect(shm.waitSync(1, 5, { timeout: 1 })).toBe('timed-out');
  });
});

describe('SharedMemory.notify counts', () => {
  // The waiters are async waits, parked on the addon's waiter threads: they
  // stay in futex(2) until woken. (A waitSync re-enters the kernel every 50 ms
  // to see whether its environment is being torn down (native/blocking.cc,
  // kSyncSliceNs), and a notify in that gap can miss it, so exact counts are
  // only certain with async waits.)
  test('no count and Infinity wake every waiter; a count wakes exactly that many', async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    const parked = (n: number) =>
      until(() => threadsInFutexOn(process.pid, shm.id, 0) === n, 10000, `${n} wait(s) in futex on word 0`);
    const park3 = () => [shm.wait(0, 0), shm.wait(0, 0), shm.wait(0, 0)];
    for (const count of [undefined, Infinity]) {
      const waits = park3();
      await parked(3);
      expect(shm.notify(0, count)).toBe(3);
      await expect(Promise.all(waits)).resolves.toEqual(['ok', 'ok', 'ok']);
    }
    const waits = park3();
    await parked(3);
    expect(shm.notify(0, 1)).toBe(1);
    await expect(Promise.race(waits)).resolves.toBe('ok');
    expect(threadsInFutexOn(process.pid, shm.id, 0)).toBe(2); // the other two still sleep
    expect(shm.notify(0, 2)).toBe(2);
    await expect(Promise.all(waits)).resolves.toEqual(['ok', 'ok', 'ok']);
  });
});

describe('SharedMemory.wait timeouts', () => {
  test("a word that already differs is 'not-equal', also with timeout 0 (a poll never times out then)", async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    shm.write(Buffer.from([1, 0, 0, 0]));
    await expect(shm.wait(0, 0, { timeout: 0 })).resolves.toBe('not-equal');
    await expect(shm.wait(0, 0)).resolves.toBe('not-equal');
  });

  test('ETIMEDOUT names the segment (err.id), at once (timeout 0) and after parking', async () => {
    const shm = track(SharedMemory.create({ size: 16 }));
    const timedOut = { name: 'SysvIpcError', code: 'ETIMEDOUT', syscall: 'futex', id: shm.id };
    await expect(shm.wait(0, 0, { timeout: 0 })).rejects.toMatchObject(timedOut);
    await expect(shm.wait(0, 0, { timeout: 20 })).rejects.toMatchObject(timedOut);
  });
});

describe('SharedMemory.open with IPC_PRIVATE', () => {
  test('create: true makes a new private segment on each call', () => {
    const a = track(SharedMemory.open(IPC_PRIVATE, { create: true, size: 64 }));
    const b = track(SharedMemory.open(IPC_PRIVATE, { create: true, size: 64, mode: 0o640 }));
    expect(b.id).not.toBe(a.id);
    expect([a.key, b.key]).toEqual([IPC_PRIVATE, IPC_PRIVATE]);
    expect([a.size, b.size]).toEqual([64, 64]);
    expect(b.info().mode).toBe(0o640);
    a.write('a');
    expect(b.read(0, 1)[0]).toBe(0);
    // Without create, a private key names nothing.
    expect(() => SharedMemory.open(IPC_PRIVATE, { size: 64 })).toThrow(RangeError);
  });
});

describe('SharedMemory detached and closed', () => {
  test.each(['detach', 'close'] as const)('both are false while attached and true after %s()', (how) => {
    const shm = track(SharedMemory.create({ size: 8 }));
    expect([shm.detached, shm.closed]).toEqual([false, false]);
    shm[how]();
    expect([shm.detached, shm.closed]).toEqual([true, true]);
  });
});

describe('SharedMemory out-of-bounds and read-only errors', () => {
  test('an out-of-bounds range names itself as [offset, offset + length) and the size', () => {
    const shm = track(SharedMemory.create({ size: 32 }));
    const message = 'The range [30, 33) is out of bounds of the 32-byte segment';
    expect(() => shm.read(30, 3)).toThrow(message);
    expect(() => shm.readInto(Buffer.alloc(3), 30)).toThrow(message);
    expect(() => shm.write('abc', 30)).toThrow(message);
  });

  test('a read-only attachment refuses every write() as read-only, also one that would not fit', () => {
    const shm = track(SharedMemory.create({ size: 32 }));
    const ro = track(SharedMemory.fromId(shm.id, { readOnly: true }));
    const readOnly = expect.objectContaining({ code: 'ERR_SYSV_IPC_READ_ONLY' });
    expect(() => ro.write('x')).toThrow(readOnly);
    expect(() => ro.write(Buffer.alloc(2), 31)).toThrow(readOnly);
    expect(() => ro.write(Buffer.alloc(33))).toThrow(readOnly);
    expect(shm.read().equals(Buffer.alloc(32))).toBe(true);
  });
});

describe('SharedMemory after ArrayBuffer.prototype.transfer()', () => {
  // Node 20 has transfer() behind a flag, on by default from Node 21; Node 18 has none.
  const testTransfer = testIf(
    Number(process.versions.node.split('.')[0]) >= 20,
    'ArrayBuffer.prototype.transfer needs Node 20',
  );
  testTransfer('arrayBuffer and buffer throw ERR_SYSV_IPC_VIEW_TRANSFERRED; read() still works', () => {
    const flags: string[] = [];
    if (typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer !== 'function') {
      flags.push('--harmony-rab-gsab-transfer');
    }
    const script = `
      const { SharedMemory } = require(${JSON.stringify(LOAD_LIB)});
      const shm = SharedMemory.create({ size: 4096 });
      shm.remove(); // gone with this process, whatever happens
      const moved = shm.arrayBuffer.transfer();
      new Uint8Array(moved)[0] = 9;
      const attempt = (f) => { try { return f(); } catch (e) { return e.code || String(e); } };
      console.log(JSON.stringify({
        moved: moved.byteLength,
        arrayBuffer: attempt(() => shm.arrayBuffer.byteLength),
        buffer: attempt(() => shm.buffer.length),
        read: [...shm.read(0, 1)],
      }));`;
    const r = spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8', timeout: 30000 });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({
      moved: 4096,
      arrayBuffer: 'ERR_SYSV_IPC_VIEW_TRANSFERRED',
      buffer: 'ERR_SYSV_IPC_VIEW_TRANSFERRED',
      read: [9],
    });
  });
});
