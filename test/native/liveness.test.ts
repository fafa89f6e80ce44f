/**
 * Liveness of peer processes (include/sysv-ipc/liveness.h through
 * binding.processStartTime): the identity (pid, start time) that Channel and
 * FastMutex stamp into shared memory, and what counts as dead.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { binding } from '../../lib/binding';
import { processStartTime as startTimeFromCli } from '../../lib/proc';
import { haveCc, hidepidAs, hidepidUnavailable, packageRootFor, testIf } from '../support/helpers';

const ROOT = path.join(__dirname, '..', '..');

/** Field 22 of /proc/<pid>/stat, parsed independently of the native code. */
function startTimeFromProc(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[22 - 3]);
}

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
});

async function readLine(child: ChildProcess): Promise<string> {
  let text = '';
  for await (const chunk of child.stdout!) {
    text += String(chunk);
    if (text.includes('\n')) return text.slice(0, text.indexOf('\n'));
  }
  throw new Error(`the child ended before printing a line: ${JSON.stringify(text)}`);
}

test('this process has the start time /proc gives it', () => {
  const start = binding.processStartTime(process.pid);
  expect(start).toBeGreaterThan(0);
  expect(start).toBe(startTimeFromProc(process.pid));
});

test('a live child has its own start time, and none once it is dead and reaped', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  children.push(child);
  await once(child, 'spawn');
  const start = binding.processStartTime(child.pid!);
  expect(start).toBe(startTimeFromProc(child.pid!));
  expect(start).toBeGreaterThanOrEqual(binding.processStartTime(process.pid));
  child.kill('SIGKILL');
  await once(child, 'exit');
  expect(binding.processStartTime(child.pid!)).toBe(0);
});

test('a killed process that its parent has not reaped (a zombie) counts as dead', async () => {
  // The shell starts a background sleep, then becomes (exec) a node process
  // that never reaps it (libuv waits only for the children it spawned
  // itself), so once killed it stays a zombie. The pid is printed by that
  // node process, after the exec: a kill that landed while the shell still
  // ran could be reaped by the shell (then /proc/<pid> is gone: ENOENT).
  const parent = spawn(
    'sh',
    ['-c', 'sleep 30 & exec "$0" -e "console.log(process.argv[1]); setInterval(() => {}, 60000)" $!', process.execPath],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  children.push(parent);
  const pid = Number(await readLine(parent));
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[4 - 3])).toBe(parent.pid); // ppid: the node process
  expect(binding.processStartTime(pid)).toBeGreaterThan(0);
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 500 && !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/\) Z /); // still there, as a zombie
  expect(() => process.kill(pid, 0)).not.toThrow(); // kill(pid, 0) still answers for it
  expect(binding.processStartTime(pid)).toBe(0);
  expect(startTimeFromCli(pid)).toBe(0); // the CLI's /proc reader (lib/proc.ts) agrees
});

