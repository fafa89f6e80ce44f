/**
 * Admin API: list() against objects made by this process, by a child, by a
 * child of another user and by a C program (semaphore sets and segments are
 * made in C so that listing them does not depend on those classes); limits()
 * against `ipcs -l` and getconf; removal by id and by key, with its failures.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { IPC_KINDS, limits, list, MessageQueue, remove, removeByKey, SysvIpcError, type IpcKind } from '../../lib';
import { CIpc } from '../support/admin-c';
import { Child, nearly, procLimits, randomKey, track, useCleanup } from '../support/helpers';

useCleanup();

// Semaphore sets and segments are made and removed by C, independent of this package.
const c = new CIpc();
c.install();

/** Ids `ipcs` reports for a kind: an independent reading of the kernel's table. */
function ipcsIds(kind: IpcKind): Set<number> {
  const flag = { msg: '-q', sem: '-s', shm: '-m' }[kind];
  const out = execFileSync('ipcs', [flag], { encoding: 'utf8' });
  const ids = new Set<number>();
  for (const line of out.split('\n')) {
    const m = /^0x[0-9a-f]+\s+(\d+)\s/.exec(line);
    if (m) ids.add(Number(m[1]));
  }
  return ids;
}

describe('list', () => {
  test('reports a message queue with the fields IPC_STAT gives', () => {
    const key = randomKey();
    const queue = track(MessageQueue.create({ key, mode: 0o640 }));
    expect(queue.trySend('hello', { type: 2 })).toBe(true);
    expect(queue.trySend('abc', { type: 2 })).toBe(true);
    const entry = list('msg').find((e) => e.id === queue.id);
    const info = queue.info();
    expect(entry).toEqual({
      kind: 'msg',
      key,
      id: queue.id,
      mode: 0o640,
      uid: info.uid,
      gid: info.gid,
      cuid: info.cuid,
      cgid: info.cgid,
      messages: 2,
      bytes: 8,
      lastSendPid: process.pid,
      lastReceivePid: 0,
      lastSendTime: info.lastSendTime,
      lastReceiveTime: null,
      lastChangeTime: info.lastChangeTime,
    });
    expect(entry?.lastSendTime).toBeInstanceOf(Date);
  });

  test('keys above 0x7fffffff come back unsigned, as written in hex (issue 22 item 10)', () => {
    const key = 0x80000000 + (randomKey() & 0x0fffffff);
    const queue = track(MessageQueue.create({ key }));
    const entry = list('msg').find((e) => e.id === queue.id);
    expect(entry?.key).toBe(key); // 0xdeadbeef, not -559038737
    expect(entry?.key).toBe(queue.info().key); // unsigned in both
    // Found and removed by either spelling of the key.
    expect(removeByKey('msg', key | 0)).toBe(queue.id);
  });

  test('sees a queue another process made, with that process as the last sender', async () => {
    const key = randomKey();
    const child = new Child('admin-child', ['create-queue', key]);
    const { id, pid } = await child.next<{ id: number; pid: number }>();
    track(MessageQueue.fromId(id));
    const entry = list('msg').find((e) => e.id === id);
    expect(entry).toMatchObject({ kind: 'msg', key, id, mode: 0o640, messages: 1, bytes: 14, lastSendPid: pid });
    child.send('exit');
    await child.exited;
  });

  test('reports the owner of an object another user made', async () => {
    const child = new Child('admin-child', ['create-queue', randomKey()], { uid: 65534, gid: 65534 });
    const { id } = await child.next<{ id: number }>();
    track(MessageQueue.fromId(id));
    expect(list('msg').find((e) => e.id === id)).toMatchObject({ uid: 65534, gid: 65534, cuid: 65534, cgid: 65534 });
    child.send('exit');
    await child.exited;
  });

  test('reports semaphore sets and segments made by a C program', () => {
    const semKey = randomKey();
    const shmKey = randomKey();
    const semId = c.create('sem', semKey, 3);
    const shmId = c.create('shm', shmKey, 10000);
    expect(list('sem').find((e) => e.id === semId)).toMatchObject({
      kind: 'sem',
      key: semKey,
      mode: 0o640,
      members: 3,
      uid: process.getuid?.(),
      lastOpTime: null,
    });
    const shm = list('shm').find((e) => e.id === shmId);
    expect(shm).toMatchObject({
      kind: 'shm',
      key: shmKey,
      mode: 0o640,
      size: 10000,
      attachments: 0,
      lastAttachTime: null,
      lastDetachTime: null,
      removed: false,
      locked: false,
    });
    expect(shm?.lastChangeTime).toBeInstanceOf(Date);
    expect(shm?.creatorPid).toBeGreaterThan(0);
  });

  test('shows attachments, and a segment removed while attached as removed with key 0', async () => {
    const shmId = c.create('shm', randomKey(), 4096);
    const holder = await c.hold(shmId);
    expect(list('shm').find((e) => e.id === shmId)).toMatchObject({
      attachments: 1,
      lastPid: holder.pid,
      removed: false,
    });
    expect(list('shm').find((e) => e.id === shmId)?.lastAttachTime).toBeInstanceOf(Date);
    c.remove('shm', shmId);
    expect(list('shm').find((e) => e.id === shmId)).toMatchObject({ key: 0, attachments: 1, removed: true });
    holder.stdin!.end();
    await once(holder, 'exit');
    expect(list('shm').find((e) => e.id === shmId)).toBeUndefined();
  });

  test('agrees with ipcs, and lists all kinds in order when no kind is given', () => {
    const queue = track(MessageQueue.create());
    const semId = c.create('sem', 0, 1);
    const shmId = c.create('shm', 0, 1);
    const all = list();
    const order = all.map((e) => IPC_KINDS.indexOf(e.kind));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    for (const kind of IPC_KINDS) {
      const ofKind = all.filter((e) => e.kind === kind).map((e) => e.id);
      expect(ofKind).toEqual([...ofKind].sort((a, b) => a - b));
      expect(list(kind).every((e) => e.kind === kind)).toBe(true);
    }
    expect(all.some((e) => e.kind === 'msg' && e.id === queue.id && e.key === 0)).toBe(true);
    expect(all.some((e) => e.kind === 'sem' && e.id === semId)).toBe(true);
    expect(all.some((e) => e.kind === 'shm' && e.id === shmId)).toBe(true);
    expect(ipcsIds('msg').has(queue.id)).toBe(true);
    expect(ipcsIds('sem').has(semId)).toBe(true);
    expect(ipcsIds('shm').has(shmId)).toBe(true);
  });

  test('refuses an unknown kind', () => {
    expect(() => list('queue' as IpcKind)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }),
    );
  });
});

