/** `sysv-ipc stat`: everything the kernel reports about one object, found by id or key. */
import { list, type IpcKind, type IpcObject } from '../admin';
import { channelOf, withChannel } from './channel-look';
import { formatAge, formatBytes, formatKey, formatMode, json, KIND_NAMES, out, userName } from './format';
import { parse, parseId, parseKey, parseKind, showHelp, UsageError } from './usage';

export const help = `Usage: sysv-ipc stat <kind> <id>
       sysv-ipc stat <kind> --key K

Shows everything the kernel reports about one object.

Options:
  --key K    find the object by key (hex like 0x1234abcd, or decimal) instead of id
  --json     print JSON instead`;

function find(kind: IpcKind, id: number | undefined, key: number | undefined): IpcObject {
  const entry = list(kind).find((e) => (id !== undefined ? e.id === id : e.key === key));
  if (!entry) {
    throw new Error(
      id !== undefined
        ? `no ${KIND_NAMES[kind]} with id ${id}`
        : `no ${KIND_NAMES[kind]} with key ${formatKey(key ?? 0)}`,
    );
  }
  return entry;
}

function statLines(e: IpcObject, now: number): Array<[string, string]> {
  const when = (d: Date | null) => (d === null ? 'never' : `${d.toISOString()} (${formatAge(d, now)})`);
  const pid = (p: number) => (p === 0 ? 'none' : String(p));
  const lines: Array<[string, string]> = [
    ['key', `${formatKey(e.key)}${e.key === 0 ? ' (IPC_PRIVATE)' : ''}`],
    ['id', String(e.id)],
    ['mode', `${e.mode.toString(8).padStart(3, '0')} (${formatMode(e.mode)})`],
    ['owner', `${userName(e.uid)} (uid ${e.uid}, gid ${e.gid})`],
    ['creator', `${userName(e.cuid)} (uid ${e.cuid}, gid ${e.cgid})`],
  ];
  if (e.kind === 'msg') {
    lines.push(
      ['messages', String(e.messages)],
      ['bytes', `${formatBytes(e.bytes)}${e.bytes >= 1024 ? ` (${e.bytes})` : ''}`],
      ['last send', `${when(e.lastSendTime)}, pid ${pid(e.lastSendPid)}`],
      ['last receive', `${when(e.lastReceiveTime)}, pid ${pid(e.lastReceivePid)}`],
    );
  } else if (e.kind === 'sem') {
    lines.push(['members', String(e.members)], ['last op', when(e.lastOpTime)]);
  } else {
    lines.push(
      ['size', `${formatBytes(e.size)}${e.size >= 1024 ? ` (${e.size})` : ''}`],
      ['attachments', String(e.attachments)],
      [
        'status',
        [e.removed ? 'removed (goes at the last detach)' : '', e.locked ? 'locked' : ''].filter(Boolean).join(', ') ||
          '-',
      ],
      ['creator pid', pid(e.creatorPid)],
      ['last pid', pid(e.lastPid)],
      ['last attach', when(e.lastAttachTime)],
      ['last detach', when(e.lastDetachTime)],
    );
    if (e.rss !== undefined) lines.push(['resident', formatBytes(e.rss)]);
    if (e.swap !== undefined) lines.push(['swapped', formatBytes(e.swap)]);
    const look = channelOf(e);
    if (look === null) lines.push(['channel', 'no']);
    else if ('unreadable' in look) lines.push(['channel', `unreadable (${look.unreadable})`]);
    else {
      lines.push(
        ['channel', `yes (layout version 1)${look.removed ? ', removed' : ''}`],
        ['  capacity', `${formatBytes(look.capacity)} ring, messages up to ${formatBytes(look.maxMessageSize)}`],
        [
          '  queued',
          look.countsExact === false
            ? `at least ${look.messages} messages, ${formatBytes(look.bytes)} (counted in the oldest records; ${formatBytes(look.usedBytes)} of the ring in use)`
            : `${look.messages} messages, ${formatBytes(look.bytes)} (${formatBytes(look.usedBytes)} of the ring)`,
        ],
      );
    }
  }
  lines.push(['changed', when(e.lastChangeTime)]);
  return lines;
}

export function run(args: string[]): number {
  const { values, positionals } = parse('stat', args, { key: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) return showHelp(help);
  const kind = parseKind(positionals[0], 'stat');
  const rest = positionals.slice(1);
  const keyArg = values.key as string | undefined;
  if ((keyArg === undefined) === (rest.length === 0)) throw new UsageError('give either one <id> or --key K', 'stat');
  if (rest.length > 1) throw new UsageError('stat takes one id', 'stat');
  const entry =
    keyArg !== undefined
      ? find(kind, undefined, parseKey(keyArg, 'stat'))
      : find(kind, parseId(rest[0], 'stat'), undefined);
  if (values.json) {
    json(withChannel(entry));
    return 0;
  }
  const lines = statLines(entry, Date.now());
  const width = Math.max(...lines.map(([label]) => label.length));
  out(`${KIND_NAMES[kind]} ${entry.id}`);
  for (const [label, value] of lines) out(`  ${label.padEnd(width)}  ${value}`);
  return 0;
}
