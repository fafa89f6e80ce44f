/**
 * Review R9 (ASan drive, 2026-12-07): a Subscription receive that the wait
 * group put off to the next turn of the event loop (more than
 * IMMEDIATE_STREAK_MAX results delivered at once in this turn, lib/waits.ts)
 * runs its attempt after close(): it must reject with ERR_SYSV_IPC_CLOSED,
 * as Channel's does, not with V8's TypeError of an Atomics.load on the
 * detached view of the segment.
 */
import { Channel, Topic } from '../../lib';
import { ERR } from '../../lib/errors';
import { track, useCleanup } from '../support/helpers';

useCleanup();

function tally(results: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) out[r] = (out[r] ?? 0) + 1;
  return out;
}

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: { code?: string; name?: string }) => e.code ?? `${e.name ?? 'Error'} without a code`,
  );

describe('a receive put off to the next turn, then close()', () => {
  test.each(['topic', 'subscription'] as const)('Topic (%s.close()) rejects with ERR_SYSV_IPC_CLOSED', async (what) => {
    const publisher = track(Topic.create({ whenFull: 'overwrite' }));
    const topic = Topic.fromId(publisher.id);
    const sub = topic.subscribe();
    for (let i = 0; i < 100; i++) publisher.publishSync(`m${i}`);
    // 100 receives in one turn: the first ones are delivered at once, the rest wait for the next turn.
    const results = Array.from({ length: 100 }, () => outcome(sub.receive({ timeout: 10000 })));
    if (what === 'topic') topic.close();
    else sub.close();
    const counts = tally(await Promise.all(results));
    topic.close(); // the subscription variant leaves it open
    publisher.remove();
    publisher.close();
    for (const key of Object.keys(counts)) expect([key, ['ok', ERR.CLOSED].includes(key)]).toEqual([key, true]);
  });

  test('Channel (the same shape) rejects with ERR_SYSV_IPC_CLOSED', async () => {
    const sender = track(Channel.create());
    const ch = Channel.fromId(sender.id);
    for (let i = 0; i < 100; i++) sender.sendSync(`m${i}`);
    const results = Array.from({ length: 100 }, () => outcome(ch.receive({ timeout: 10000 })));
    ch.close();
    const counts = tally(await Promise.all(results));
    for (const key of Object.keys(counts)) expect([key, ['ok', ERR.CLOSED].includes(key)]).toEqual([key, true]);
    // What was not delivered stays in the ring.
    expect(sender.info().messages).toBe(100 - (counts.ok ?? 0));
    sender.close();
  });
});
