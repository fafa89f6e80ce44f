/**
 * `sysv-ipc rm`: removes objects (IPC_RMID) by id, by key, or all that match
 * filters — cleaning up after an app that died — with a dry run, and a
 * confirmation before removing more than one object.
 */
import { Buffer } from 'node:buffer';
import { readSync } from 'node:fs';
import { isatty } from 'node:tty';
import { IPC_KINDS, list, remove, type IpcKind, type IpcObject } from '../admin';
import { formatKey, KIND_NAMES, out, userId, userName } from './format';
import { isAlive, pidText } from './processes';
import { parse, parseId, parseKey, showHelp, UsageError } from './usage';

export const help = `Usage: sysv-ipc rm <kind> <id>... [<kind> <id>...]...
       sysv-ipc rm [<kind>...] --key K [K...] [--key K...]
       sysv-ipc rm [<kind>...] --all [--owner U] [--creator-dead]

Removes objects (IPC_RMID) and says what it removed. Processes waiting on a
removed queue or semaphore set wake with EIDRM; a removed segment disappears
when its last process detaches.

  sysv-ipc rm shm 12 13 msg 4          ids, each of the kind named before it
  sysv-ipc rm --key 0x5a17c0de 0x5a17c0df   every object with these keys
  sysv-ipc rm msg --key 0x5a17c0de     only the message queue with this key
  sysv-ipc rm --all --owner app -n     what removing everything of user app would remove
  sysv-ipc rm shm --all --creator-dead segments whose creator has exited

--key and --all look in the kinds named on the command line (all three when
none is). --owner and --creator-dead narrow what --key and --all find (ids
are removed as given). Removing more than one object asks first (y/N) when
stdin is a terminal, and is refused without --yes when it is not.

Options:
  --key K...        objects with these keys (hex like 0x1234abcd, or decimal; a
                    negative one as --key=-5); repeatable
  --all             every object of the kinds named (all kinds when none is)
                    that matches the filters
  --owner U         filter: owned by this user (name or uid); repeatable
  --creator-dead    filter: segments whose creator process has exited (the
                    kernel records a creator pid for segments only, so this
                    applies to shm; a reused pid counts as alive)
  -n, --dry-run     print what would be removed, remove nothing
  -y, --yes         remove several objects without asking

Exit codes: 0 all removed (or nothing matched), 1 some removal failed (each
failure is a line on stderr naming the object) or the confirmation was
declined, 2 usage error (also: several objects, no terminal, no --yes).`;

/** One object to remove, and how it was found. */
interface Target {
  kind: IpcKind;
  id: number;
  /** The entry in /proc/sysvipc, when listed there. */
  entry?: IpcObject;
  /** Found by key (printed beside what was removed). */
  byKey?: number;
}

/** What the command line asks for. */
interface Request {
  ids: Array<{ kind: IpcKind; id: number }>;
  keys: number[];
  all: boolean;
  /** The kinds named on the command line (with or without ids). */
  kinds: IpcKind[];
  owners: number[];
  creatorDead: boolean;
  dryRun: boolean;
  yes: boolean;
}

const isKind = (v: string): v is IpcKind => v === 'msg' || v === 'sem' || v === 'shm';

/**
 * `--key A B C` as parseArgs reads it: `--key A --key B --key C`. The values
 * after --key run to the next option or kind word; the first one goes to
 * parseArgs as it is, which refuses a bare negative one as ambiguous.
 */
export function spreadKeys(args: string[]): string[] {
  const spread: string[] = [];
  let inKeys = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      spread.push(...args.slice(i));
      break;
    }
    if (arg === '--key') {
      spread.push(arg);
      if (i + 1 < args.length) spread.push(args[++i]);
      inKeys = true;
    } else if (inKeys && !arg.startsWith('-') && !isKind(arg)) {
      spread.push('--key', arg);
    } else {
      inKeys = false;
      spread.push(arg);
    }
  }
  return spread;
}

export function parseOwner(value: string, command = 'rm'): number {
  if (/^\d+$/.test(value)) return Number(value);
  const uid = userId(value);
  if (uid === undefined) throw new UsageError(`--owner '${value}': no such user (give a name or a uid)`, command);
  return uid;
}

function parseRequest(args: string[]): Request | undefined {
  const { values, positionals } = parse('rm', spreadKeys(args), {
    key: { type: 'string', multiple: true },
    all: { type: 'boolean' },
    owner: { type: 'string', multiple: true },
    'creator-dead': { type: 'boolean' },
    'dry-run': { type: 'boolean', short: 'n' },
    yes: { type: 'boolean', short: 'y' },
  });
  if (values.help) return undefined;
  const ids: Request['ids'] = [];
  const kinds: IpcKind[] = [];
  let kind: IpcKind | undefined;
  for (const word of positionals) {
    if (isKind(word)) {
      kind = word;
      if (!kinds.includes(word)) kinds.push(word);
    } else if (kind === undefined) {
      if (/^\d+$/.test(word)) throw new UsageError(`id ${word} comes before any kind: say msg, sem or shm first`, 'rm');
      throw new UsageError(`unknown kind '${word}': use msg, sem or shm`, 'rm');
    } else {
      ids.push({ kind, id: parseId(word, 'rm') });
    }
  }
  const keys = ((values.key as string[] | undefined) ?? []).map((v) => parseKey(v, 'rm'));
  const owners = ((values.owner as string[] | undefined) ?? []).map((v) => parseOwner(v));
  const request: Request = {
    ids,
    keys,
    all: values.all === true,
    kinds,
    owners,
    creatorDead: values['creator-dead'] === true,
    dryRun: values['dry-run'] === true,
    yes: values.yes === true,
  };
  if (ids.length === 0 && keys.length === 0 && !request.all) {
    throw new UsageError('give <kind> <id>..., --key K... or --all', 'rm');
  }
  if ((owners.length > 0 || request.creatorDead) && keys.length === 0 && !request.all) {
    throw new UsageError('--owner and --creator-dead narrow --all or --key (ids are removed as given)', 'rm');
  }
  if (request.creatorDead && kinds.some((k) => k !== 'shm')) {
    throw new UsageError(
      '--creator-dead applies to shm only: the kernel records no creator pid for message queues and semaphore sets',
      'rm',
    );
  }
  return request;
}

