/**
 * The demo (`npm start`) run as users run it: a real child process with its
 * real workers, against the built package. What it must show: it completes
 * and verifies its results, and it leaves no kernel object behind on any way
 * out — the end, Ctrl-C, a crashed worker — and its workers never outlive it.
 *
 * The kernel's table is read straight from /proc/sysvipc, not through the
 * package. Other programs may create objects meanwhile, so the checks look
 * only at what belongs to the demo: the objects it announces, and any object
 * whose creator or last user (cpid, lspid, lrpid) is one of its processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { remove, type IpcKind } from '../../lib';
import { until } from '../support/helpers';

const ROOT = path.join(__dirname, '..', '..');
const DEMO = path.join(ROOT, 'demo', 'demo.js');

interface Row {
  kind: IpcKind;
  fields: Record<string, number>;
}

/** Every object in /proc/sysvipc, with its columns by name. */
function kernelObjects(): Row[] {
  const rows: Row[] = [];
  for (const kind of ['msg', 'sem', 'shm'] as const) {
    const [header, ...lines] = fs.readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n');
    const names = header.trim().split(/\s+/);
    for (const line of lines) {
      const values = line.trim().split(/\s+/).map(Number);
      rows.push({ kind, fields: Object.fromEntries(names.map((n, i) => [n, values[i]])) });
    }
  }
  return rows;
}

const idOf = (r: Row) => r.fields.msqid ?? r.fields.semid ?? r.fields.shmid;

class Demo {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [DEMO, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    this.proc.stderr!.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The objects the demo says it created, as "kind:id". */
  announced(): string[] {
    const line = /^ipc objects: (.*)$/m.exec(this.stdout)?.[1] ?? '';
    return [...line.matchAll(/\b(msg|sem|shm) (\d+)/g)].map((m) => `${m[1]}:${m[2]}`);
  }

  /** The demo's process tree: itself and the worker pids it prints. */
  pids(): number[] {
    const line = /^workers: (.*)$/m.exec(this.stdout)?.[1] ?? '';
    return [this.proc.pid!, ...[...line.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))];
  }

  /** Kernel objects that are the demo's: announced, or created/used by one of its processes. */
  leftovers(): string[] {
    const announced = new Set(this.announced());
    const pids = new Set(this.pids());
    return kernelObjects()
      .filter(
        (r) => announced.has(`${r.kind}:${idOf(r)}`) || ['cpid', 'lspid', 'lrpid'].some((f) => pids.has(r.fields[f])),
      )
      .map((r) => `${r.kind}:${idOf(r)}`);
  }

  /**
   * Worker processes not yet fully gone. A zombie whose other threads still
   * run (the leader of a thread group becomes a zombie first) still holds
   * its mappings, so it counts as alive until it is the last task left.
   */
  liveWorkers(): number[] {
    return this.pids()
      .slice(1)
      .filter((pid) => {
        try {
          const state = fs
            .readFileSync(`/proc/${pid}/stat`, 'utf8')
            .replace(/\(.*\)/, 'x')
            .split(' ')[2];
          return state !== 'Z' || fs.readdirSync(`/proc/${pid}/task`).length > 1;
        } catch {
          return false; // reaped
        }
      });
  }

  /** Removes whatever the demo left (only the kill -9 test expects any). */
  removeLeftovers(): void {
    for (const entry of this.leftovers()) {
      const [kind, id] = entry.split(':');
      try {
        remove(kind as IpcKind, Number(id));
      } catch {
        // gone meanwhile
      }
    }
  }
}

const running = new Set<Demo>();
function start(args: string[]): Demo {
  const demo = new Demo(args);
  running.add(demo);
  return demo;
}

afterEach(async () => {
  for (const demo of running) {
    if (demo.proc.exitCode === null && demo.proc.signalCode === null) demo.proc.kill('SIGKILL');
    await demo.exited;
    for (const pid of demo.liveWorkers()) process.kill(pid, 'SIGKILL');
    demo.removeLeftovers();
  }
  running.clear();
});

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js')))
    throw new Error('dist/ is missing: run `npm run compile:ts` first');
});

/** Waits for the first progress line: the workers are past the barrier and working. */
const untilWorking = (demo: Demo) => until(() => /^progress: /m.test(demo.stdout), 20000, 'the demo to print progress');

