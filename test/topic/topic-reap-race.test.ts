/**
 * Topic: two reapers and a new subscription (R6's cold review).
 *
 * sysv_ipc_topic_reap (include/sysv-ipc/topic.h) judged a slot's holder
 * dead, checked the slot's start time again, then stored active = 0 and
 * start = 0 and only then compared-and-swapped the owner back to 0. Every
 * publisher that waits for room reaps (every 100 ms), in every process. A
 * reaper preempted between its check and its stores, while another reaper
 * freed the slot and a new subscription claimed and positioned it, then
 * deactivated that live subscription (its CAS failed, the stores were done):
 * a 'wait' publisher no longer saw it and overwrote what it had not read
 * (missed > 0 on a 'wait' topic). The reaper now takes the owner word first.
 *
 * The preemption is made deterministic with gdb: a one-call C reaper stops
 * at the reaper's `active = 0` store (found in topic.h by its text, not by
 * a line number). Skipped without cc or without a gdb that can run it.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Topic } from '../../lib';
import { haveCc, testIf, track, until, useCleanup } from '../support/helpers';
import { useTopicPeer } from './c-peer';

useCleanup();

const ROOT = path.join(__dirname, '..', '..');
const HEADER = path.join(ROOT, 'include', 'sysv-ipc', 'topic.h');

const REAPER_C = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/shm.h>
#include <sysv-ipc/topic.h>
/* One call of sysv_ipc_topic_reap on segment argv[1], as a publisher waiting for room makes. */
int main(int argc, char** argv) {
  struct shmid_ds ds;
  sysv_ipc_topic t;
  void* base;
  if (argc < 2 || shmctl(atoi(argv[1]), IPC_STAT, &ds) != 0) return 3;
  base = shmat(atoi(argv[1]), NULL, 0);
  if (base == (void*)-1 || sysv_ipc_topic_attach(&t, (uint8_t*)base, ds.shm_segsz) != 0) return 4;
  printf("freed %u\\n", sysv_ipc_topic_reap(&t));
  return 0;
}
`;

// The line of the reaper's `active = 0` store, after its checks of the holder.
function breakLine(): number {
  const lines = fs.readFileSync(HEADER, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.includes('sysv_ipc_topic_reap(const sysv_ipc_topic* t)'));
  const at = lines.findIndex((l, i) => i > start && l.includes('SYSV_IPC_TOPIC_SLOT_ACTIVE), 0u'));
  if (start < 0 || at < 0) throw new Error('topic.h: the reaper or its store of active = 0 moved');
  return at + 1;
}

// Built and probed at load (the test's kind depends on it): a -O0 reaper and a gdb that can stop it.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-reap-race-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const reaper = path.join(dir, 'reaper');
const usable = ((): boolean => {
  if (!haveCc) return false;
  fs.writeFileSync(path.join(dir, 'reaper.c'), REAPER_C);
  const cc = spawnSync('cc', ['-O0', '-g', '-std=c11', `-I${path.join(ROOT, 'include')}`, '-o', reaper, `${reaper}.c`]);
  if (cc.status !== 0) return false;
  const probe = spawnSync('gdb', ['-q', '-batch', '-ex', 'break main', '-ex', 'run 0', '-ex', 'continue', reaper], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return probe.status === 0 && /Breakpoint 1, main/.test(probe.stdout);
})();
const testIfGdb = testIf(usable, 'no C compiler or no gdb that can stop a program here');

const peer = useTopicPeer();

testIfGdb(
  'a reaper stopped after judging a slot dead does not deactivate the live subscription that took the slot since',
  async () => {
    const t = track(Topic.create({ capacity: 1024, maxMessageSize: 200 }));
    // Slot 0 held by a C subscriber, SIGKILLed (and waited for: its pid is gone).
    const sub = spawn(peer.path()!, ['sub', String(t.id), '1000000'], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((resolve) => sub.stdout.once('data', resolve));
    sub.kill('SIGKILL');
    await new Promise((resolve) => sub.once('exit', resolve));
    expect(t.info().subscriptions.map((s) => s.slot)).toEqual([0]);

    // Reaper A stops after its checks, before its stores (a preemption there).
    const atBreak = path.join(dir, 'at-break');
    const go = path.join(dir, 'go');
    const gdb = spawn(
      'gdb',
      [
        '-q',
        '-batch',
        '-ex',
        `break topic.h:${breakLine()}`,
        '-ex',
        `run ${t.id}`,
        '-ex',
        `shell touch ${atBreak}; while [ ! -e ${go} ]; do sleep 0.05; done`,
        '-ex',
        'continue',
        reaper,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    gdb.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => gdb.once('exit', resolve));
    try {
      await until(() => fs.existsSync(atBreak), 30_000, 'gdb stopped the reaper at its store of active = 0');
      // Reaper B (this process: a 'wait' publish with no room reaps) frees slot 0 if it may ...
      while (t.tryPublish(Buffer.alloc(100))) {
        /* the dead subscription gates: fill the ring */
      }
      // ... and a new, live subscription takes a slot (slot 0 if B freed it).
      const s = t.subscribe();
      fs.writeFileSync(go, '');
      await exited;
      expect(out).toMatch(/freed \d/);
      // Whatever A did, the live subscription is active and gates a 'wait' publisher.
      expect(t.info().subscriptions.map((x) => [x.slot, x.pid])).toEqual([[s.slot, process.pid]]);
      let published = 0;
      while (published < 100 && t.tryPublish(Buffer.alloc(100))) published++;
      expect(published).toBeLessThan(100);
      for (let m = s.tryReceive(); m !== undefined; m = s.tryReceive()) {
        /* read what was kept */
      }
      expect(s.missed).toBe(0);
    } finally {
      fs.writeFileSync(go, '');
      gdb.kill('SIGKILL');
      await exited;
    }
  },
  60_000,
);
