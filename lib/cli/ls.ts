/** `sysv-ipc ls`: every object in this IPC namespace, one table per kind (like ipcs). */
import {
  list,
  type IpcKind,
  type IpcObject,
  type MessageQueueEntry,
  type SemaphoreSetEntry,
  type SharedMemoryEntry,
} from '../admin';
import { channelCell, channelOf, mapCell, mapOf, withLook } from './channel-look';
import { commonCells, formatAge, formatBytes, json, out, table } from './format';
import { lockCell, locksOf } from './lock-look';
import { isAlive, pidCell, withLiveness } from './processes';
import { parseOwner, spreadKeys } from './rm';
import { parse, parseKey, parseKind, showHelp, UsageError } from './usage';

const SECTION_TITLES: Record<IpcKind, string> = {
  msg: 'Message queues',
  sem: 'Semaphore sets',
  shm: 'Shared memory segments',
};

function kindTable(kind: IpcKind, entries: IpcObject[], now: number, peek: boolean): string {
  const head = ['KEY', 'ID', 'OWNER', 'PERMS'];
  const num = [false, true, false, false];
  // New columns go at the end of each table, so the ones scripts may cut stay where they were.
  if (kind === 'msg') {
    const rows = (entries as MessageQueueEntry[]).map((e) => [
      ...commonCells(e),
      String(e.messages),
      formatBytes(e.bytes),
      formatAge(e.lastSendTime, now),
      formatAge(e.lastReceiveTime, now),
      formatAge(e.lastChangeTime, now),
      pidCell(e.lastSendPid),
      pidCell(e.lastReceivePid),
    ]);
    return table([...head, 'MESSAGES', 'BYTES', 'LAST SEND', 'LAST RECEIVE', 'CHANGED', 'LSPID', 'LRPID'], rows, [
      ...num,
      true,
      true,
      false,
      false,
      false,
      true,
      true,
    ]);
  }
  if (kind === 'sem') {
    // /proc/sysvipc/sem has no pids (each member has its own): `stat sem` shows them.
    const rows = (entries as SemaphoreSetEntry[]).map((e) => [
      ...commonCells(e),
      String(e.members),
      formatAge(e.lastOpTime, now),
      formatAge(e.lastChangeTime, now),
    ]);
    return table([...head, 'MEMBERS', 'LAST OP', 'CHANGED'], rows, [...num, true, false, false]);
  }
  const rows = (entries as SharedMemoryEntry[]).map((e) => {
    const cells = [
      ...commonCells(e),
      formatBytes(e.size),
      String(e.attachments),
      pidCell(e.creatorPid),
      [e.removed ? 'removed' : '', e.locked ? 'locked' : ''].filter(Boolean).join(',') || '-',
      formatAge(e.lastAttachTime, now),
      formatAge(e.lastChangeTime, now),
      pidCell(e.lastPid),
    ];
    if (peek) {
      const channel = channelOf(e);
      cells.push(lockCell(locksOf(e, channel)), channelCell(channel), mapCell(mapOf(e)));
    }
    return cells;
  });
  const header = [...head, 'SIZE', 'ATTACHED', 'CREATOR', 'STATUS', 'LAST ATTACH', 'CHANGED', 'LPID'];
  const numeric = [...num, true, true, true, false, false, false, true];
  if (peek) {
    header.push('LOCK', 'CHANNEL', 'MAP');
    numeric.push(false, false, false);
  }
  return table(header, rows, numeric);
}

export const help = `Usage: sysv-ipc ls [--kind msg|sem|shm] [--key K...] [--owner U] [--creator-dead]
                   [--peek] [--json]

Lists the System V objects in this IPC namespace (from /proc/sysvipc), one
table per kind, with sizes and ages in human units and the pids the kernel
keeps (queues: last sender and receiver; segments: creator and last
attach/detach), "(dead)" beside a pid whose process has gone. It only reads
/proc: the objects' times and pids stay as they were.

Options:
  -k, --kind KIND   only this kind: msg, sem or shm
  --key K...        only objects with these keys (hex like 0x1234abcd, or
                    decimal); repeatable
  --owner U         only objects owned by this user (name or uid); repeatable
  --creator-dead    only segments whose creator process has gone (the kernel
                    records no creator pid for queues and semaphore sets); what
                    \`sysv-ipc rm --all --creator-dead\` would remove
  --peek            also look inside each segment (attaching it read-only) for
                    a Channel (CHANNEL column), a SharedMap (MAP: entries, used
                    of capacity) and a lock holder (LOCK: a Channel's send
                    lock, or a FastMutex in a segment of its own):
                    the kernel then records this command as the segments' last
                    pid, with new attach and detach times
  --json            print a JSON array instead (times as ISO strings, keys as
                    unsigned numbers, an ...Alive field beside each pid; with
                    --peek, segments get "channel", "map" and "locks")`;

export function run(args: string[]): number {
  const { values, positionals } = parse('ls', spreadKeys(args), {
    kind: { type: 'string', short: 'k' },
    key: { type: 'string', multiple: true },
    owner: { type: 'string', multiple: true },
    'creator-dead': { type: 'boolean' },
    peek: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) return showHelp(help);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`, 'ls');
  const creatorDead = values['creator-dead'] === true;
  if (creatorDead && values.kind !== undefined && values.kind !== 'shm') {
    throw new UsageError(
      '--creator-dead applies to shm only: the kernel records no creator pid for message queues and semaphore sets',
      'ls',
    );
  }
  const kinds: IpcKind[] = creatorDead
    ? ['shm']
    : values.kind === undefined
      ? ['msg', 'sem', 'shm']
      : [parseKind(values.kind as string, 'ls')];
  const keys = ((values.key as string[] | undefined) ?? []).map((v) => parseKey(v, 'ls'));
  const owners = ((values.owner as string[] | undefined) ?? []).map((v) => parseOwner(v, 'ls'));
  const peek = values.peek === true;
  // The same filters as rm's --key/--owner/--creator-dead, so that what ls
  // shows is what rm would take (pid 0: a creator in another pid namespace,
  // not known dead).
  const entries = kinds
    .flatMap((k) => list(k))
    .filter(
      (e) =>
        (keys.length === 0 || keys.includes(e.key)) &&
        (owners.length === 0 || owners.includes(e.uid)) &&
        (!creatorDead || (e.kind === 'shm' && e.creatorPid !== 0 && !isAlive(e.creatorPid))),
    );
  if (values.json) {
    json(entries.map((e) => withLiveness(peek ? withLook(e) : e)));
    return 0;
  }
  const now = Date.now();
  const sections = kinds.map((kind) => {
    const ofKind = entries.filter((e) => e.kind === kind);
    const body = ofKind.length === 0 ? '(none)' : kindTable(kind, ofKind, now, peek);
    return `${SECTION_TITLES[kind]}\n${body}`;
  });
  out(sections.join('\n\n'));
  return 0;
}
