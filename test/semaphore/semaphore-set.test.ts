import { SemaphoreSet, Semaphore, SEMVMX, semaphoreLimits, ClosedError } from '../../lib';
import { Agent } from '../support/sem-agent';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Child, procLimits, randomKey, track, until, useCleanup } from '../support/helpers';

useCleanup();

function make(initialValues: number[]): SemaphoreSet {
  return track(SemaphoreSet.create({ size: initialValues.length, initialValues }));
}

describe('SemaphoreSet', () => {
  test('create, values, setValues, at(), info()', () => {
    const set = make([1, 2, 3]);
    expect(set.size).toBe(3);
    expect(set.values()).toEqual([1, 2, 3]);
    set.setValues([4, 0, SEMVMX]);
    expect(set.values()).toEqual([4, 0, SEMVMX]);
    const member = set.at(1);
    expect(member).toBeInstanceOf(Semaphore);
    member.release(2);
    expect(set.values()).toEqual([4, 2, SEMVMX]);
    expect(set.info()).toMatchObject({ id: set.id, key: 0, size: 3, mode: 0o600 });
    expect(member.info()).toMatchObject({ index: 1, value: 2, size: 3 });
    expect(track(SemaphoreSet.create({ size: 2 })).values()).toEqual([0, 0]);
    SemaphoreSet.fromId(SemaphoreSet.create({ size: 1 }).id).remove();
    track(SemaphoreSet.fromId(SemaphoreSet.create({ size: 2 }).id));
  });

  test('a set and its views are one handle: closing any closes all, and their key, id and created agree', async () => {
    const set = make([0, 0]);
    const member = set.at(1);
    expect(member.semaphoreSet).toBe(set);
    expect([member.id, member.key, member.created]).toEqual([set.id, set.key, set.created]);
    const waiting = set.operate([{ index: 0, delta: -1 }]);
    await until(() => set.at(0).info().waitingForNonZero === 1, 10000, 'the waiter');
    member.close();
    await expect(waiting).rejects.toBeInstanceOf(ClosedError);
    expect([set.closed, member.closed, set.at(0).closed]).toEqual([true, true, true]);
    expect(() => set.tryOperate([{ index: 0, delta: 1 }])).toThrow(ClosedError);
    const sem = track(Semaphore.create({ initialValue: 1 }));
    sem.semaphoreSet.close();
    expect(sem.closed).toBe(true);
    expect(() => sem.tryAcquire()).toThrow(ClosedError);
  });

  test('at() works in a process that loaded only the module declaring SemaphoreSet', () => {
    // Once at() needed semaphore.ts to have registered a factory first (index.ts
    // happened to load it), and threw in a program that required the set's module alone.
    const module = path.join(__dirname, '..', '..', 'dist', 'semaphore', 'semaphore.js');
    const program = `
      const { SemaphoreSet } = require(${JSON.stringify(module)});
      const set = SemaphoreSet.create({ size: 2, initialValues: [0, 3] });
      try {
        process.stdout.write(String(set.at(1).value));
      } finally {
        set.remove();
      }`;
    expect(execFileSync(process.execPath, ['-e', program], { encoding: 'utf8', timeout: 60000 })).toBe('3');
  });

  test('limits come from the kernel', () => {
    const limits = semaphoreLimits();
    expect(limits.SEMVMX).toBe(SEMVMX);
    const proc = procLimits();
    expect(limits.SEMOPM).toBe(proc.semopm);
    expect(limits.SEMMSL).toBe(proc.semmsl);
  });

  test('a multi-op that cannot complete changes no member', async () => {
    const set = make([1, 0, 5]);
    const ops = [
      { index: 0, delta: -1 },
      { index: 2, delta: +3 },
      { index: 1, delta: -1 },
    ];
    expect(set.tryOperate(ops)).toBe(false);
    expect(set.values()).toEqual([1, 0, 5]);
    expect(() => set.operateSync(ops, { timeout: 20 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    await expect(set.operate(ops, { timeout: 20 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(set.values()).toEqual([1, 0, 5]);
    // ERANGE on one op (5 + SEMVMX) fails the whole call.
    expect(() =>
      set.tryOperate([
        { index: 0, delta: -1 },
        { index: 2, delta: SEMVMX },
      ]),
    ).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    expect(set.values()).toEqual([1, 0, 5]);
    set.at(1).release();
    expect(set.tryOperate(ops)).toBe(true);
    expect(set.values()).toEqual([0, 0, 8]);
  });

  test('a pending multi-op waits for all members, across processes', async () => {
    const set = make([0, 0]);
    const agent = new Agent();
    const both = set.operate([
      { index: 0, delta: -1 },
      { index: 1, delta: -1 },
    ]);
    await until(() => set.at(0).info().waitingForNonZero === 1, 10000, 'the waiter to block');
    await agent.ok('release', { id: set.id, index: 0, count: 1 });
    // Member 0 could be taken alone, but the operation is all or nothing.
    expect(set.values()).toEqual([1, 0]);
    await agent.ok('operate', { id: set.id, ops: [{ index: 1, delta: 1 }] });
    await both;
    expect(set.values()).toEqual([0, 0]);
  });

  test('bad input is rejected and leaves every value unchanged', async () => {
    const set = make([3, 3]);
    const { SEMOPM } = semaphoreLimits();
    const bad: unknown[] = [
      [],
      [{ index: 2, delta: -1 }],
      [{ index: -1, delta: -1 }],
      [{ index: 0.5, delta: -1 }],
      [{ index: NaN, delta: -1 }],
      [{ index: 0, delta: 1.5 }],
      [{ index: 0, delta: NaN }],
      [{ index: 0, delta: SEMVMX + 1 }],
      [{ index: 0, delta: -SEMVMX - 1 }],
      [
        { index: 0, delta: -1 },
        { index: 1, delta: -1, undo: 'yes' },
      ],
      [{ index: 0, delta: -1 }, null],
      [
        { index: 0, delta: -1 },
        { index: '1', delta: -1 },
      ],
      new Array(SEMOPM + 1).fill({ index: 0, delta: -1 }),
      { index: 0, delta: -1 },
      'ops',
    ];
    for (const ops of bad) {
      expect(() => set.tryOperate(ops as never)).toThrow(/must|out of range/);
      expect(() => set.operateSync(ops as never)).toThrow(/must|out of range/);
      await expect(set.operate(ops as never)).rejects.toThrow(/must|out of range/);
    }
    await expect(set.operate([{ index: 0, delta: -1 }], { timeout: -5 })).rejects.toThrow(RangeError);
    await expect(set.operate([{ index: 0, delta: -1 }], { timeout: NaN })).rejects.toThrow(RangeError);
    expect(() => set.setValues([1])).toThrow(RangeError);
    expect(() => set.setValues([1, SEMVMX + 1])).toThrow(RangeError);
    expect(() => set.setValues([1, -1])).toThrow(RangeError);
    expect(() => set.at(2)).toThrow(RangeError);
    expect(set.values()).toEqual([3, 3]);
    for (const size of [0, -1, 1.5, NaN, semaphoreLimits().SEMMSL + 1]) {
      expect(() => SemaphoreSet.create({ size })).toThrow(RangeError);
    }
    expect(() => SemaphoreSet.create({ size: 2, initialValues: [1] })).toThrow(RangeError);
    expect(() => SemaphoreSet.create({ size: 1, initialValues: [SEMVMX + 1] })).toThrow(RangeError);
  });

  test('SEMOPM operations in one call are accepted', () => {
    const { SEMOPM } = semaphoreLimits();
    const set = make([SEMOPM]);
    expect(set.tryOperate(new Array(SEMOPM).fill({ index: 0, delta: -1 }))).toBe(true);
    expect(set.values()).toEqual([0]);
  });

  test('close, abort and timeout end a pending operate with nothing taken', async () => {
    const set = make([1, 0]);
    const ops = [
      { index: 0, delta: -1 },
      { index: 1, delta: -1 },
    ];
    const ac = new AbortController();
    const aborted = set.operate(ops, { signal: ac.signal });
    await until(() => set.at(1).info().waitingForNonZero === 1, 10000, 'the waiter');
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await expect(set.operate(ops, { timeout: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await until(() => set.at(1).info().waitingForNonZero === 0, 10000, 'the waiters to leave');
    const closed = set.operate(ops);
    await until(() => set.at(1).info().waitingForNonZero === 1, 10000, 'the waiter');
    set.close();
    await expect(closed).rejects.toBeInstanceOf(ClosedError);
    const view = SemaphoreSet.fromId(set.id);
    await until(() => view.at(1).info().waitingForNonZero === 0, 10000, 'the waiters to leave');
    expect(view.values()).toEqual([1, 0]);
    expect(() => set.values()).not.toThrow(); // close frees the handle only: the set is still there
  });

  test('EIDRM to an operate waiter when another process removes the set', async () => {
    const set = make([0]);
    const agent = new Agent();
    const waiting = set.operate([{ index: 0, delta: -1 }]).then(
      () => null,
      (err: unknown) => err,
    );
    await until(() => set.at(0).info().waitingForNonZero === 1, 10000, 'the waiter');
    await agent.ok('remove', { id: set.id });
    expect(await waiting).toMatchObject({ code: 'EIDRM' });
  });

  test('set() changes the mode; EACCES for another user', async () => {
    const set = make([1]);
    set.set({ mode: 0o600 });
    const agent = new Agent({ uid: 65534, gid: 65534 });
    expect((await agent.run('release', { id: set.id, count: 1 })).error).toBe('EACCES');
    set.set({ mode: 0o666 });
    await agent.ok('release', { id: set.id, count: 1 });
    expect(set.values()).toEqual([2]);
    expect(set.info().mode).toBe(0o666);
  });
});

describe('SemaphoreSet open-or-create', () => {
  test('open by key: ENOENT, size checks, and values kept', () => {
    const key = randomKey();
    expect(() => SemaphoreSet.open(key)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => SemaphoreSet.open(key, { create: true })).toThrow(/size is required/);
    const a = track(SemaphoreSet.open(key, { create: true, size: 2, initialValues: [2, 3] }));
    expect(a.created).toBe(true);
    const b = SemaphoreSet.open(key, { create: true, size: 2, initialValues: [9, 9] });
    expect(b.created).toBe(false);
    expect(b.values()).toEqual([2, 3]);
    expect(SemaphoreSet.open(key).size).toBe(2);
    expect(() => SemaphoreSet.open(key, { size: 3 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  type RaceResult = { created: boolean; acquired: boolean; error?: string; message?: string };

  // Six long-lived children race open(key, { create: true }) on a fresh key
  // each round. In half the rounds they race each other; in the other half a
  // slow creator (test/c/sem-slow-creator.c: the raw semget(IPC_CREAT |
  // IPC_EXCL), 100 ms, then the values and the sem_otime stamp) has made the
  // set first, so every opener meets it uninitialised for certain. Each child
  // then takes one unit without waiting: a child that acted on the kernel's
  // zeroed value would find nothing to take.
  test('racing open-or-create: exactly one creates, nobody sees an uninitialised value', async () => {
    const rounds = 8;
    const racers = 6;
    const children = Array.from({ length: racers }, () => new Child('sem-open-race'));
    try {
      await Promise.all(children.map((c) => c.next()));
      const race = async (round: number, key: number): Promise<RaceResult[]> => {
        for (const c of children) c.send({ round, key, initialValue: racers });
        return Promise.all(children.map((c) => c.next<RaceResult>()));
      };
      for (let round = 0; round < rounds; round++) {
        const key = randomKey();
        const results = await race(round, key);
        const sem = track(Semaphore.open(key));
        expect(results.filter((r) => r.error)).toEqual([]);
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(results.every((r) => r.acquired)).toBe(true);
        expect(sem.value).toBe(0);
      }
      for (let round = 0; round < rounds; round++) {
        const key = randomKey();
        const creator = slowCreator(key, racers, 100);
        try {
          track(SemaphoreSet.fromId(await creator.created));
          const results = await race(round, key);
          expect(await creator.initialised).toBe(true);
          expect(results.filter((r) => r.error)).toEqual([]);
          expect(results.filter((r) => r.created)).toHaveLength(0);
          expect(results.every((r) => r.acquired)).toBe(true);
          expect(Semaphore.open(key).value).toBe(0);
        } finally {
          creator.proc.kill('SIGKILL');
        }
      }
    } finally {
      for (const c of children) c.send({ exit: true });
      await Promise.all(children.map((c) => c.exited));
    }
  });

  test('an opener gives up with a clear ETIMEDOUT when the creator died before initialising', async () => {
    const key = randomKey();
    // The set exists (semget done) while the creator sleeps before initialising it.
    const creator = slowCreator(key, 1, 60000);
    let id: number;
    try {
      id = await creator.created;
      track(SemaphoreSet.fromId(id));
    } finally {
      creator.proc.kill('SIGKILL');
    }
    expect(await creator.initialised).toBe(false);
    expect(SemaphoreSet.fromId(id).info().lastOpTime).toBeNull();
    expect(() => Semaphore.open(key, { create: true, initialValue: 1, initTimeout: 100 })).toThrow(
      expect.objectContaining({ code: 'ETIMEDOUT', message: expect.stringMatching(/not initialised within 100 ms/) }),
    );
    // Without create, the set opens as it is (for sets made by programs outside this protocol).
    expect(Semaphore.open(key).value).toBe(0);
  });
});

// test/c/sem-slow-creator.c, compiled once for this file.
let slowCreatorBin = '';
beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sem-slow-creator-'));
  slowCreatorBin = path.join(dir, 'sem-slow-creator');
  execFileSync(
    'cc',
    ['-O2', '-Wall', '-Wextra', '-Werror', '-o', slowCreatorBin, path.join(__dirname, '..', 'c', 'sem-slow-creator.c')],
    { stdio: 'pipe' },
  );
});
afterAll(() => {
  if (slowCreatorBin) fs.rmSync(path.dirname(slowCreatorBin), { recursive: true, force: true });
});

/**
 * Starts the slow creator: `created` resolves with the semid once semget is
 * done (the set is then uninitialised for `delayMs`), `initialised` with
 * whether it finished the handshake and exited 0.
 */
function slowCreator(
  key: number,
  value: number,
  delayMs: number,
): {
  proc: ChildProcess;
  created: Promise<number>;
  initialised: Promise<boolean>;
} {
  const proc = spawn(slowCreatorBin, [String(key), String(value), String(delayMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout!.setEncoding('utf8');
  const created = new Promise<number>((resolve, reject) => {
    proc.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const m = /^created (\d+)$/m.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.on('exit', (code, signal) => reject(new Error(`sem-slow-creator exited (${code ?? signal}) before semget`)));
  });
  const initialised = new Promise<boolean>((resolve) => {
    proc.on('exit', (code) => resolve(code === 0 && /^initialised$/m.test(out)));
  });
  created.catch(() => {}); // a rejection nobody awaits is reported by the assertions instead
  return { proc, created, initialised };
}
