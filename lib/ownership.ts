/**
 * What every System V object has in common: the `ipc_perm` part of IPC_STAT
 * (key, owner, creator, mode) and the fields IPC_SET can change.
 */
import type { Key } from './keys';
import * as check from './validate';

/** Seconds since the epoch from IPC_STAT (0 means "never") as a Date or null. */
export function statTime(seconds: number): Date | null {
  return seconds === 0 ? null : new Date(seconds * 1000);
}

/** The key, identifier, owner, creator and permission bits of an object (IPC_STAT's ipc_perm). */
export interface IpcOwnership {
  /** The object's key ({@link IPC_PRIVATE} for private objects), unsigned as the user writes it (`0xdeadbeef`, not the signed key_t). */
  key: Key;
  /** The kernel's identifier (msqid, semid or shmid). */
  id: number;
  /** Permission bits, for example 0o600. */
  mode: number;
  /** Owner's user id. */
  uid: number;
  /** Owner's group id. */
  gid: number;
  /** Creator's user id. */
  cuid: number;
  /** Creator's group id. */
  cgid: number;
}

/** The fields `set()` (IPC_SET) can change on every kind of object; fields left out stay as they are. */
export interface IpcOwnershipChange {
  /** New permission bits (0 to 0o777). */
  mode?: number;
  /** New owner's user id (only the owner, the creator or a privileged process may change it). */
  uid?: number;
  /** New owner's group id. */
  gid?: number;
}

/** Validates an IPC_SET request; a field left out becomes -1 ("keep"), as the native layer expects. */
export function parseOwnershipChange(options: IpcOwnershipChange | undefined): {
  mode: number;
  uid: number;
  gid: number;
} {
  const o = check.options('options', options);
  return {
    mode: o.mode === undefined ? -1 : check.integer('options.mode', o.mode, 0, 0o777),
    uid: o.uid === undefined ? -1 : check.ownerId('options.uid', o.uid),
    gid: o.gid === undefined ? -1 : check.ownerId('options.gid', o.gid),
  };
}

/** The ownership fields of a raw IPC_STAT result, for object `id`. */
export function ownershipOf(id: number, raw: Omit<IpcOwnership, 'id'>): IpcOwnership {
  // IPC_STAT's key_t is signed: reported unsigned, as the user writes it and list() shows it.
  return { key: raw.key >>> 0, id, mode: raw.mode, uid: raw.uid, gid: raw.gid, cuid: raw.cuid, cgid: raw.cgid };
}
