/**
 * The robust lock protocol (include/sysv-ipc/lock.h) exercised from C, in
 * real processes: mutual exclusion over a plain read-modify-write, and a
 * holder SIGKILLed while holding (left a zombie) whose lock passes to the
 * next locker, who is told. FastMutex and Channel build on this header.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { testIf } from '../support/helpers';

const ROOT = path.join(__dirname, '..', '..');
const haveCc = (() => {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const maybe = testIf(haveCc, 'no C compiler (cc) to build the C peer');
let program = '';

beforeAll(() => {
  if (!haveCc) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-stress-'));
  program = path.join(dir, 'lock-stress');
  execFileSync('cc', [
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-I',
    path.join(ROOT, 'include'),
    '-o',
    program,
    path.join(ROOT, 'test/c/lock-stress.c'),
  ]);
});
afterAll(() => {
  if (program) fs.rmSync(path.dirname(program), { recursive: true, force: true });
});

maybe('4 processes x 50,000 unguarded increments under the lock give the exact total', () => {
  const out = execFileSync(program, ['count', '4', '50000'], { encoding: 'utf8', timeout: 60_000 });
  expect(out.trim()).toBe('200000 ok');
});

maybe('a holder SIGKILLed while holding passes the lock on within 1 s, and the taker is told', () => {
  const out = execFileSync(program, ['died'], { encoding: 'utf8', timeout: 20_000 });
  const m = /^owner-died (\d+)$/.exec(out.trim());
  expect(m).not.toBeNull();
  expect(Number(m![1])).toBeLessThan(1000);
});
