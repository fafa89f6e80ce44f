/**
 * A read-only look inside shared memory segments: is this one a Channel, and
 * what does it hold? Used by `ls --peek` (the CHANNEL column) and `stat --peek`.
 * Looking attaches the segment (read-only, detached again): the kernel then
 * records the CLI as the segment's last pid, with new attach and detach
 * times, which is why only --peek looks.
 */
import {
  peekChannel,
  peekMap,
  type ChannelSummary,
  type IpcObject,
  type MapSummary,
  type SharedMemoryEntry,
} from '../admin';
import { formatBytes } from './format';
import { locksOf, type LockLook } from './lock-look';

/** A segment's channel, `null` (none), or why it could not be read. */
export type ChannelLook = ChannelSummary | null | { unreadable: string };

const looks = new Map<number, ChannelLook>();

/** The segment's channel, read once per run. */
export function channelOf(e: SharedMemoryEntry): ChannelLook {
  let look = looks.get(e.id);
  if (look !== undefined) return look;
  try {
    look = peekChannel(e.id);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // No addon here: channels cannot be told apart (the rest of ls still works).
    look = { unreadable: code === 'EINVAL' || code === 'EIDRM' ? 'gone' : (code ?? 'no native addon') };
  }
  looks.set(e.id, look);
  return look;
}

/** A segment's SharedMap (geometry and use), `null` (none), or why it could not be read. */
export type MapLook = MapSummary | null | { unreadable: string };

const mapLooks = new Map<number, MapLook>();

/** The segment's SharedMap, read once per run. */
export function mapOf(e: SharedMemoryEntry): MapLook {
  let look = mapLooks.get(e.id);
  if (look !== undefined) return look;
  try {
    look = peekMap(e.id);
  } catch (err) {
    const code = (err as { code?: string }).code;
    look = { unreadable: code === 'EINVAL' || code === 'EIDRM' ? 'gone' : (code ?? 'no native addon') };
  }
  mapLooks.set(e.id, look);
  return look;
}

/** The MAP cell of `ls --peek`. */
export function mapCell(look: MapLook): string {
  if (look === null) return '-';
  if ('unreadable' in look) return `unreadable (${look.unreadable})`;
  if (look.corrupt) return 'corrupt';
  return `${look.entries} entries, ${formatBytes(look.usedBytes!)} of ${formatBytes(look.capacity!)}`;
}

/** A shm entry with what --peek saw (JSON output): `channel` (its summary, null, or { unreadable }), `map` and `locks`. */
export function withLook(
  e: IpcObject,
): IpcObject | (SharedMemoryEntry & { channel: ChannelLook; map: MapLook; locks: LockLook[] }) {
  if (e.kind !== 'shm') return e;
  const channel = channelOf(e);
  return { ...e, channel, map: mapOf(e), locks: locksOf(e, channel) };
}

/** The CHANNEL cell of `ls`. */
export function channelCell(look: ChannelLook): string {
  if (look === null) return '-';
  if ('unreadable' in look) return `unreadable (${look.unreadable})`;
  // Not exact: a ring of more records than a look walks (messages and bytes are lower bounds).
  const atLeast = look.countsExact === false ? '>=' : '';
  return `${atLeast}${look.messages} msg, ${atLeast}${formatBytes(look.bytes)} of ${formatBytes(look.capacity)}${look.removed ? ', removed' : ''}`;
}