/** The kinds --key and --all look in. */
function searchedKinds(r: Request): readonly IpcKind[] {
  if (r.creatorDead) return ['shm'];
  return r.kinds.length > 0 ? r.kinds : IPC_KINDS;
}

/** Whether an object found by --key or --all passes --owner and --creator-dead. */
function matchesFilters(e: IpcObject, r: Request): boolean {
  if (r.owners.length > 0 && !r.owners.includes(e.uid)) return false;
  // pid 0: the creator lives in another pid namespace; it is not known dead, so the segment stays.
  if (r.creatorDead && (e.kind !== 'shm' || e.creatorPid === 0 || isAlive(e.creatorPid))) return false;
  return true;
}

/** A line naming the object: "message queue 5 (key 0x…, owner app, creator 123 (dead))". */
function describe(t: Target): string {
  const name = `${KIND_NAMES[t.kind]} ${t.id}`;
  const e = t.entry;
  if (!e) return name;
  const details = [e.key === 0 ? 'private' : `key ${formatKey(e.key)}`, `owner ${userName(e.uid)}`];
  if (e.kind === 'shm') details.push(`creator ${pidText(e.creatorPid)}`, `${e.attachments} attached`);
  return `${name} (${details.join(', ')})`;
}

/** Reads one line from the terminal on stdin, synchronously (the CLI has nothing else to do). */
function readAnswer(): string {
  const buf = Buffer.alloc(256);
  let answer = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      // stdin left non-blocking by whoever shares the terminal: wait a little and read again.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        continue;
      }
      throw err;
    }
    if (n === 0) return answer; // end of input: no answer
    answer += buf.toString('utf8', 0, n);
    if (answer.includes('\n')) return answer.slice(0, answer.indexOf('\n'));
  }
}

export function run(args: string[]): number {
  const r = parseRequest(args);
  if (!r) return showHelp(help);
  let failed = 0;
  const fail = (what: string, message: string) => {
    failed++;
    process.stderr.write(`sysv-ipc: cannot remove ${what}: ${message}\n`);
  };

  // What each searched kind holds now (read once), and the explicit ids looked up in it.
  const listed = new Map<IpcKind, IpcObject[]>();
  const entries = (kind: IpcKind) => {
    let found = listed.get(kind);
    if (!found) listed.set(kind, (found = list(kind)));
    return found;
  };
  const targets: Target[] = [];
  const seen = new Set<string>();
  const add = (t: Target) => {
    const name = `${t.kind}:${t.id}`;
    if (seen.has(name)) return;
    seen.add(name);
    targets.push(t);
  };
  for (const { kind, id } of r.ids) add({ kind, id, entry: entries(kind).find((e) => e.id === id) });
  const kinds = searchedKinds(r);
  for (const key of r.keys) {
    const withKey = kinds.flatMap((k) => entries(k).filter((e) => e.key === key));
    if (withKey.length === 0) {
      const what = kinds.length === 1 ? KIND_NAMES[kinds[0]] : 'anything';
      const none = kinds.map((k) => KIND_NAMES[k]).join(', ');
      fail(`${what} with key ${formatKey(key)}`, `ENOENT: no ${none} has this key`);
    }
    for (const e of withKey.filter((e) => matchesFilters(e, r))) add({ kind: e.kind, id: e.id, entry: e, byKey: key });
  }
  if (r.all) {
    for (const k of kinds) for (const e of entries(k)) if (matchesFilters(e, r)) add({ kind: k, id: e.id, entry: e });
  }

  if (targets.length === 0) {
    if (failed === 0) process.stderr.write('sysv-ipc: nothing to remove: no object matches\n');
    return failed === 0 ? 0 : 1;
  }
  if (r.dryRun) {
    for (const t of targets) out(`would remove ${describe(t)}`);
    return failed === 0 ? 0 : 1;
  }
  if (targets.length > 1 && !r.yes) {
    const count = `${targets.length} objects`;
    if (!isatty(0)) {
      throw new UsageError(
        `refusing to remove ${count} without confirmation: stdin is not a terminal; add --yes (or --dry-run to list them)`,
        'rm',
      );
    }
    process.stderr.write(`${targets.map((t) => `  ${describe(t)}\n`).join('')}Remove these ${count}? [y/N] `);
    if (!/^\s*y(es)?\s*$/i.test(readAnswer())) {
      process.stderr.write('sysv-ipc: nothing removed\n');
      return 1;
    }
  }

  for (const t of targets) {
    try {
      remove(t.kind, t.id);
      const key = t.byKey ?? (r.all && t.entry && t.entry.key !== 0 ? t.entry.key : undefined);
      out(`removed ${KIND_NAMES[t.kind]} ${t.id}${key === undefined ? '' : ` (key ${formatKey(key)})`}`);
    } catch (err) {
      fail(`${KIND_NAMES[t.kind]} ${t.id}`, (err as Error).message);
    }
  }
  return failed === 0 ? 0 : 1;
}
