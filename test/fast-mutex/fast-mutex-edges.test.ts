/**
 * lib/fast-mutex.ts at its edges, where mutation testing
 * (`MUTATION_TESTS=fast-mutex.test.ts npx stryker run --mutate lib/fast-mutex.ts`)
 * found behaviour no test checked: a segment too small for the record, calls
 * after the segment is detached, remove() of a lock that lives in someone
 * else's segment, withLock() without a function, and the holder's start time
 * written over whatever an earlier holder left. Real segments.
 */
import { FastMutex, SharedMemory } from '../../lib';
import { binding } from '../../lib/binding';
import { randomKey, track, useCleanup } from '../support/helpers';

useCleanup();

const segment = (size = 4096) => track(SharedMemory.create({ size }));

describe('FastMutex at its edges', () => {
  test('a segment smaller than FastMutex.SIZE is refused, and not left attached', () => {
    const small = segment(8);
    const attachedBefore = small.info().attachments;
    expect(() => FastMutex.fromId(small.id)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('segment size') }),
    );
    expect(small.info().attachments).toBe(attachedBefore);
  });

  test('after the segment is detached every call throws the closed error, not a RangeError from Atomics', () => {
    const shm = segment();
    const attachment = SharedMemory.fromId(shm.id);
    const mutex = FastMutex.in(attachment, 0);
    expect(mutex.tryLock()).toEqual({ ownerDied: false });
    attachment.detach();
    const closed = expect.objectContaining({
      code: 'ERR_SYSV_IPC_CLOSED',
      message: expect.stringContaining('detached'),
    });
    expect(() => mutex.tryLock()).toThrow(closed);
    expect(() => mutex.lockSync({ timeout: 0 })).toThrow(closed);
    expect(() => mutex.unlock()).toThrow(closed);
    expect(mutex.holder).toBe(0);
    // The record in the segment still says this process holds it (nothing was written after detach).
    expect(shm.read(0, 4).readUInt32LE(0)).toBe(process.pid);
  });

  test('remove() of a lock made with in() refuses, and the segment stays', () => {
    const key = randomKey();
    const shm = track(SharedMemory.create({ size: 4096, key }));
    const mutex = FastMutex.in(shm, 0);
    expect(() => mutex.remove()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    const again = SharedMemory.open(key); // a removed segment's key no longer finds it
    expect(again.id).toBe(shm.id);
    again.detach();
  });

  test('withLock() without a function throws ERR_INVALID_ARG_TYPE and takes nothing', async () => {
    const shm = segment();
    const mutex = FastMutex.in(shm, 0);
    await expect(mutex.withLock(42 as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(mutex.holder).toBe(0);
    expect(mutex.held).toBe(false);
  });

  test("taking the lock writes this process's start time over what an earlier holder left", () => {
    const shm = segment();
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(0xdeadbeef_cafef00dn, 8); // word 0 (unlocked), an old holder's start time
    shm.write(b, 0);
    const mutex = FastMutex.in(shm, 0);
    expect(mutex.tryLock()).toEqual({ ownerDied: false });
    expect(Number(shm.read(8, 8).readBigUInt64LE(0))).toBe(binding.processStartTime(process.pid));
    mutex.unlock();
  });
});
