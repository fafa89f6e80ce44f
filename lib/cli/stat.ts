/** `sysv-ipc stat`: everything the kernel reports about one object, found by id or key. */
import { list, semaphoreMembers, type IpcKind, type IpcObject, type SemaphoreMember } from '../admin';
import { channelOf, mapOf, withLook } from './channel-look';
import { formatAge, formatBytes, formatKey, formatMode, json, KIND_NAMES, out, table, userName } from './format';
import { lookAtLock, lockText, locksOf, mutexOffsetProblem, type LockLook } from './lock-look';
import { isAlive, pidText, withLiveness } from './processes';
import { parse, parseId, parseKey, parseKind, showHelp, UsageError } from './usage';

export const help = `Usage: sysv-ipc stat <kind> <id> [--json]
       sysv-ipc stat <kind> --key K [--json]
       sysv-ipc stat shm <id> [--peek] [--mutex-at OFFSET...]

Shows everything the kernel reports about one object, with whether each
process it names still runs. For a semaphore set, each member's value, the
processes waiting on it (NCOUNT: for it to rise, ZCOUNT: for zero; semctl(2)
GETNCNT, GETZCNT) and the last process that changed it (GETPID); reading them
changes nothing. A segment is not looked inside unless asked:

Options:
  --key K             find the object by key (hex like 0x1234abcd, or decimal) instead of id
  --peek              shm: look inside the segment (attaching it read-only) for a
                      Channel, its send lock's holder, a FastMutex in a segment
                      of its own, or a SharedMap (entries, used and free bytes); the kernel then records this command as the
                      segment's last pid, with new attach and detach times
  --mutex-at OFFSET   shm: read the FastMutex at this byte offset (FastMutex.in);
                      repeatable; attaches as --peek does
  --json              print JSON instead`;

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

/** Each member of a semaphore set (GETVAL, GETPID, GETNCNT, GETZCNT), or why they cannot be read. */
function membersOf(id: number): Array<SemaphoreMember & { lastPidAlive: boolean | null }> | { unreadable: string } {
  try {
    return semaphoreMembers(id).map((m) => ({ ...m, lastPidAlive: m.lastPid === 0 ? null : isAlive(m.lastPid) }));
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { unreadable: code === 'EINVAL' || code === 'EIDRM' ? 'gone' : (code ?? 'no native addon') };
  }
}

interface Look {
  /** Whether to look inside a segment for a channel and its locks (--peek). */
  peek: boolean;
  /** FastMutex offsets to read (--mutex-at). */
  mutexAt: number[];
}

/** What was read inside a segment: --peek's channel and locks, then each --mutex-at. */
function segmentLocks(e: IpcObject, look: Look): LockLook[] {
  if (e.kind !== 'shm') return [];
  const found = look.peek ? locksOf(e, channelOf(e)) : [];
  return [...found, ...look.mutexAt.map((at) => lookAtLock(e.id, at, 'mutex'))];
}

type Line = [string, string] | { raw: string };

function statLines(e: IpcObject, now: number, look: Look): Line[] {
  const when = (d: Date | null) => (d === null ? 'never' : `${d.toISOString()} (${formatAge(d, now)})`);
  const lines: Line[] = [
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
      ['last send', `${when(e.lastSendTime)}, pid ${pidText(e.lastSendPid)}`],
      ['last receive', `${when(e.lastReceiveTime)}, pid ${pidText(e.lastReceivePid)}`],
    );
  } else if (e.kind === 'sem') {
    lines.push(['members', String(e.members)]);
    const members = membersOf(e.id);
    if ('unreadable' in members) lines.push(['values', `unreadable (${members.unreadable})`]);
    else {
      const rows = members.map((m) => [
        String(m.index),
        String(m.value),
        String(m.waitingForNonZero),
        String(m.waitingForZero),
        m.lastPid === 0 ? 'none' : pidText(m.lastPid),
      ]);
      const text = table(['SEMNUM', 'VALUE', 'NCOUNT', 'ZCOUNT', 'LAST PID'], rows, [true, true, true, true, false]);
      for (const row of text.split('\n')) lines.push({ raw: `    ${row}` });
    }
    lines.push(['last op', when(e.lastOpTime)]);
  } else {
    lines.push(
      ['size', `${formatBytes(e.size)}${e.size >= 1024 ? ` (${e.size})` : ''}`],
      ['attachments', String(e.attachments)],
      [
        'status',
        [e.removed ? 'removed (goes at the last detach)' : '', e.locked ? 'locked' : ''].filter(Boolean).join(', ') ||
          '-',
      ],
      ['creator pid', pidText(e.creatorPid)],
      ['last pid', pidText(e.lastPid)],
      ['last attach', when(e.lastAttachTime)],
      ['last detach', when(e.lastDetachTime)],
    );
    if (e.rss !== undefined) lines.push(['resident', formatBytes(e.rss)]);
    if (e.swap !== undefined) lines.push(['swapped', formatBytes(e.swap)]);
    if (look.peek) lines.push(...channelLines(channelOf(e)), ...mapLines(mapOf(e)));
    else {
      lines.push([
        'contents',
        'not looked at (--peek attaches read-only to see whether it holds a Channel or a FastMutex)',
      ]);
    }
    for (const l of segmentLocks(e, look)) {
      const label =
        l.what === 'channel send lock' ? 'send lock' : l.what === 'fast mutex' ? 'fast mutex' : `mutex at ${l.at}`;
      lines.push([label, lockText(l)]);
    }
  }
  lines.push(['changed', when(e.lastChangeTime)]);
  return lines;
}

