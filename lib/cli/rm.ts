/** `sysv-ipc rm`: removes objects (IPC_RMID) by id or key, without asking. */
import { remove, removeByKey } from '../admin';
import { formatKey, KIND_NAMES, out } from './format';
import { parse, parseId, parseKey, parseKind, showHelp, UsageError } from './usage';

export const help = `Usage: sysv-ipc rm <kind> <id...>
       sysv-ipc rm <kind> --key K [--key K...]

Removes objects (IPC_RMID) without asking, and says what it removed. Processes
waiting on a removed queue or semaphore set wake with EIDRM; a removed segment
disappears when its last process detaches. Exits 1 if any removal failed.

Options:
  --key K    remove by key (hex like 0x1234abcd, or decimal) instead of id; repeatable`;

export function run(args: string[]): number {
  const { values, positionals } = parse('rm', args, { key: { type: 'string', multiple: true } });
  if (values.help) return showHelp(help);
  const kind = parseKind(positionals[0], 'rm');
  const ids = positionals.slice(1).map((v) => parseId(v, 'rm'));
  const keys = ((values.key as string[] | undefined) ?? []).map((v) => parseKey(v, 'rm'));
  if (ids.length === 0 && keys.length === 0) throw new UsageError('give at least one <id> or --key K', 'rm');
  let failed = 0;
  const fail = (what: string, err: unknown) => {
    failed++;
    process.stderr.write(`sysv-ipc: cannot remove ${KIND_NAMES[kind]} ${what}: ${(err as Error).message}\n`);
  };
  for (const id of ids) {
    try {
      remove(kind, id);
      out(`removed ${KIND_NAMES[kind]} ${id}`);
    } catch (err) {
      fail(`${id}`, err);
    }
  }
  for (const key of keys) {
    try {
      const id = removeByKey(kind, key);
      out(`removed ${KIND_NAMES[kind]} ${id} (key ${formatKey(key)})`);
    } catch (err) {
      fail(`with key ${formatKey(key)}`, err);
    }
  }
  return failed === 0 ? 0 : 1;
}
