/**
 * The package's own error codes are listed in one place (ERR in
 * lib/errors.ts): every ERR_SYSV_IPC_* the sources throw is there, and
 * README's "Errors" table documents each.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MessageQueue, Semaphore } from '../../lib';
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

describe('a sync wait that fails in the kernel names the object, as the async form does', () => {
  // The addon builds these errors from errno and syscall alone (ETIMEDOUT after
  // a timeout above 0, EIDRM/EINVAL once the object is gone); lib adds the id.
  test('MessageQueue receiveSync/sendSync: ETIMEDOUT after the timeout and EINVAL after removal carry the id', async () => {
    const queue = MessageQueue.create({ maxBytes: 16 });
    try {
      const id = queue.id;
      expect(() => queue.receiveSync({ timeout: 30 })).toThrow(
        expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'msgrcv', id }),
      );
      queue.sendSync(Buffer.alloc(16));
      expect(() => queue.sendSync(Buffer.alloc(16), { timeout: 30 })).toThrow(
        expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'msgsnd', id }),
      );
      // The async form, for comparison: the same fields.
      await expect(queue.send(Buffer.alloc(16), { timeout: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT', id });
      queue.remove();
      expect(() => queue.receiveSync({ timeout: 30 })).toThrow(expect.objectContaining({ code: 'EINVAL', id }));
    } finally {
      try {
        queue.remove();
      } catch {
        // removed above
      }
    }
  });

  test('Semaphore acquireSync / waitForZeroSync: ETIMEDOUT after the timeout carries the id and key', () => {
    const sem = Semaphore.create({ initialValue: 0 });
    try {
      expect(() => sem.acquireSync({ timeout: 30 })).toThrow(
        expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'semop', id: sem.id, key: 0 }),
      );
      sem.release(1);
      expect(() => sem.waitForZeroSync({ timeout: 30 })).toThrow(
        expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'semop', id: sem.id }),
      );
    } finally {
      sem.remove();
    }
  });
});