testIf(haveCc, 'no C compiler (cc) to build test/c/leader-exited.c')(
  'a process whose main thread exited while another runs (its stat says Z) counts as alive',
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liveness-'));
    try {
      const program = path.join(dir, 'leader-exited');
      execFileSync('cc', ['-O2', '-pthread', '-o', program, path.join(ROOT, 'test', 'c', 'leader-exited.c')]);
      const child = spawn(program, [], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(child);
      expect(await readLine(child)).toBe(`ready ${child.pid}`);
      // The leader's state, which is what /proc/<pid>/stat shows: a zombie.
      for (let i = 0; i < 500 && !/\) Z /.test(fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8')); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8')).toMatch(/\) Z /);
      expect(binding.processStartTime(child.pid!)).toBe(startTimeFromProc(child.pid!));
      // The CLI's reader (lib/proc.ts: `sysv-ipc ls` calls its holder alive or dead) agrees.
      expect(startTimeFromCli(child.pid!)).toBe(startTimeFromProc(child.pid!));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('a command name holding spaces and parentheses does not confuse the parser', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liveness-'));
  try {
    const odd = path.join(dir, 'x) Z (y) 1');
    fs.copyFileSync('/bin/sleep', odd);
    fs.chmodSync(odd, 0o755);
    const child = spawn(odd, ['30'], { stdio: 'ignore' });
    children.push(child);
    await once(child, 'spawn');
    expect(fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8')).toContain('(x) Z (y) 1)');
    expect(binding.processStartTime(child.pid!)).toBe(startTimeFromProc(child.pid!));
    expect(binding.processStartTime(child.pid!)).toBeGreaterThan(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a pid that names no process gives 0', () => {
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  expect(binding.processStartTime(pidMax + 1)).toBe(0);
  expect(binding.processStartTime(0x7fffffff)).toBe(0);
});

test('bad pids are refused with coded errors, not read', () => {
  expect(() => binding.processStartTime(0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  expect(() => binding.processStartTime(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  expect(() => binding.processStartTime(2 ** 31)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  expect(() => binding.processStartTime(1.5)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  expect(() => binding.processStartTime('1' as unknown as number)).toThrow(
    expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
  );
});

describe('when /proc cannot tell, that is not "dead"', () => {
  // A node child that looks at `pid` with processStartTime and prints what it got: the start
  // time, or the error's code. 'emfile': it first opens files until it has no descriptor left.
  const look = (root: string, how: 'emfile' | 'plain', pid: number) =>
    `const fs = require('fs'); require(${JSON.stringify(root)}); const { binding } = require(${JSON.stringify(path.join(root, 'dist', 'binding'))});` +
    // Another thread of the child may close a descriptor just after the hoard (Node 18 did, once in CI:
    // the look then succeeded): hoard again and look again, a few times.
    `const hoard = []; let out; for (let turn = 0; turn < 5; turn++) {` +
    `if (${JSON.stringify(how)} === 'emfile') for (;;) { try { hoard.push(fs.openSync('/dev/null', 'r')); } catch { break; } }` +
    `try { out = String(binding.processStartTime(${pid})); } catch (err) { out = err.code + ' ' + err.syscall; }` +
    `if (${JSON.stringify(how)} !== 'emfile' || out.startsWith('EMFILE')) break; }` +
    `for (const fd of hoard) fs.closeSync(fd); console.log(out);`;

  test('a looker out of file descriptors gets EMFILE, not 0', () => {
    const out = execFileSync(
      'sh',
      ['-c', 'ulimit -n 64 && exec "$0" -e "$1"', process.execPath, look(ROOT, 'emfile', process.pid)],
      {
        encoding: 'utf8',
      },
    );
    expect(out.trim()).toBe('EMFILE open');
  });

  testIf(hidepidUnavailable === '', hidepidUnavailable)(
    'another user under /proc hidepid=2 gets EACCES for a live process, 0 for a dead one',
    () => {
      const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
      const root = packageRootFor(65534);
      const run = (pid: number) => {
        const [program, ...args] = hidepidAs(65534, process.execPath, '-e', look(root, 'plain', pid));
        return execFileSync(program!, args, { encoding: 'utf8' }).trim();
      };
      expect(run(process.pid)).toBe('EACCES open'); // root's: hidden, and kill(2) says it exists (EPERM)
      expect(run(pidMax + 1)).toBe('0'); // no such process: dead, as before
    },
  );

  // The CLI reads /proc without the addon (lib/proc.ts): the same rule, so
  // that `ls` does not mark a live process "(dead)" and `rm --creator-dead`
  // does not remove what a live, hidden creator made.
  const lookJs = (root: string, how: 'emfile' | 'plain', pid: number) =>
    `const fs = require('fs'); const { processStartTime } = require(${JSON.stringify(path.join(root, 'dist', 'proc'))});` +
    `const hoard = []; if (${JSON.stringify(how)} === 'emfile') for (;;) { try { hoard.push(fs.openSync('/dev/null', 'r')); } catch { break; } }` +
    `const out = String(processStartTime(${pid})); for (const fd of hoard) fs.closeSync(fd); console.log(out);`;

  test("the CLI's /proc reader out of file descriptors says it cannot tell (null), not dead (0)", () => {
    const out = execFileSync(
      'sh',
      ['-c', 'ulimit -n 64 && exec "$0" -e "$1"', process.execPath, lookJs(ROOT, 'emfile', process.pid)],
      { encoding: 'utf8' },
    );
    expect(out.trim()).toBe('null');
  });

  testIf(hidepidUnavailable === '', hidepidUnavailable)(
    "the CLI's /proc reader under hidepid=2: null for another user's live process, 0 for a dead one",
    () => {
      const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
      const root = packageRootFor(65534);
      const run = (pid: number) => {
        const [program, ...args] = hidepidAs(65534, process.execPath, '-e', lookJs(root, 'plain', pid));
        return execFileSync(program!, args, { encoding: 'utf8' }).trim();
      };
      expect(run(process.pid)).toBe('null');
      expect(run(pidMax + 1)).toBe('0');
    },
  );
});
