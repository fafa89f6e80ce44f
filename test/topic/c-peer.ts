/**
 * The C peer of the Topic tests (test/c/topic-peer.c, through
 * include/sysv-ipc/topic.h), compiled once per test file into a temporary
 * directory that is removed after the file. Without a C compiler the C tests
 * are skipped: `path()` is undefined.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** Registers the build (beforeAll) and the cleanup (afterAll); `path()` is the binary once built. */
export function useTopicPeer(): { path(): string | undefined } {
  let dir: string | undefined;
  let binary: string | undefined;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-topic-c-'));
    try {
      execFileSync(
        'cc',
        [
          '-O2',
          '-std=c11',
          '-Wall',
          '-Wextra',
          '-Werror',
          `-I${path.join(ROOT, 'include')}`,
          '-o',
          path.join(dir, 'topic-peer'),
          path.join(ROOT, 'test', 'c', 'topic-peer.c'),
        ],
        { stdio: 'pipe' },
      );
      binary = path.join(dir, 'topic-peer');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // no cc: the C tests are skipped
    }
  });
  afterAll(() => {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });
  return { path: () => binary };
}
