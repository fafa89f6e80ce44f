/**
 * Which threads may run a hot path in JavaScript that takes something it must
 * give back or hand on: a lock record (Channel's send lock, Topic's
 * publishers' lock) or a message taken out of a ring.
 *
 * The main thread only. `worker.terminate()` stops a worker's JavaScript at
 * any interrupt check: between a lock's take and its release (the owner is
 * this process, alive, so no one takes it over and every peer stalls) or
 * between a take from a ring and the return to the caller (the message is
 * lost: Channel's terminate stress lost 1 in CI). A native call runs to its
 * end, and the addon gives back what a terminating worker took, so workers
 * make those calls natively. On the main thread only `vm`'s
 * `timeout`/`breakOnSigint` or a stack overflow inside the locked region can
 * do the same: not handled (the lock stays held until this process exits).
 *
 * Channel (its JavaScript ring), ChannelRing (its send lock), Topic (its
 * publish) and FastMutex.lockSync (its yield-then-take turns) decide here, so
 * that they cannot disagree.
 */
import { isMainThread } from 'node:worker_threads';

export const TAKES_IN_JAVASCRIPT: boolean = isMainThread;