describe('limits', () => {
  // ipcs -l prints the same tunables (in its own units): an independent reading.
  function ipcsLimit(label: string): number {
    const out = execFileSync('ipcs', ['-l'], { encoding: 'utf8' });
    const m = new RegExp(`^${label.replace(/[()]/g, '\\$&')}\\s*=\\s*(\\d+)`, 'm').exec(out);
    if (!m) throw new Error(`ipcs -l has no "${label}"`);
    return Number(m[1]);
  }

  test('match what ipcs -l and getconf report', () => {
    const l = limits();
    expect(l.msgmni).toBe(ipcsLimit('max queues system wide'));
    expect(l.msgmax).toBe(ipcsLimit('max size of message (bytes)'));
    expect(l.msgmnb).toBe(ipcsLimit('default max size of queue (bytes)'));
    expect(l.semmni).toBe(ipcsLimit('max number of arrays'));
    expect(l.semmsl).toBe(ipcsLimit('max semaphores per array'));
    expect(l.semmns).toBe(ipcsLimit('max semaphores system wide'));
    expect(l.semopm).toBe(ipcsLimit('max ops per semop call'));
    expect(l.semvmx).toBe(ipcsLimit('semaphore max value'));
    expect(l.semvmx).toBe(32767);
    expect(l.shmmni).toBe(ipcsLimit('max number of segments'));
    expect(l.pageSize).toBe(Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' })));
    // ipcs prints shmmax in KiB; near 2^64 both are approximate, so compare in KiB with a relative margin.
    const shmmaxKiB = ipcsLimit('max seg size (kbytes)');
    expect(Math.abs(l.shmmax / 1024 - shmmaxKiB) / shmmaxKiB).toBeLessThan(1e-9);
    // shmall is in pages, near 2^64 by default: compare with /proc with a relative margin.
    const shmall = procLimits().shmall;
    expect(nearly(l.shmall, shmall)).toBe(true);
    expect(nearly(l.shmall, shmall * 1.001)).toBe(false); // the margin is tight enough to tell limits apart
  });
});

describe('remove', () => {
  test('removes a queue by id; removing it again is EINVAL', () => {
    const queue = track(MessageQueue.create());
    remove('msg', queue.id);
    expect(list('msg').some((e) => e.id === queue.id)).toBe(false);
    expect(() => queue.info()).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => remove('msg', queue.id)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'msgctl' }));
  });

  test('removes by key and returns the id, with signed or unsigned keys', () => {
    const key = randomKey();
    const queue = track(MessageQueue.create({ key }));
    expect(removeByKey('msg', key)).toBe(queue.id);
    expect(() => MessageQueue.open(key)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const high = 0x80000000 + (randomKey() & 0x0fffffff);
    const queue2 = track(MessageQueue.create({ key: high }));
    expect(removeByKey('msg', high)).toBe(queue2.id);
  });

  test('a key nobody uses is ENOENT; IPC_PRIVATE is refused', () => {
    let caught: unknown;
    try {
      removeByKey('msg', randomKey());
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SysvIpcError);
    expect(caught).toMatchObject({ code: 'ENOENT', syscall: 'msgget' });
    expect(() => removeByKey('msg', 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  test('another user may not remove our queue (EPERM), and the queue stays', async () => {
    const queue = track(MessageQueue.create({ mode: 0o666 }));
    const child = new Child('admin-child', ['remove', 'msg', queue.id], { uid: 65534, gid: 65534 });
    expect(await child.next()).toMatchObject({ code: 'EPERM' });
    expect(list('msg').some((e) => e.id === queue.id)).toBe(true);
  });

  test('refuses bad arguments before any syscall', () => {
    expect(() => remove('queue' as IpcKind, 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => remove('msg', -1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => remove('msg', '1' as unknown as number)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  test('removes a semaphore set by id and by key', () => {
    const id = c.create('sem', 0, 2);
    remove('sem', id);
    expect(list('sem').some((e) => e.id === id)).toBe(false);
    expect(() => remove('sem', id)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    const key = randomKey();
    const id2 = c.create('sem', key, 1);
    expect(removeByKey('sem', key)).toBe(id2);
    expect(list('sem').some((e) => e.id === id2)).toBe(false);
  });

  test('removes a segment by id and by key', () => {
    const id = c.create('shm', 0, 100);
    remove('shm', id);
    expect(list('shm').some((e) => e.id === id)).toBe(false);
    expect(() => remove('shm', id)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    const key = randomKey();
    const id2 = c.create('shm', key, 100);
    expect(removeByKey('shm', key)).toBe(id2);
    expect(list('shm').some((e) => e.id === id2)).toBe(false);
  });
});
