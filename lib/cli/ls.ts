/** `sysv-ipc ls`: every object in this IPC namespace, one table per kind (like ipcs). */
import {
  list,
  type IpcKind,
  type IpcObject,
  type MessageQueueEntry,
  type SemaphoreSetEntry,
  type SharedMemoryEntry,
} from '../admin';
import { channelCell, channelOf, withChannel } from './channel-look';
import { commonCells, formatAge, formatBytes, json, out, table } from './format';
import { parse, parseKind, showHelp, UsageError } from './usage';

const SECTION_TITLES: Record<IpcKind, string> = {
  msg: 'Message queues',
  sem: 'Semaphore sets',
  shm: 'Shared memory segments',
};

function kindTable(kind: IpcKind, entries: IpcObject[], now: number): string {
  const head = ['KEY', 'ID', 'OWNER', 'PERMS'];
  const num = [false, true, false, false];
  if (kind === 'msg') {
    const rows = (entries as MessageQueueEntry[]).map((e) => [
      ...commonCells(e),
      String(e.messages),
      formatBytes(e.bytes),
      formatAge(e.lastSendTime, now),
      formatAge(e.lastReceiveTime, now),
      formatAge(e.lastChangeTime, now),
    ]);
    return table([...head, 'MESSAGES', 'BYTES', 'LAST SEND', 'LAST RECEIVE', 'CHANGED'], rows, [
      ...num,
      true,
      true,
      false,
      false,
      false,
    ]);
  }
  if (kind === 'sem') {
    const rows = (entries as SemaphoreSetEntry[]).map((e) => [
      ...commonCells(e),
      String(e.members),
      formatAge(e.lastOpTime, now),
      formatAge(e.lastChangeTime, now),
    ]);
    return table([...head, 'MEMBERS', 'LAST OP', 'CHANGED'], rows, [...num, true, false, false]);
  }
  const rows = (entries as SharedMemoryEntry[]).map((e) => [
    ...commonCells(e),
    formatBytes(e.size),
    String(e.attachments),
    String(e.creatorPid),
    [e.removed ? 'removed' : '', e.locked ? 'locked' : ''].filter(Boolean).join(',') || '-',
    formatAge(e.lastAttachTime, now),
    formatAge(e.lastChangeTime, now),
    channelCell(channelOf(e)),
  ]);
  return table([...head, 'SIZE', 'ATTACHED', 'CREATOR', 'STATUS', 'LAST ATTACH', 'CHANGED', 'CHANNEL'], rows, [
    ...num,
    true,
    true,
    true,
    false,
    false,
    false,
    false,
  ]);
}

export const help = `Usage: sysv-ipc ls [--kind msg|sem|shm] [--json]

Lists the System V objects in this IPC namespace (from /proc/sysvipc), one
table per kind, with sizes and ages in human units.

Options:
  -k, --kind KIND   only this kind: msg, sem or shm
  --json            print a JSON array instead (times as ISO strings, keys as numbers)`;

export function run(args: string[]): number {
  const { values, positionals } = parse('ls', args, {
    kind: { type: 'string', short: 'k' },
    json: { type: 'boolean' },
  });
  if (values.help) return showHelp(help);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`, 'ls');
  const kinds: IpcKind[] = values.kind === undefined ? ['msg', 'sem', 'shm'] : [parseKind(values.kind as string, 'ls')];
  const entries = kinds.flatMap((k) => list(k));
  if (values.json) {
    json(entries.map(withChannel));
    return 0;
  }
  const now = Date.now();
  const sections = kinds.map((kind) => {
    const ofKind = entries.filter((e) => e.kind === kind);
    const body = ofKind.length === 0 ? '(none)' : kindTable(kind, ofKind, now);
    return `${SECTION_TITLES[kind]}\n${body}`;
  });
  out(sections.join('\n\n'));
  return 0;
}
