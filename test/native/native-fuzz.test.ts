/**
 * Fuzzes the raw native binding (test/fixtures/native-fuzz.js) in a child
 * process: every entry point, thousands of random argument lists. The
 * non-negotiable "no call from JavaScript can crash the process" holds if the
 * child ends normally (code 0, no SIGSEGV/SIGABRT), everything it threw was
 * an Error of an expected kind, and it left no kernel object behind.
 *
 * FUZZ_SEED=<n> replays a run (the seed is printed by the child and named in
 * every failure). After a crash or a hang the failure names the last call.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MessageQueue, SharedMemory } from '../../lib';
import { Child, sleep, testIfProbes, track, useCleanup } from '../support/helpers';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'native-fuzz.js');
// Long enough for a loaded 2-core machine; a healthy run takes a few seconds.
const WATCHDOG_MS = 45000;

interface Created {
  kind: 'msg' | 'sem' | 'shm';
  id: number;
}
interface Stats {
  calls: number;
  ok: Record<string, number>;
  errors: Record<string, number>;
  samples: Record<string, { call: string; message: string }>;
  nonErrors: Array<{ call: string; thrown: string }>;
  asyncStarted: number;
  cancels: number;
}
interface ProcessReport {
  mode: 'process';
  seed: number;
  ms: number;
  stats: Stats;
  created: Created[];
  liveAttachments: number;
}
interface WorkerReport {
  mode: 'worker';
  seed: number;
  ms: number;
  progress: number;
  attachments: number;
  created: Created[];
  workerError: string | null;
}

interface Run<R> {
  code: number | null;
  signal: NodeJS.Signals | null;
  report: R | undefined;
  lastCall: string;
  ledger: Created[];
  timedOut: boolean;
}

async function runFixture<R>(mode: 'process' | 'worker', seed: number, calls: number): Promise<Run<R>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-fuzz-'));
  const trace = path.join(dir, 'trace');
  const ledger = path.join(dir, 'ledger');
  fs.writeFileSync(ledger, '');
  const child = fork(FIXTURE, [String(seed), String(calls), mode, trace, ledger], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--expose-gc'],
  });
  let report: R | undefined;
  child.on('message', (m) => {
    report = m as R;
  });
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, WATCHDOG_MS);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(watchdog);
  // The main thread's trace, or each worker's (trace.0, trace.1, ...).
  const traces = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('trace'))
    .sort();
  const lastCall = traces.map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim()).join(' | ') || '(none)';
  const ledgerEntries = fs
    .readFileSync(ledger, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [kind, id] = line.split(' ');
      return { kind: kind as Created['kind'], id: Number(id) };
    });
  fs.rmSync(dir, { recursive: true, force: true });
  return { code, signal, report, lastCall, ledger: ledgerEntries, timedOut };
}

/** The ids of each kind in /proc/sysvipc right now. */
function kernelIds(): Record<Created['kind'], Set<number>> {
  const read = (kind: string) =>
    new Set(
      fs
        .readFileSync(`/proc/sysvipc/${kind}`, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => Number(line.trim().split(/\s+/)[1])),
    );
  return { msg: read('msg'), sem: read('sem'), shm: read('shm') };
}

/** Fails with what the fixture left behind, after removing it (only after a crash can there be any). */
function expectRemoved(run: Run<unknown>): void {
  const ids = kernelIds();
  const left = run.ledger.filter((c) => ids[c.kind].has(c.id));
  if (left.length > 0 && (run.signal !== null || run.code !== 0)) {
    // The child died before its finally: remove what it made (ids it created itself).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { binding } = require('../../lib/binding') as typeof import('../../lib/binding');
    for (const c of left) {
      try {
        binding[`${c.kind}Remove`](c.id);
      } catch {
        /* gone */
      }
    }
  }
  expect(left).toEqual([]);
}

function explain(run: Run<unknown>, seed: number): string {
  return (
    `seed ${seed} (replay with FUZZ_SEED=${seed}): exit code ${run.code}, signal ${run.signal}` +
    `${run.timedOut ? `, killed by the ${WATCHDOG_MS} ms watchdog` : ''}; last call: ${run.lastCall}`
  );
}

// About 1.5 s of calls on an idle machine.
const CALLS = 50000;
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);

// Errors the binding may throw: argument errors with Node's codes, failed
// syscalls (SysvIpcError with the errno's name), and the addon's own coded errors.
const EXPECTED_ERROR =
  /^(TypeError:ERR_INVALID_ARG_TYPE|RangeError:ERR_OUT_OF_RANGE|SysvIpcError:E[A-Z0-9]+|SysvIpcError:ERR_SYSV_IPC_(NOT_A_CHANNEL|CHANNEL_CORRUPT|NOT_A_TOPIC|TOPIC_CORRUPT|TOO_MANY_SUBSCRIBERS)|Error:ERR_SYSV_IPC_(CLOSED|READ_ONLY|NO_EXTERNAL_BUFFERS))$/;