test('--quick runs to the end, verifies every result in shared memory, and leaves nothing', async () => {
  const demo = start(['--quick', '--workers', '3']);
  const { code } = await demo.exited;
  expect(demo.stderr).toBe('');
  expect(code).toBe(0);
  expect(demo.announced()).toHaveLength(5); // a queue, two semaphore sets, a segment, a channel's segment
  expect(demo.stdout).toMatch(/^barrier open: 3 workers released together$/m);
  expect(demo.stdout).toMatch(/^ {2}verified +all 120\/120 results in shared memory match a segmented sieve/m);
  expect(demo.stdout).toMatch(/^ {2}counters +120 jobs counted under the mutex, per-worker sum 120$/m);
  // The FastMutex-guarded total and the reports handed over the Channel ran, and add up (120 jobs of
  // 25,000 numbers: the primes below 3,000,000).
  expect(demo.stdout).toMatch(/^ {2}fast mutex +216,816 primes summed under the FastMutex, one lock per job$/m);
  expect(demo.stdout).toMatch(
    /^ {2}channel +3 reports handed over the channel: w0 \d+ jobs, w1 \d+ jobs, w2 \d+ jobs; 120 jobs, 216,816 primes in all$/m,
  );
  expect(demo.stdout).toMatch(/^ {2}round trip .* median [\d.,]+ µs, p99 [\d.,]+ µs$/m);
  const perWorker = /^ {2}jobs .* by 3 workers: w0 (\d+), w1 (\d+), w2 (\d+)$/m.exec(demo.stdout);
  expect(perWorker!.slice(1).reduce((a, b) => a + Number(b), 0)).toBe(120);
  expect(demo.leftovers()).toEqual([]);
  expect(demo.liveWorkers()).toEqual([]);
});

test('SIGINT midway: exits promptly with 130, removes everything, stops its workers', async () => {
  const demo = start(['--jobs', '50000']); // far more work than the test waits for
  await untilWorking(demo);
  expect(demo.leftovers().sort()).toEqual(demo.announced().sort()); // the objects are live now
  demo.proc.kill('SIGINT');
  const { code } = await demo.exited;
  expect(code).toBe(130);
  expect(demo.stderr).toMatch(/^demo: interrupted by SIGINT; stopping the workers and removing the IPC objects$/m);
  expect(demo.stderr).toMatch(/nothing left in the kernel/);
  expect(demo.stdout).not.toMatch(/Summary/);
  expect(demo.leftovers()).toEqual([]);
  expect(demo.liveWorkers()).toEqual([]);
});

test('a worker that crashes: the parent says which, stops the rest, exits 1, leaves nothing', async () => {
  const demo = start(['--quick', '--crash-worker']);
  const { code } = await demo.exited;
  expect(code).toBe(1);
  expect(demo.stderr).toMatch(/simulated crash \(--crash-worker\)/); // the worker's own error
  expect(demo.stderr).toMatch(/^demo: worker 1 \(pid \d+\) crashed: exit code 1; stopping the workers/m);
  expect(demo.stdout).not.toMatch(/Summary/);
  expect(demo.leftovers()).toEqual([]);
  expect(demo.liveWorkers()).toEqual([]);
});

test('a worker killed with SIGKILL is reported as a crash, and nothing is left', async () => {
  const demo = start(['--jobs', '50000']);
  await untilWorking(demo);
  const victim = demo.pids()[3];
  process.kill(victim, 'SIGKILL');
  const { code } = await demo.exited;
  expect(code).toBe(1);
  expect(demo.stderr).toMatch(new RegExp(`^demo: worker 2 \\(pid ${victim}\\) crashed: killed by SIGKILL`, 'm'));
  expect(demo.leftovers()).toEqual([]);
  expect(demo.liveWorkers()).toEqual([]);
});

test('kill -9 of the parent: its objects stay (nothing can run), but the workers exit by themselves', async () => {
  const demo = start(['--jobs', '50000']);
  await untilWorking(demo);
  demo.proc.kill('SIGKILL');
  await demo.exited;
  // The workers see the IPC channel close and exit; no one removed the objects.
  await until(() => demo.liveWorkers().length === 0, 10000, 'the orphaned workers to exit');
  expect(demo.leftovers().sort()).toEqual(demo.announced().sort());
  demo.removeLeftovers();
  expect(demo.leftovers()).toEqual([]);
});

test('--help explains the options; a bad option is one line and exit code 2, before anything is created', async () => {
  const help = start(['--help']);
  expect((await help.exited).code).toBe(0);
  expect(help.stdout).toMatch(/^Usage: npm start -- \[options\]/);
  expect(help.stdout).toMatch(/--crash-worker/);
  const bad = start(['--workers', '0']);
  expect((await bad.exited).code).toBe(2);
  expect(bad.stderr).toMatch(/^demo: --workers must be an integer from 1 to 64, got "0"\n/);
  expect(bad.stdout).toBe('');
});
