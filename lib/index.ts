/**
 * sysv-ipc: System V message queues, semaphores and shared memory for Node.js.
 *
 * @packageDocumentation
 */
export { MessageQueue, MESSAGE_TYPE_MAX } from './message-queue';
export type {
  Message,
  MessageQueueInfo,
  MessageQueueCreateOptions,
  MessageQueueOpenOptions,
  MessageQueueSetOptions,
  SendOptions,
  SendSyncOptions,
  ReceiveSelector,
  ReceiveOptions,
  ReceiveSyncOptions,
} from './message-queue';

// -- semaphores (lib/semaphore.ts, lib/semaphore-set.ts, lib/mutex.ts)

// -- end of semaphores

// -- shared memory (lib/shared-memory.ts)

// -- end of shared memory

// -- admin (lib/admin.ts, lib/keys.ts)
export { ftok } from './keys';
export { list, limits, remove, removeByKey, IPC_KINDS } from './admin';
export type {
  IpcObject,
  IpcObjectBase,
  IpcObjectOfKind,
  MessageQueueEntry,
  SemaphoreSetEntry,
  SharedMemoryEntry,
  IpcLimits,
} from './admin';

// -- end of admin
export { IPC_PRIVATE } from './keys';
export type { Key } from './keys';
export { SysvIpcError, AbortError, ClosedError } from './errors';
export type { IpcKind, SysvIpcErrorContext } from './errors';
export type { WaitOptions } from './waits';