describe('native binding fuzz', () => {
  testIfProbes(
    'thousands of random calls to every entry point never crash the process',
    async () => {
      const run = await runFixture<ProcessReport>('process', SEED, CALLS);
      const why = explain(run, SEED);
      expect({ code: run.code, signal: run.signal, why }).toEqual({ code: 0, signal: null, why });
      const report = run.report!;
      expect(report).toBeDefined();
      const { stats } = report;
      expect(stats.calls).toBeGreaterThanOrEqual(CALLS);
      // Every throw was an Error, and of a kind the binding documents.
      expect(stats.nonErrors).toEqual([]);
      const unexpected = Object.keys(stats.errors)
        .filter((k) => !EXPECTED_ERROR.test(k))
        .map((k) => ({ kind: k, ...stats.samples[k] }));
      expect(unexpected).toEqual([]);
      // The fuzzer got past validation into the syscalls: most entry points succeeded
      // at least once (init never does; the removes and rare paths may not).
      const succeeded = Object.keys(stats.ok);
      for (const fn of [
        'msgsnd',
        'msgrcv',
        'msgrcvBuffer',
        'msgsndAsync',
        'msgrcvAsync',
        'semop',
        'semopOne',
        'semopAsync',
        'semSetAll',
        'shmat',
        'shmDetach',
        'shmArrayBuffer',
        'shmWrite',
        'shmReadInto',
        'shmWaitSync',
        'shmWaitAsync',
        'cancelWait',
        'chSend',
        'chReceive',
        'chReceiveBuffer',
        'chSendAsync',
        'chReceiveAsync',
        'chStats',
      ]) {
        expect(succeeded).toContain(fn);
      }
      expect(stats.asyncStarted).toBeGreaterThan(0);
      expectRemoved(run);
    },
    WATCHDOG_MS + 15000,
  );

  testIfProbes(
    'worker threads terminated in the middle of fuzzing tear down cleanly',
    async () => {
      const run = await runFixture<WorkerReport>('worker', SEED + 1, 2000);
      const why = explain(run, SEED + 1);
      expect({ code: run.code, signal: run.signal, why }).toEqual({ code: 0, signal: null, why });
      const report = run.report!;
      expect(report).toBeDefined();
      expect(report.workerError).toBeNull();
      // Three workers, stopped after about 1/3, 2/3 and all of 2000 calls.
      expect(report.progress).toBeGreaterThanOrEqual(4000);
      // The environments' cleanup detached every attachment the workers made.
      expect(report.attachments).toBe(0);
      expectRemoved(run);
    },
    WATCHDOG_MS + 15000,
  );
});

// Minimal cases the fuzzer found, kept as plain tests.
describe('native binding regressions', () => {
  useCleanup();

  test('terminating a worker while a native call throws does not abort the process', async () => {
    // Used to end in SIGABRT: "terminate called after throwing an instance of 'Napi::Error'".
    const child = new Child('native-worker-terminate', [20]);
    expect(await child.next()).toEqual({ rounds: 20 });
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  test('a process whose two async waits share a wait id still exits', async () => {
    // Used to hang for ever at exit: teardown joined the thread of the wait that
    // cancelWait could no longer reach.
    const child = new Child('native-duplicate-wait');
    expect(await child.next()).toEqual({ duplicate: 'ERR_OUT_OF_RANGE' });
    const ended = await Promise.race([child.exited, sleep(10000).then(() => 'still running after 10 s')]);
    expect(ended).toEqual({ code: 0, signal: null });
  });

  test('views of a SharedArrayBuffer are accepted wherever bytes are', () => {
    // Used to throw a bare Error "Invalid argument" (no code) from the addon.
    const sab = new SharedArrayBuffer(8);
    new Uint8Array(sab).set([1, 2, 3, 4, 5, 6, 7, 8]);
    const queue = track(MessageQueue.create());
    queue.sendSync(new Uint8Array(sab, 2, 3));
    queue.sendSync(new DataView(sab, 5));
    expect([...queue.receiveSync().data]).toEqual([3, 4, 5]);
    expect([...queue.receiveSync().data]).toEqual([6, 7, 8]);
    const shm = track(SharedMemory.create({ size: 4096 }));
    shm.write(new Int32Array(sab), 0);
    const into = new Uint8Array(new SharedArrayBuffer(8));
    shm.readInto(into, 0);
    expect([...into]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
