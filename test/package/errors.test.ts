/**
 * The package's own error codes are listed in one place (ERR in
 * lib/errors.ts): every ERR_SYSV_IPC_* the sources throw is there, and
 * README's "Errors" table documents each.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERR, syscallError, SysvIpcError } from '../../lib/errors';

const ROOT = path.join(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|cc|h)$/.test(e.name) ? [p] : [];
  });
}

test('every ERR_SYSV_IPC_* code in lib/ and native/ is listed in ERR', () => {
  const used = new Set<string>();
  for (const file of [...sourceFiles(path.join(ROOT, 'lib')), ...sourceFiles(path.join(ROOT, 'native'))]) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/ERR_SYSV_IPC_[A-Z_]+/g)) used.add(m[0]);
  }
  expect([...used].sort()).toEqual(Object.values(ERR).sort());
});

test("README's errors section has a row for every code", () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Errors'), readme.indexOf('<!-- end section: errors -->'));
  for (const code of Object.values(ERR)) expect(section).toMatch(new RegExp(`^\\| \`${code}\` \\|`, 'm'));
});

test('a SysvIpcError with its own explanation or a path builds its message once, in the usual shape', () => {
  const timedOut = syscallError(110, 'semget', { key: 1, id: 2 }, { detail: 'the set was never initialised' });
  expect(timedOut).toBeInstanceOf(SysvIpcError);
  expect(timedOut).toMatchObject({ code: 'ETIMEDOUT', errno: 110, syscall: 'semget', key: 1, id: 2 });
  expect(timedOut.message).toBe('ETIMEDOUT: connection timed out, semget (the set was never initialised)');
  const missing = syscallError(2, 'ftok', undefined, { path: '/nowhere' });
  expect(missing.message).toBe("ENOENT: no such file or directory, ftok '/nowhere'");
  expect(new SysvIpcError(2, 'msgget').message).toBe(
    'ENOENT: no such file or directory, msgget (no message queue exists for this key)',
  );
});
