/**
 * IPC keys: the numbers by which unrelated processes find the same object.
 */

/** A System V IPC key (C's `key_t`, a 32-bit integer). */
export type Key = number;

/** The key that always creates a new, private object (reachable by its id only). */
export const IPC_PRIVATE: Key = 0;
