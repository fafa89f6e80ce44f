/**
 * A tiny C program that makes and removes semaphore sets and shared memory
 * segments with the raw syscalls, so the admin and CLI tests can list and
 * remove those kinds independently of this package's own classes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const C_SOURCE = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
int main(int argc, char** argv) {
  if (argc < 4) return 2;
  const char* kind = argv[2];
  if (strcmp(argv[1], "create") == 0) {  /* create <sem|shm> <key> <nsems|size> */
    key_t key = (key_t)strtol(argv[3], NULL, 0);
    int id = strcmp(kind, "sem") == 0 ? semget(key, atoi(argv[4]), IPC_CREAT | IPC_EXCL | 0640)
                                      : shmget(key, (size_t)atol(argv[4]), IPC_CREAT | IPC_EXCL | 0640);
    if (id < 0) { perror("get"); return 1; }
    printf("%d\\n", id);
    return 0;
  }
  int id = atoi(argv[3]);
  if (strcmp(argv[1], "rm") == 0) {
    int rc = strcmp(kind, "sem") == 0 ? semctl(id, 0, IPC_RMID) : shmctl(id, IPC_RMID, NULL);
    return rc < 0 ? 1 : 0;
  }
  if (strcmp(argv[1], "hold") == 0) {  /* hold shm <id>: stay attached until stdin closes */
    if (shmat(id, NULL, SHM_RDONLY) == (void*)-1) { perror("shmat"); return 1; }
    printf("attached\\n");
    fflush(stdout);
    while (getchar() != EOF) {}
    return 0;
  }
  return 2;
}
`;

/** The compiled helper plus bookkeeping: call `install()` at the top of a test file. */
export class CIpc {
  private dir = '';
  private bin = '';
  private readonly made: Array<{ kind: 'sem' | 'shm'; id: number }> = [];
  private readonly holders: ChildProcess[] = [];

  /** Compiles in beforeAll; removes what each test made in afterEach (even on failure). */
  install(): void {
    beforeAll(() => {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-c-'));
      fs.writeFileSync(path.join(this.dir, 'ipc.c'), C_SOURCE);
      this.bin = path.join(this.dir, 'ipc');
      execFileSync('cc', ['-O0', '-o', this.bin, path.join(this.dir, 'ipc.c')], { stdio: 'pipe' });
    });
    afterEach(async () => {
      for (const holder of this.holders.splice(0)) {
        if (holder.exitCode === null && holder.signalCode === null) {
          holder.kill('SIGKILL');
          await once(holder, 'exit');
        }
      }
      for (const { kind, id } of this.made.splice(0)) {
        try {
          execFileSync(this.bin, ['rm', kind, String(id)]);
        } catch {
          // already removed by the test
        }
      }
    });
    afterAll(() => {
      fs.rmSync(this.dir, { recursive: true, force: true });
    });
  }

  /** semget/shmget with IPC_CREAT|IPC_EXCL|0640; `n` is nsems or the size. Returns the id. */
  create(kind: 'sem' | 'shm', key: number, n: number): number {
    const id = Number(execFileSync(this.bin, ['create', kind, String(key), String(n)], { encoding: 'utf8' }).trim());
    this.made.push({ kind, id });
    return id;
  }

  /** IPC_RMID from C. */
  remove(kind: 'sem' | 'shm', id: number): void {
    execFileSync(this.bin, ['rm', kind, String(id)]);
  }

  /** A C process attached to the segment until its stdin is closed; resolves once attached. */
  async hold(shmId: number): Promise<ChildProcess> {
    const holder = spawn(this.bin, ['hold', 'shm', String(shmId)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.holders.push(holder);
    await once(holder.stdout!, 'data');
    return holder;
  }
}
