/** `sysv-ipc limits`: the kernel's System V limits, with what each one bounds. */
import { limits, type IpcLimits } from '../admin';
import { formatBytes, json, out, table } from './format';
import { parse, showHelp, UsageError } from './usage';

export const help = `Usage: sysv-ipc limits [--json]

Shows the kernel's System V limits (from /proc/sys/kernel; change them with sysctl).

Options:
  --json     print JSON instead`;

const LIMIT_ROWS: Array<[keyof IpcLimits, string, 'count' | 'bytes' | 'pages']> = [
  ['msgmni', 'message queues system-wide', 'count'],
  ['msgmax', 'largest message', 'bytes'],
  ['msgmnb', 'default queue capacity', 'bytes'],
  ['semmni', 'semaphore sets system-wide', 'count'],
  ['semmsl', 'semaphores per set', 'count'],
  ['semmns', 'semaphores system-wide', 'count'],
  ['semopm', 'operations per semop call', 'count'],
  ['semvmx', 'largest semaphore value', 'count'],
  ['shmmni', 'segments system-wide', 'count'],
  ['shmmax', 'largest segment', 'bytes'],
  ['shmall', 'shared memory system-wide', 'pages'],
  ['pageSize', 'page size', 'bytes'],
];

export function run(args: string[]): number {
  const { values, positionals } = parse('limits', args, { json: { type: 'boolean' } });
  if (values.help) return showHelp(help);
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`, 'limits');
  const l = limits();
  if (values.json) {
    json(l);
    return 0;
  }
  // Linux's defaults for shmmax and shmall are near 2^64: "no limit" in practice.
  const huge = (n: number) => n >= 2 ** 53;
  const rows = LIMIT_ROWS.map(([name, what, unit]) => {
    const n = l[name];
    let shown: string;
    if (huge(n)) shown = 'unlimited';
    else if (unit === 'bytes') shown = formatBytes(n);
    else if (unit === 'pages') shown = `${n} pages (${formatBytes(n * l.pageSize)})`;
    else shown = String(n);
    return [name, shown, what];
  });
  out(table(['NAME', 'VALUE', 'MEANING'], rows, [false, false, false]));
  return 0;
}
