/**
 * Topic: a header whose geometry words change after this process attached
 * (hostile or corrupt memory). The Node object keeps trusted copies of the
 * geometry; the addon re-reads the header per call. What must hold: coded
 * errors, never a RangeError from an index outside this object's view, and
 * remove() still removes the segment and wakes every waiter. Also remove()
 * of a closed Topic, which must wake the other attachments' waiters too.
 * (R6's cold review of the data_seq / slots_used changes.)
 */
import { SharedMemory, Topic } from '../../lib';
import { randomKey, sleep, track, useCleanup } from '../support/helpers';

useCleanup();

const OFF_CAPACITY = 12;
const OFF_MAX_SUBSCRIBERS = 20;

function words(id: number): { view: DataView; detach(): void } {
  const shm = SharedMemory.fromId(id);
  return { view: new DataView(shm.arrayBuffer), detach: () => shm.detach() };
}

describe('Topic with a header changed under it', () => {
  test('remove() of a topic whose header is now corrupt removes the segment and wakes a parked receive', async () => {
    const key = randomKey();
    const t = track(Topic.create({ key, capacity: 1024 }));
    const s = t.subscribe();
    const got = s.receive().then(
      () => 'message',
      (err: { code?: string }) => err.code,
    );
    await sleep(50); // parked (or about to: either way the removal must reach it)
    const w = words(t.id);
    w.view.setUint32(OFF_CAPACITY, 1000, true); // not a power of two: the header no longer checks
    w.detach();
    let thrown: unknown;
    try {
      t.remove();
    } catch (err) {
      thrown = err;
    }
    expect(() => SharedMemory.open(key)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const woken = await Promise.race([got, sleep(10_000).then(() => 'still asleep')]);
    expect(woken).toBe('EIDRM');
    expect(thrown).toBeUndefined();
  }, 30_000);

  test('subscribe() on a header whose table grew after attach: a coded error, not a RangeError on the next receive', () => {
    // 2048-byte ring and one slot: the segment is 320 + 2048 bytes. Rewritten to a 1024-byte ring and 32
    // slots it still fits (1280 + 1024), so the addon's check of the header passes and it claims slots
    // this object's view of the table does not have.
    const t = track(Topic.create({ capacity: 2048, maxSubscribers: 1, maxMessageSize: 256 }));
    const first = t.subscribe();
    const w = words(t.id);
    try {
      w.view.setUint32(OFF_CAPACITY, 1024, true);
      w.view.setUint32(OFF_MAX_SUBSCRIBERS, 32, true);
      const outcomes: string[] = [];
      for (let i = 0; i < 4; i++) {
        try {
          const s = t.subscribe();
          t.tryPublish('x');
          s.tryReceive();
          outcomes.push('ok');
        } catch (err) {
          outcomes.push(`${(err as Error).name}:${(err as { code?: string }).code}`);
        }
      }
      for (const o of outcomes) expect(o).toMatch(/^(ok|SysvIpcError:ERR_SYSV_IPC_TOPIC_CORRUPT)$/);
    } finally {
      w.view.setUint32(OFF_CAPACITY, 2048, true);
      w.view.setUint32(OFF_MAX_SUBSCRIBERS, 1, true);
      w.detach();
    }
    first.close();
  });

  test("a 'wait' publish whose reaper finds the header corrupt: the error names the topic (key and id)", async () => {
    const t = track(Topic.create({ capacity: 1024, maxMessageSize: 200 }));
    t.subscribe(); // reads nothing: the ring fills and publishers wait, reaping between sleeps
    for (const size of [100, 0]) {
      while (t.tryPublish(Buffer.alloc(size))) {
        /* fill: no room left even for an empty message */
      }
    }
    const w = words(t.id);
    w.view.setUint32(OFF_CAPACITY, 1000, true); // this object keeps its trusted copy; the addon's check fails
    try {
      const errors: unknown[] = [];
      for (const publish of [
        () => t.publishSync('', { timeout: 300 }),
        () => t.publish('', { timeout: 300 }),
        () => t.tryPublish(''),
      ]) {
        try {
          await publish();
        } catch (err) {
          errors.push(err);
        }
      }
      expect(errors).toHaveLength(3);
      for (const err of errors) {
        expect(err).toMatchObject({ code: 'ERR_SYSV_IPC_TOPIC_CORRUPT', id: t.id, key: t.key });
      }
    } finally {
      w.view.setUint32(OFF_CAPACITY, 1024, true);
      w.detach();
    }
  });
});

describe('Topic.remove()', () => {
  test('remove() of a closed Topic still wakes the receives parked on other attachments (EIDRM), as Channel', async () => {
    const t = track(Topic.create({ capacity: 1024 }));
    const other = track(Topic.fromId(t.id));
    const got = other
      .subscribe()
      .receive()
      .then(
        () => 'message',
        (err: { code?: string }) => err.code,
      );
    await sleep(50);
    t.close();
    t.remove();
    const woken = await Promise.race([got, sleep(10_000).then(() => 'still asleep')]);
    expect(woken).toBe('EIDRM');
  }, 30_000);
});
