/**
 * IPC keys: the numbers by which unrelated processes find the same object.
 */
import { Buffer } from 'node:buffer';
import { statSync, type PathLike } from 'node:fs';
import { syscallError } from './errors';
import * as check from './validate';

/**
 * A System V IPC key (C's `key_t`, a 32-bit integer). Calls take it signed or
 * unsigned; the package reports it unsigned (`0xdeadbeef`, not -559038737).
 */
export type Key = number;

/** The key that always creates a new, private object (reachable by its id only). */
export const IPC_PRIVATE: Key = 0;

/**
 * Derives a key from an existing file and a project id, exactly as C's and
 * Python's `ftok(3)` do (glibc's formula), so a Node process and a C program
 * that agree on a path and an id find the same object:
 *
 * ```text
 * key = (projectId & 0xff) << 24 | (st_dev & 0xff) << 16 | (st_ino & 0xffff)
 * ```
 *
 * The key is returned unsigned, as `.key`, `info().key` and `list()`
 * report keys (C's `key_t` is signed: ids from 128 up give a negative
 * key_t there, the same 32 bits); `key.toString(16)` is the hex that
 * `ipcs` shows. Every call that takes a key accepts either spelling.
 *
 * `projectId` must be an integer from 1 to 255. glibc silently keeps only its
 * low 8 bits (so 256 would alias 0) and accepts 0, which ftok(3) says must
 * not be used; both are refused here rather than handing out a key that
 * collides with another id. Because the id is non-zero, the key is never
 * {@link IPC_PRIVATE}.
 *
 * The key depends on the file's inode and device: it changes if the file is
 * deleted and re-created, and two files can share a key (only 16 bits of the
 * inode are used). Use a file that lives as long as the objects it names.
 *
 * @param path An existing file or directory (a string, Buffer or file: URL).
 * @param projectId 1 to 255 (C programs often pass a character: `'A'.charCodeAt(0)`).
 * @throws {SysvIpcError} with `syscall` `'ftok'` and `code` from stat(2) —
 *   `ENOENT` when the path does not exist, `EACCES`, `ENOTDIR`, … — and the
 *   path in `path`.
 * @throws {TypeError} `ERR_INVALID_ARG_TYPE` for a path that is not a string, Buffer or URL.
 * @throws {RangeError} `ERR_OUT_OF_RANGE` for a projectId outside 1 to 255.
 */
export function ftok(path: PathLike, projectId: number): Key {
  if (typeof path !== 'string' && !Buffer.isBuffer(path) && !(path instanceof URL)) {
    check.invalidType('path', 'of type string or an instance of Buffer or URL', path);
  }
  const id = check.integer('projectId', projectId, 1, 255);
  let st;
  try {
    // bigint: inode numbers can exceed 2^53 (btrfs, overlayfs); we need their low bits exactly.
    st = statSync(path, { bigint: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.errno !== 'number' || typeof e.code !== 'string') throw err;
    // SysvIpcError's own hint speaks of IPC objects; a path error reads like Node's fs errors instead.
    const shown = typeof path === 'string' ? path : path instanceof URL ? path.href : path.toString();
    throw Object.assign(syscallError(e.errno, 'ftok', undefined, { path: shown }), { path: shown });
  }
  const key = (id << 24) | (Number(st.dev & 0xffn) << 16) | Number(st.ino & 0xffffn);
  return key >>> 0; // unsigned, as the classes and list() report keys
}
