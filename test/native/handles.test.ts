// Native handles (registry.h): a shared memory attachment and a channel are
// each an External that the addon checks against this environment's registry
// on every call. Nothing else passes: not the other kind's handle, not a
// look-alike object; and none can reach another thread's environment. A
// detached attachment's handle stays a handle (its calls say "detached").
// Never Object.create(handle): V8 13 (Node 24 and 26) crashes making an
// External the prototype of an object (a V8 fault, reached by no lib path:
// handles stay inside lib).
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { Channel, SharedMemory } from '../../lib';
import { binding } from '../../lib/binding';
import { track, useCleanup } from '../support/helpers';

useCleanup();

const DIST = JSON.stringify(path.join(__dirname, '..', '..', 'dist'));

test("each kind's calls refuse the other kind's handle and look-alikes, with a TypeError", () => {
  const shm = track(SharedMemory.create({ size: 4096 }));
  const ch = track(Channel.create({ capacity: 4096 }));
  const shmHandle = shm.nativeHandle();
  const raw = binding.chAttach(ch.id);
  try {
    expect(binding.shmLoad32(shmHandle, 0)).toBe(0);
    for (const bad of [raw.handle, {}, { ...(shmHandle as object) }, null, undefined, 5]) {
      expect(() => binding.shmLoad32(bad as never, 0)).toThrow(
        expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('attachment handle') }),
      );
    }
    for (const bad of [shmHandle, {}, { ...(raw.handle as object) }]) {
      expect(() => binding.chClose(bad as never)).toThrow(
        expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('channel handle') }),
      );
    }
  } finally {
    binding.chClose(raw.handle);
  }
});

test("a detached attachment's handle says detached, not 'not a handle'", () => {
  const shm = track(SharedMemory.create({ size: 4096 }));
  const { handle } = binding.shmat(shm.id, false);
  expect(binding.shmDetach(handle)).toBe(true);
  expect(binding.shmDetach(handle)).toBe(false);
  expect(() => binding.shmLoad32(handle, 0)).toThrow(/detached/);
});

test("a handle cannot leave its thread (an External does not clone), and a worker's end detaches its attachments", async () => {
  const shm = track(SharedMemory.create({ size: 4096 }));
  // Another environment's handle could only pass the registry check by pointer; it cannot get there.
  const worker = new Worker(
    `const { binding } = require(${DIST} + '/binding');
     const { parentPort, workerData } = require('node:worker_threads');
     globalThis.leaked = binding.shmat(workerData, false).handle;
     try { parentPort.postMessage(globalThis.leaked); } catch (e) { parentPort.postMessage(e.name); }`,
    { eval: true, workerData: shm.id },
  );
  const [posted] = await Promise.all([
    new Promise((resolve) => worker.once('message', resolve)),
    new Promise((resolve) => worker.once('exit', resolve)),
  ]);
  expect(posted).toBe('DataCloneError');
  expect(shm.info().attachments).toBe(1); // this process's own; the worker's went with its environment
});
