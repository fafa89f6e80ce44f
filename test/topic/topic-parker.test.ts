/**
 * Issue 25, "Parking that scales", for Topic: pending async receives (on
 * data_seq) and publishes waiting for room (on space_seq) share parker
 * threads (futex_waitv), as Channel's waits do. Every wake of those words
 * follows an increment (topic.h), which a futex_waitv set needs: it names one
 * woken futex even when several woke. Both ways: in a shared parker, and one
 * thread per wait (kernels without futex_waitv; the test probe futexParker).
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { Topic } from '../../lib';
import {
  describeEachParkerMode,
  describeIfProbes,
  probes,
  sleep,
  threadsInFutexOn,
  track,
  until,
  useCleanup,
  watch,
} from '../support/helpers';

useCleanup();

const DIST = JSON.stringify(path.join(__dirname, '..', '..', 'dist'));

describeIfProbes('parked Topic waits', () => {
  describeEachParkerMode((parker, skip) => {
    test("1,000 pending receives over 100 topics: each gets its own topic's message from another process", async () => {
      if (skip()) return;
      // The addon's pool is shared by every test file this Jest process runs: count from what it has.
      // An earlier file may leave a parker idle (it lingers 2 s after its last wait): one here, always.
      const warm = track(Topic.create({ capacity: 4096 }));
      const lone = warm.subscribe();
      const gone = watch(lone.receive());
      await sleep(100);
      lone.close();
      await gone.p.catch(() => undefined);
      const base = probes.waiterThreads();
      const topics = Array.from({ length: 100 }, () => track(Topic.create({ capacity: 4096 })));
      const subs = topics.map((t) => Array.from({ length: 10 }, () => t.subscribe()));
      const waits = subs.map((row) => row.map((s) => watch(s.receive({ timeout: 120000 }))));
      // One thread per 127 waits with the parker (8 for 1,000, fewer new ones when idle parkers were
      // there: they take the first waits), one per wait without. With the parker, count the waits in
      // the futex_waitv sets (data_seq, word 21), not the new threads.
      await until(
        () =>
          parker
            ? topics.reduce((n, t) => n + threadsInFutexOn(process.pid, t.id, 21), 0) >= 1000
            : probes.waiterThreads() - base >= 900,
        30000,
        'the receives parked',
      );
      await sleep(200);
      if (parker) expect(probes.waiterThreads() - base).toBeLessThanOrEqual(12);
      expect(waits.flat().filter((w) => w.done)).toEqual([]);
      const ids = JSON.stringify(topics.map((t) => t.id));
      execFileSync(
        process.execPath,
        [
          '-e',
          `const { Topic } = require(${DIST});
          ${ids}.forEach((id, i) => { const t = Topic.fromId(id); t.publishSync('topic ' + i); t.close(); });`,
        ],
        { timeout: 60000 },
      );
      await Promise.all(waits.flat().map((w) => w.p));
      waits.forEach((row, i) => {
        for (const w of row) expect(String(w.value)).toBe(`topic ${i}`);
      });
      for (const row of subs) for (const s of row) s.close();
    }, 180000);

    test("'wait' topics: publishes parked for room complete as a subscription reads, in order", async () => {
      if (skip()) return;
      const t = track(Topic.create({ capacity: 1024, whenFull: 'wait' }));
      const sub = t.subscribe();
      // Fill the ring, then 40 publishes wait for room (on space_seq).
      let n = 0;
      while (t.tryPublish(`m${n}`)) n++;
      const parked = Array.from({ length: 40 }, (_, i) => watch(t.publish(`m${n + i}`, { timeout: 120000 })));
      await sleep(300);
      expect(parked.filter((w) => w.done)).toEqual([]);
      const got: string[] = [];
      while (got.length < n + 40) got.push(String(await sub.receive({ timeout: 60000 })));
      await Promise.all(parked.map((w) => w.p));
      // Publishes of one process that wait together may land in any order among themselves: all once each.
      expect(got.slice(0, n)).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
      expect(got.slice(n).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `m${n + i}`).sort());
      sub.close();
    }, 120000);

    test('remove() from another process ends parked receives and publishes with EIDRM; timeout and abort end their own', async () => {
      if (skip()) return;
      const t = track(Topic.create({ capacity: 1024, whenFull: 'wait' }));
      const subs = Array.from({ length: 20 }, () => t.subscribe());
      const ac = new AbortController();
      const aborted = subs.slice(0, 5).map((s) => watch(s.receive({ signal: ac.signal })));
      const timed = subs.slice(5, 10).map((s) => watch(s.receive({ timeout: 300 })));
      const rest = subs.slice(10).map((s) => watch(s.receive()));
      const full = track(Topic.create({ capacity: 1024, whenFull: 'wait' }));
      const slow = full.subscribe();
      while (full.tryPublish('x'));
      const publishes = Array.from({ length: 10 }, () => watch(full.publish('y')));
      await sleep(200);
      ac.abort();
      await until(() => aborted.every((w) => w.done) && timed.every((w) => w.done), 30000, 'aborts and timeouts');
      for (const w of aborted) expect(w.error).toMatchObject({ name: 'AbortError' });
      for (const w of timed) expect(w.error).toMatchObject({ code: 'ETIMEDOUT' });
      expect(rest.filter((w) => w.done)).toEqual([]);
      expect(publishes.filter((w) => w.done)).toEqual([]);
      execFileSync(
        process.execPath,
        [
          '-e',
          `const { Topic } = require(${DIST}); for (const id of [${t.id}, ${full.id}]) Topic.fromId(id).remove();`,
        ],
        { timeout: 60000 },
      );
      await Promise.all([...rest, ...publishes].map((w) => w.p.catch(() => undefined)));
      for (const w of [...rest, ...publishes]) expect(w.error).toMatchObject({ code: 'EIDRM' });
      for (const s of subs) s.close();
      slow.close();
    }, 120000);

    test('close() of the topic ends its parked receives; the other topics stay parked', async () => {
      if (skip()) return;
      const a = track(Topic.create({ capacity: 4096 }));
      const b = track(Topic.create({ capacity: 4096 }));
      const mine = Topic.fromId(a.id);
      const closing = Array.from({ length: 10 }, () => watch(mine.subscribe().receive({ timeout: 120000 })));
      const staying = Array.from({ length: 10 }, () => watch(b.subscribe().receive({ timeout: 120000 })));
      await sleep(200);
      mine.close();
      await Promise.all(closing.map((w) => w.p.catch(() => undefined)));
      for (const w of closing) expect(w.error).toMatchObject({ code: 'ERR_SYSV_IPC_CLOSED' });
      await sleep(100);
      expect(staying.filter((w) => w.done)).toEqual([]);
      b.publishSync('still here');
      for (const v of await Promise.all(staying.map((w) => w.p))) expect(String(v)).toBe('still here');
    }, 120000);
  });
});
