/**
 * The prelude every open(key, options) shares (lib/open-options.ts): the
 * same refusal of IPC_PRIVATE across the classes, and where `create` lets a
 * private key through (it then makes a new private object).
 */
import { Channel, IPC_PRIVATE, MessageQueue, Mutex, Semaphore, SemaphoreSet, SharedMemory } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

function refusal(fn: () => unknown): { code?: string; message: string; name: string } {
  try {
    fn();
  } catch (err) {
    const e = err as Error & { code?: string };
    return { code: e.code, message: e.message, name: e.name };
  }
  throw new Error('expected a refusal');
}

describe('open(IPC_PRIVATE)', () => {
  test.each([
    ['MessageQueue', 'queue', () => MessageQueue.open(IPC_PRIVATE)],
    ['SharedMemory', 'segment', () => SharedMemory.open(IPC_PRIVATE)],
    ['Channel', 'channel', () => Channel.open(IPC_PRIVATE)],
    ['SemaphoreSet', 'set', () => SemaphoreSet.open(IPC_PRIVATE)],
    ['Semaphore', 'semaphore', () => Semaphore.open(IPC_PRIVATE)],
    ['Mutex', 'mutex', () => Mutex.open(IPC_PRIVATE)],
  ])('%s without create names nothing: refused with one wording', (cls, what, open) => {
    expect(refusal(open)).toEqual({
      code: 'ERR_OUT_OF_RANGE',
      name: 'RangeError',
      message: `IPC_PRIVATE names no existing ${what}: use ${cls}.create() or fromId(id)`,
    });
  });

  test.each([
    ['SemaphoreSet', () => SemaphoreSet.open(IPC_PRIVATE, { create: true, size: 1 })],
    ['Semaphore', () => Semaphore.open(IPC_PRIVATE, { create: true })],
    ['Mutex', () => Mutex.open(IPC_PRIVATE, { create: true })],
  ])('%s refuses it also with create (open-or-create needs a key others can race on)', (_cls, open) => {
    expect(refusal(open).code).toBe('ERR_OUT_OF_RANGE');
  });

  test('MessageQueue, SharedMemory and Channel with create make a new private object', () => {
    const queue = track(MessageQueue.open(IPC_PRIVATE, { create: true }));
    const shm = track(SharedMemory.open(IPC_PRIVATE, { create: true, size: 4096 }));
    const channel = track(Channel.open(IPC_PRIVATE, { create: true }));
    expect([queue.key, shm.key, channel.key]).toEqual([IPC_PRIVATE, IPC_PRIVATE, IPC_PRIVATE]);
    expect(queue.id).toBeGreaterThanOrEqual(0);
  });
});

test('initTimeout is checked the same way by the three open-or-create classes', () => {
  for (const open of [
    () => SemaphoreSet.open(0x7eadbee1, { create: true, size: 1, initTimeout: -1 }),
    () => Semaphore.open(0x7eadbee1, { create: true, initTimeout: -1 }),
    () => Mutex.open(0x7eadbee1, { create: true, initTimeout: Number.NaN }),
  ]) {
    expect(refusal(open).code).toBe('ERR_OUT_OF_RANGE');
  }
});
