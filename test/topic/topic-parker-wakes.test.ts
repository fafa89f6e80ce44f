/**
 * Topic waits that share parker threads (issue 25): scenarios
 * the parker's futex_waitv set makes delicate. Several words of one set wake
 * at once (a burst of publishes over many topics) while futex_waitv names
 * only one: each wait must still see its word move. A topic closed while its
 * waits are being armed must end them (ERR_SYSV_IPC_CLOSED) and leave the
 * other topics' waits in the same parkers parked. Both with the parker and
 * with one thread per wait.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Topic } from '../../lib';
import { describeEachParkerMode, describeIfProbes, sleep, track, useCleanup } from '../support/helpers';

useCleanup();

const DIST = JSON.stringify(path.join(__dirname, '..', '..', 'dist'));

describeIfProbes('parked Topic waits: wakes of many words at once, and closes while arming', () => {
  describeEachParkerMode((parker, skip) => {
    test('bursts over 20 topics from another process: every one of 240 parked receives gets every round', async () => {
      if (skip()) return;
      // A wake lost in the parker is found again only when the receive's slice ends (RECEIVE_SLICE_MS,
      // 1 s): ~1 s per round, so 120 rounds outlast the test's 90 s, where a sound parker needs ~5 s
      // even on a loaded machine (0.4 s per 25 rounds on a quiet one).
      const ROUNDS = 120;
      const topics = Array.from({ length: 20 }, () => track(Topic.create({ capacity: 8192 })));
      const up = track(Topic.create({ capacity: 4096 }));
      const subs = topics.map((t) => Array.from({ length: 12 }, () => t.subscribe()));
      // Each subscription receives its topic's rounds; the last receive of a round says so on `up`.
      const left = new Map<number, number>();
      const wants = topics.map((_, ti) =>
        Array.from({ length: ROUNDS }, (_r, r) => r).filter((r) => r % 2 === 1 || (ti + r) % 2 === 0),
      );
      const got = subs.map((row) => row.map(() => [] as number[]));
      const loops = subs.flatMap((row, ti) =>
        row.map(async (s, si) => {
          for (let k = 0; k < wants[ti]!.length; k++) {
            const m = JSON.parse(String(await s.receive({ timeout: 60000 }))) as { r: number; n: number };
            got[ti]![si]!.push(m.r);
            const n = (left.get(m.r) ?? m.n * 12) - 1;
            left.set(m.r, n);
            if (n === 0) up.publishSync(String(m.r));
          }
        }),
      );
      // Odd rounds publish to every topic, even ones to a changing half: several words of a parker's set
      // move at once, and which ones changes from round to round.
      const child = spawn(
        process.execPath,
        [
          '-e',
          `const { Topic } = require(${DIST});
          const ts = ${JSON.stringify(topics.map((t) => t.id))}.map((id) => Topic.fromId(id));
          const up = Topic.fromId(${up.id}); const ack = up.subscribe();
          (async () => {
            process.stdout.write('ready\\n');
            await new Promise((r) => process.stdin.once('data', r));
            for (let r = 0; r < ${ROUNDS}; r++) {
              const pick = ts.filter((_, i) => r % 2 === 1 || (i + r) % 2 === 0);
              for (const t of pick) t.publishSync(JSON.stringify({ r, n: pick.length }));
              if (String(await ack.receive({ timeout: 60000 })) !== String(r)) process.exit(2);
            }
            ack.close(); process.exit(0);
          })();`,
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        await new Promise((resolve) => child.stdout.once('data', resolve));
        await sleep(100);
        child.stdin.write('go\n');
        expect(await exited).toBe(0);
        await Promise.all(loops);
      } finally {
        child.kill('SIGKILL');
      }
      got.forEach((row, ti) => {
        for (const rounds of row) expect(rounds).toEqual(wants[ti]);
      });
      for (const row of subs) for (const s of row) s.close();
    }, 90000);

    test('close() while its receives are being armed ends them; waits of another topic stay parked and get theirs', async () => {
      if (skip()) return;
      const a = track(Topic.create({ capacity: 4096, maxSubscribers: 128 }));
      const b = track(Topic.create({ capacity: 4096 }));
      const keep = Array.from({ length: 30 }, () => b.subscribe());
      let kept = 0;
      const keepWaits = keep.map((s) => s.receive().then((v) => ((kept += 1), String(v))));
      for (let round = 0; round < 60; round++) {
        const mine = Topic.fromId(a.id);
        const waits = Array.from({ length: 50 }, (_, i) =>
          mine
            .subscribe()
            .receive(i % 2 === 0 ? { timeout: 60000 } : undefined)
            .then(String, (e: { code?: string }) => e.code),
        );
        // The same tick, the next microtask, the next macrotask, or a little later: the parker is taking
        // the jobs from its inbox, arming them, or sleeping on them when close() cancels and detaches.
        if (round % 4 === 1) await null;
        else if (round % 4 === 2) await sleep(0);
        else if (round % 4 === 3) await sleep(round % 7);
        if (round % 5 === 0) a.publishSync(`m${round}`);
        mine.close();
        for (const v of await Promise.all(waits)) {
          if (v !== 'ERR_SYSV_IPC_CLOSED') expect(v).toBe(`m${round}`);
        }
      }
      expect(kept).toBe(0);
      // A publish from another process still reaches the waits that stayed.
      execFileSync(process.execPath, ['-e', `require(${DIST}).Topic.fromId(${b.id}).publishSync('still here')`], {
        timeout: 60000,
      });
      expect(await Promise.all(keepWaits)).toEqual(keep.map(() => 'still here'));
      for (const s of keep) s.close();
    }, 180000);
  });

  // Found by the SIGKILL scenarios of this review: only a 'wait' publisher reaped the slots of dead
  // processes, so on an 'overwrite' topic (the default) they were never freed and subscribe() failed
  // for good once they filled the table (issue 23: a dead process's subscription frees its place).
  test.each([
    ['SIGKILL', "process.kill(process.pid, 'SIGKILL')"],
    ['process.exit()', 'process.exit(0)'],
  ])("an 'overwrite' topic: subscribe() frees the places of subscribers that died (%s)", (_name, die) => {
    const t = track(Topic.create({ capacity: 1024, maxSubscribers: 4 }));
    const child = spawnSync(
      process.execPath,
      [
        '-e',
        `const { Topic } = require(${DIST}); const t = Topic.fromId(${t.id});
        const subs = [0, 1, 2, 3].map(() => t.subscribe());
        for (const s of subs) s.receive().catch(() => {});
        setTimeout(() => { ${die}; }, 50);`,
      ],
      { timeout: 60000, encoding: 'utf8' },
    );
    expect(child.error).toBeUndefined();
    expect(t.info().subscribers).toBe(4);
    const mine = [0, 1, 2, 3].map(() => t.subscribe());
    expect(t.info().subscriptions.map((s) => s.pid)).toEqual([process.pid, process.pid, process.pid, process.pid]);
    t.publishSync('to the living');
    for (const s of mine) expect(String(s.tryReceive())).toBe('to the living');
    for (const s of mine) s.close();
  });
});
