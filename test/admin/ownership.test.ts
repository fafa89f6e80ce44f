/**
 * IPC_SET through `set()`: a field left out is kept. The package sends -1
 * ("keep") for it; anything else would hand the object to another owner or
 * change its permissions behind the caller's back. Checked on each kind of
 * object, as root (which may set any owner), by reading IPC_STAT back.
 */
import { MessageQueue, SemaphoreSet, SharedMemory } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

const kinds = {
  MessageQueue: () => track(MessageQueue.create({ mode: 0o600 })),
  SemaphoreSet: () => track(SemaphoreSet.create({ size: 1, mode: 0o600 })),
  SharedMemory: () => track(SharedMemory.create({ size: 64, mode: 0o600 })),
};

describe.each(Object.entries(kinds))('%s.set()', (_name, make) => {
  const uid = process.getuid!();
  const gid = process.getgid!();

  test('set({ mode }) changes the mode and keeps the owner', () => {
    const obj = make();
    obj.set({ mode: 0o640 });
    expect(obj.info()).toMatchObject({ mode: 0o640, uid, gid });
  });

  test('set({ uid }) and set({ gid }) change that field alone', () => {
    const obj = make();
    obj.set({ uid: 65534 });
    expect(obj.info()).toMatchObject({ mode: 0o600, uid: 65534, gid });
    obj.set({ gid: 65534 });
    expect(obj.info()).toMatchObject({ mode: 0o600, uid: 65534, gid: 65534 });
    obj.set({ uid, gid });
    expect(obj.info()).toMatchObject({ mode: 0o600, uid, gid });
  });
});
