/**
 * ftok: the same key as glibc's ftok(3) for the same file and id, checked
 * against a real C program compiled here, and usable across languages (a
 * queue a C program makes with its ftok key is the one Node opens with ours).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ftok, IPC_PRIVATE, MessageQueue, SysvIpcError } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

// `key <path> <id>` prints ftok's key (signed, -1 on failure, with errno);
// `create <path> <id>` makes a queue with that key and prints its msqid.
const C_SOURCE = `
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
int main(int argc, char** argv) {
  if (argc != 4) return 2;
  key_t key = ftok(argv[2], atoi(argv[3]));
  if (strcmp(argv[1], "key") == 0) {
    printf("%d %d\\n", (int)key, key == -1 ? errno : 0);
    return 0;
  }
  int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
  if (id < 0) { perror("msgget"); return 1; }
  printf("%d\\n", id);
  return 0;
}
`;

let dir: string;
let cFtok: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-ftok-'));
  fs.writeFileSync(path.join(dir, 'ftok.c'), C_SOURCE);
  cFtok = path.join(dir, 'ftok');
  execFileSync('cc', ['-O0', '-o', cFtok, path.join(dir, 'ftok.c')], { stdio: 'pipe' });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function cKey(file: string, id: number): { key: number; errno: number } {
  const [key, errno] = execFileSync(cFtok, ['key', file, String(id)], { encoding: 'utf8' })
    .trim()
    .split(' ')
    .map(Number);
  return { key, errno };
}

describe('ftok', () => {
  test('gives the same key as C for files and directories, for ids across the whole range', () => {
    const file = path.join(dir, 'some-file');
    fs.writeFileSync(file, 'x');
    // /proc, /sys and /dev are other file systems: their st_dev exercises the device byte.
    const paths = [file, dir, '/', process.execPath, __filename, '/proc', '/sys', '/dev'].filter((p) =>
      fs.existsSync(p),
    );
    expect(new Set(paths.map((p) => fs.statSync(p).dev & 0xff)).size).toBeGreaterThan(1);
    for (const p of paths) {
      for (const id of [1, 65, 127, 128, 200, 255]) {
        // C prints the signed key_t; ftok reports the same 32 bits unsigned.
        expect({ p, id, key: ftok(p, id) }).toEqual({ p, id, key: cKey(p, id).key >>> 0 });
      }
    }
  });

  test("returns the key unsigned: ids from 128 up give keys above 2^31 (negative as C's key_t), as .key reports them", () => {
    const key = ftok(dir, 0xfe);
    expect(key).toBeGreaterThan(0x7fffffff);
    expect(key).toBe(cKey(dir, 0xfe).key >>> 0);
    expect(key >>> 24).toBe(0xfe);
    expect(ftok(dir, 1) >>> 24).toBe(1);
  });

  test('accepts a Buffer and a file: URL for the path', () => {
    const expected = ftok(dir, 7);
    expect(ftok(Buffer.from(dir), 7)).toBe(expected);
    expect(ftok(pathToFileURL(dir), 7)).toBe(expected);
  });

  test('never returns IPC_PRIVATE', () => {
    for (const id of [1, 2, 255]) expect(ftok('/', id)).not.toBe(IPC_PRIVATE);
  });

  test('a missing path is ENOENT (a SysvIpcError from syscall ftok), where C also fails', () => {
    const missing = path.join(dir, 'does-not-exist');
    expect(cKey(missing, 1)).toEqual({ key: -1, errno: os.constants.errno.ENOENT });
    let caught: unknown;
    try {
      ftok(missing, 1);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SysvIpcError);
    expect(caught).toMatchObject({ code: 'ENOENT', errno: os.constants.errno.ENOENT, syscall: 'ftok', path: missing });
    expect((caught as Error).message).toBe(`ENOENT: no such file or directory, ftok '${missing}'`);
  });

  test('a path through a regular file is ENOTDIR', () => {
    const file = path.join(dir, 'plain');
    fs.writeFileSync(file, 'x');
    expect(() => ftok(path.join(file, 'below'), 1)).toThrow(
      expect.objectContaining({ code: 'ENOTDIR', syscall: 'ftok' }),
    );
  });

  test('refuses project ids C would alias or discourage, and non-integers', () => {
    for (const bad of [0, 256, -1, 1.5, NaN]) {
      expect(() => ftok(dir, bad)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }));
    }
    expect(() => ftok(dir, '1' as unknown as number)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => ftok(42 as unknown as string, 1)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  test('a queue a C program creates with its ftok key is the one Node opens with ours', () => {
    const file = path.join(dir, 'rendezvous');
    fs.writeFileSync(file, '');
    // A random id makes a clash with a leftover object of an earlier run unlikely.
    const projectId = 1 + Math.floor(Math.random() * 255);
    const id = Number(execFileSync(cFtok, ['create', file, String(projectId)], { encoding: 'utf8' }).trim());
    const queue = track(MessageQueue.fromId(id));
    const opened = MessageQueue.open(ftok(file, projectId));
    expect(opened.id).toBe(id);
    expect(queue.key).toBe(ftok(file, projectId));
  });
});
