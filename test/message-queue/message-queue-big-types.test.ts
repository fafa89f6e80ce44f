/**
 * Message types above Number.MAX_SAFE_INTEGER, which a C program may send
 * (any positive long): reported exactly, as a bigint, on every receive path.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { MessageQueue } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

describe('message types a number cannot hold', () => {
  // A C program may send any positive long as mtype; JavaScript numbers are exact to 2^53 - 1.
  const C_SENDER = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/msg.h>
int main(int argc, char** argv) {
  struct { long mtype; char mtext[16]; } m;
  m.mtype = strtol(argv[2], NULL, 10);
  strcpy(m.mtext, "big");
  return msgsnd(atoi(argv[1]), &m, 3, 0) == 0 ? 0 : 1;
}
`;
  let sender: string | undefined;
  beforeAll(() => {
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-mtype-'));
      fs.writeFileSync(path.join(dir, 'send.c'), C_SENDER);
      execFileSync('cc', ['-o', path.join(dir, 'send'), path.join(dir, 'send.c')]);
      sender = path.join(dir, 'send');
    } catch {
      console.warn('no C compiler (cc): message types above 2^53 are not exercised');
    }
  });
  afterAll(() => {
    if (sender) fs.rmSync(path.dirname(sender), { recursive: true, force: true });
  });

  const BIG = 2n ** 60n + 1n; // 1152921504606846977: the nearest double is 2^60
  test('a type above Number.MAX_SAFE_INTEGER is reported exactly (bigint) on an error that carries the message', async () => {
    if (!sender) return;
    const q = track(MessageQueue.create());
    const send = () => execFileSync(sender as string, [String(q.id), String(BIG)]);
    const caught = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err as { code: string; type: bigint; data: Buffer };
      }
      throw new Error('no error');
    };
    send();
    const sync = caught(() => q.receiveSync());
    expect([sync.code, sync.type, sync.data.toString()]).toEqual(['ERR_SYSV_IPC_UNSAFE_MESSAGE_TYPE', BIG, 'big']);
    send();
    const tried = caught(() => q.tryReceive());
    expect([tried.type, tried.data.toString()]).toEqual([BIG, 'big']);
    // Through a waiter thread: the wait parks first, then the message comes.
    const pending = q.receive().catch((err) => err);
    await new Promise((r) => setTimeout(r, 100));
    send();
    const parked = await pending;
    expect([parked.code, parked.type, parked.data.toString()]).toEqual([
      'ERR_SYSV_IPC_UNSAFE_MESSAGE_TYPE',
      BIG,
      'big',
    ]);
    // The largest safe type is still a plain number.
    execFileSync(sender, [String(q.id), String(Number.MAX_SAFE_INTEGER)]);
    expect(q.receiveSync()).toEqual({ type: Number.MAX_SAFE_INTEGER, data: Buffer.from('big') });
    expect(q.info().messages).toBe(0);
  });
});
