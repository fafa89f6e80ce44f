// A strict `nodenext` ES module consumer: every kind of object, and `using` on the handles.
import { Channel, FastMutex, MessageQueue, Mutex, Semaphore, SharedMemory, SysvIpcError } from 'sysv-ipc';
import type { FastMutexLock, Message, SemaphoreLock } from 'sysv-ipc';

export async function main(): Promise<void> {
  using queue = MessageQueue.create();
  await queue.send(Buffer.from('hi'), { type: 1 });
  const message: Message = await queue.receive();
  const bytes: Buffer = message.data;

  using shm = SharedMemory.create({ size: 4096 });
  const view: Buffer = shm.buffer;
  view.write('x');
  const fast = FastMutex.in(shm, 0);
  {
    using held: FastMutexLock = fast.acquireSync();
    if (held.ownerDied) console.log('repair');
  }

  using slots = Semaphore.create({ initialValue: 1 });
  {
    using slot: SemaphoreLock = await slots.lock();
    void slot;
  }
  using mutex = Mutex.create();
  await mutex.withLock(() => undefined);

  using ch = Channel.create();
  await ch.sendValue({ n: 1 });
  const value: unknown = await ch.receiveValue();

  // The types are real, not any: a wrong call does not compile.
  // @ts-expect-error data must be a string or an ArrayBufferView
  void queue.trySend(42);
  if (!(bytes.length > 0 && value !== undefined && SysvIpcError)) throw new Error('unreachable');
}