function mapLines(look: ReturnType<typeof mapOf>): Line[] {
  if (look === null) return [['map', 'no']];
  if ('unreadable' in look) return [['map', `unreadable (${look.unreadable})`]];
  if (look.corrupt) return [['map', 'yes (layout version 1), its header does not add up']];
  const used = look.usedBytes!;
  const capacity = look.capacity!;
  return [
    ['map', `yes (layout version 1), ${look.evict ? 'evicts when full' : 'errors when full'}`],
    ['  entries', `${look.entries} of at most ${look.maxEntries}`],
    ['  used', `${formatBytes(used)} of ${formatBytes(capacity)}, ${formatBytes(Math.max(0, capacity - used))} free`],
  ];
}

function channelLines(look: ReturnType<typeof channelOf>): Line[] {
  if (look === null) return [['channel', 'no']];
  if ('unreadable' in look) return [['channel', `unreadable (${look.unreadable})`]];
  return [
    ['channel', `yes (layout version 1)${look.removed ? ', removed' : ''}`],
    ['  capacity', `${formatBytes(look.capacity)} ring, messages up to ${formatBytes(look.maxMessageSize)}`],
    [
      '  queued',
      look.countsExact === false
        ? `at least ${look.messages} messages, ${formatBytes(look.bytes)} (counted in the oldest records; ${formatBytes(look.usedBytes)} of the ring in use)`
        : `${look.messages} messages, ${formatBytes(look.bytes)} (${formatBytes(look.usedBytes)} of the ring)`,
    ],
  ];
}

export function run(args: string[]): number {
  const { values, positionals } = parse('stat', args, {
    key: { type: 'string' },
    json: { type: 'boolean' },
    peek: { type: 'boolean' },
    'mutex-at': { type: 'string', multiple: true },
  });
  if (values.help) return showHelp(help);
  const kind = parseKind(positionals[0], 'stat');
  const rest = positionals.slice(1);
  const keyArg = values.key as string | undefined;
  if ((keyArg === undefined) === (rest.length === 0)) throw new UsageError('give either one <id> or --key K', 'stat');
  if (rest.length > 1) throw new UsageError('stat takes one id', 'stat');
  const mutexArgs = (values['mutex-at'] as string[] | undefined) ?? [];
  if (kind !== 'shm' && (values.peek || mutexArgs.length > 0)) {
    throw new UsageError(`${values.peek ? '--peek' : '--mutex-at'} is only for shm (shared memory segments)`, 'stat');
  }
  const mutexAt = mutexArgs.map((v) => {
    if (!/^\d+$/.test(v)) throw new UsageError(`--mutex-at '${v}' is not a byte offset`, 'stat');
    return Number(v);
  });
  const entry =
    keyArg !== undefined
      ? find(kind, undefined, parseKey(keyArg, 'stat'))
      : find(kind, parseId(rest[0], 'stat'), undefined);
  if (entry.kind === 'shm') {
    for (const at of mutexAt) {
      const problem = mutexOffsetProblem(at, entry.size);
      if (problem !== undefined) throw new UsageError(problem, 'stat');
    }
  }
  const look: Look = { peek: values.peek === true, mutexAt };
  if (values.json) {
    let result: Record<string, unknown> = withLiveness(look.peek ? withLook(entry) : entry);
    if (entry.kind === 'sem') result = { ...result, semaphores: membersOf(entry.id) };
    if (entry.kind === 'shm' && mutexAt.length > 0) {
      result = { ...result, locks: segmentLocks(entry, look) };
    }
    json(result);
    return 0;
  }
  const lines = statLines(entry, Date.now(), look);
  const labels = lines.filter((l): l is [string, string] => Array.isArray(l));
  const width = Math.max(...labels.map(([label]) => label.length));
  out(`${KIND_NAMES[kind]} ${entry.id}`);
  for (const line of lines) out(Array.isArray(line) ? `  ${line[0].padEnd(width)}  ${line[1]}` : line.raw);
  return 0;
}
