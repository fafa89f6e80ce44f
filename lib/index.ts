/**
 * sysv-ipc: System V message queues, semaphores and shared memory for Node.js.
 *
 * @document ../CONTRIBUTING.md
 * @document ../CHANGELOG.md
 * @document ../docs/architecture.md
 * @document ../docs/benchmarks.md
 * @document ../docs/demo.md
 * @document ../docs/channel-layout.md
 * @document ../docs/map-layout.md
 * @document ../docs/topic-layout.md
 * @packageDocumentation
 */
// What the typings use from outside the package, named here so that a consumer's
// compiler loads it whatever its `types` and `lib` say (TypeScript 7 includes no
// @types package by default, and a target below ES2025 has no `Disposable`):
// Node's types (Buffer, node:fs; the consumer installs @types/node) and the
// `using` protocol (Symbol.dispose, Disposable). preserve="true" keeps them in
// dist/index.d.ts (TypeScript 5.5 and later drop them from declarations otherwise).
/// <reference types="node" preserve="true" />
/// <reference lib="esnext.disposable" preserve="true" />
export { MessageQueue, MESSAGE_TYPE_MAX, UnsafeMessageTypeError } from './message-queue';
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

// -- semaphores (lib/semaphore/)
export { SemaphoreSet, SEMVMX, semaphoreLimits } from './semaphore/semaphore';
export type {
  SemaphoreLimits,
  SemaphoreOperation,
  SemaphoreSetInfo,
  SemaphoreSetCreateOptions,
  SemaphoreSetOpenOptions,
  SemaphoreSetSetOptions,
  SyncWaitOptions,
} from './semaphore/semaphore';
export { Semaphore } from './semaphore/semaphore';
export type {
  SemaphoreInfo,
  SemaphoreCreateOptions,
  SemaphoreOpenOptions,
  AcquireSelector,
  AcquireOptions,
  AcquireSyncOptions,
  ReleaseOptions,
  LockOptions,
  LockSyncOptions,
  SemaphoreLock,
} from './semaphore/semaphore';
export { Mutex, MutexNotHeldError } from './semaphore/mutex';
export type { MutexCreateOptions, MutexOpenOptions, MutexLockResult } from './semaphore/mutex';

// -- end of semaphores

// -- shared memory (lib/shared-memory.ts)
export { SharedMemory } from './shared-memory';
export type {
  SharedMemoryInfo,
  SharedMemoryCreateOptions,
  SharedMemoryOpenOptions,
  SharedMemoryFromIdOptions,
  SharedMemorySetOptions,
  SharedMemoryWaitSyncOptions,
  WaitResult,
} from './shared-memory';

// -- end of shared memory

// -- Topic (lib/topic.ts)
export { Topic, Subscription, TOPIC_DEFAULT_CAPACITY, TOPIC_DEFAULT_MAX_SUBSCRIBERS } from './topic';
export type {
  TopicCreateOptions,
  TopicOpenOptions,
  TopicInfo,
  TopicSubscriptionInfo,
  TopicSyncOptions,
  TopicWhenFull,
  SubscribeOptions,
} from './topic';

// -- end of Topic

// -- FastMutex (lib/fast-mutex.ts)
export { FastMutex, LockCorruptError } from './fast-mutex';
export type {
  FastMutexLock,
  FastMutexLockResult,
  FastMutexCreateOptions,
  FastMutexOpenOptions,
  FastMutexLockSyncOptions,
} from './fast-mutex';

// -- end of FastMutex
// -- channel (lib/channel.ts, include/sysv-ipc/channel.h)
export { Channel, CHANNEL_DEFAULT_CAPACITY } from './channel';
export type { ChannelInfo, ChannelCreateOptions, ChannelOpenOptions, ChannelSyncOptions } from './channel';

// -- end of channel

// -- admin (lib/admin.ts, lib/keys.ts)
export { ftok } from './keys';
export { list, limits, remove, removeByKey, peekChannel, IPC_KINDS } from './admin';
export type {
  IpcObject,
  IpcObjectBase,
  IpcObjectOfKind,
  MessageQueueEntry,
  SemaphoreSetEntry,
  SharedMemoryEntry,
  IpcLimits,
  ChannelSummary,
} from './admin';

// -- end of admin
export { IPC_PRIVATE } from './keys';
export type { Key } from './keys';
export type { IpcOwnership, IpcOwnershipChange } from './ownership';
export { SysvIpcError, AbortError, ClosedError, BadValueError } from './errors';
export type { IpcKind, SysvIpcErrorContext } from './errors';
export type { WaitOptions } from './waits';

// -- SharedMap (lib/shared-map.ts): a key-value store in one shared memory segment
export { SharedMap, SharedMapError, MAP_DEFAULT_CAPACITY, MAP_DEFAULT_MAX_KEY_SIZE } from './shared-map';
export type {
  SharedMapCreateOptions,
  SharedMapOpenOptions,
  SharedMapSetOptions,
  SharedMapInfo,
  SharedMapWhenFull,
} from './shared-map';
