/**
 * The `sysv-ipc` command, run as a real child process (dist/cli/index.js, as npm's
 * bin link runs it) against real objects this test makes and removes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { list, MessageQueue } from '../../lib';
import { CIpc } from '../support/admin-c';
import { nearly, packageRootFor, procLimits, randomKey, track, useCleanup } from '../support/helpers';

useCleanup();
const c = new CIpc();
c.install();

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { uid?: number; gid?: number; script?: string } = {}): Run {
  const { script, ...ids } = options;
  // Another uid runs the CLI from a copy it can read (see packageRootFor).
  const file = script ?? path.join(packageRootFor(ids.uid), 'dist', 'cli', 'index.js');
  const r = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', cwd: packageRootFor(ids.uid), ...ids });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const hex = (key: number) => `0x${(key >>> 0).toString(16).padStart(8, '0')}`;

/** A failure as the CLI must report it: exit code, one line on stderr, no stack. */
function expectOneLineError(r: Run, status: number, pattern: RegExp): void {
  expect(r.status).toBe(status);
  expect(r.stderr).toMatch(/^sysv-ipc: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run compile:ts\` first`);
});

test('the command runs by itself from a checkout (executable, with its shebang), as `npx sysv-ipc` does there', () => {
  expect(fs.readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  const r = spawnSync(CLI, ['--help'], { encoding: 'utf8' });
  expect({ status: r.status, error: r.error?.message }).toEqual({ status: 0, error: undefined });
  expect(r.stdout).toMatch(/sysv-ipc/);
});

describe('sysv-ipc ls', () => {
  test('shows our objects of every kind in tables, keys in hex as ipcs prints them', () => {
    const key = randomKey();
    const queue = track(MessageQueue.create({ key, mode: 0o640 }));
    queue.trySend(Buffer.alloc(1536));
    const semKey = randomKey();
    const semId = c.create('sem', semKey, 4);
    const shmId = c.create('shm', 0, 3 * 1024 * 1024);
    const r = cli(['ls']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const sections = r.stdout.split('\n\n');
    expect(sections.map((s) => s.split('\n')[0])).toEqual([
      'Message queues',
      'Semaphore sets',
      'Shared memory segments',
    ]);
    const row = (section: string, id: number) =>
      section
        .split('\n')
        .find((line) => line.split(/\s+/)[1] === String(id))
        ?.split(/\s{2,}/);
    expect(sections[0]).toMatch(
      /^KEY\s+ID\s+OWNER\s+PERMS\s+MESSAGES\s+BYTES\s+LAST SEND\s+LAST RECEIVE\s+CHANGED\s+LSPID\s+LRPID$/m,
    );
    expect(row(sections[0], queue.id)).toEqual([
      hex(key),
      String(queue.id),
      os.userInfo().username,
      '640',
      '1',
      '1.5 KiB',
      expect.stringMatching(/ago$|^just now$/),
      'never',
      expect.stringMatching(/ago$|^just now$/),
      String(process.pid),
      '-',
    ]);
    expect(row(sections[1], semId)).toEqual([
      hex(semKey),
      String(semId),
      os.userInfo().username,
      '640',
      '4',
      'never',
      expect.stringMatching(/ago$|^just now$/),
    ]);
    expect(row(sections[2], shmId)?.slice(0, 8)).toEqual([
      '0x00000000',
      String(shmId),
      os.userInfo().username,
      '640',
      '3 MiB',
      '0',
      expect.stringMatching(/^\d+ \(dead\)$/), // the C program that made it has exited
      '-',
    ]);
  });

  test('--kind limits the listing and --json prints the entries for scripts', () => {
    const key = randomKey();
    const queue = track(MessageQueue.create({ key }));
    queue.trySend('four', { type: 9 });
    const r = cli(['ls', '--kind', 'msg', '--json']);
    expect(r.status).toBe(0);
    const entries = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(entries.every((e) => e.kind === 'msg')).toBe(true);
    expect(entries.find((e) => e.id === queue.id)).toMatchObject({
      kind: 'msg',
      key,
      id: queue.id,
      mode: 0o600,
      messages: 1,
      bytes: 4,
      lastSendPid: process.pid,
      lastReceiveTime: null,
    });
    expect(new Date(entries.find((e) => e.id === queue.id)?.lastSendTime as string).getTime()).not.toBeNaN();

    const shmOnly = cli(['ls', '-k', 'shm']);
    expect(shmOnly.status).toBe(0);
    expect(shmOnly.stdout.startsWith('Shared memory segments\n')).toBe(true);
    expect(shmOnly.stdout).not.toMatch(/Message queues/);
  });

  test('a segment removed while attached shows as removed', async () => {
    const shmId = c.create('shm', randomKey(), 4096);
    await c.hold(shmId);
    c.remove('shm', shmId);
    const line = cli(['ls', '--kind', 'shm'])
      .stdout.split('\n')
      .find((l) => l.split(/\s+/)[1] === String(shmId));
    expect(line?.split(/\s{2,}/).slice(5, 8)).toEqual(['1', expect.stringMatching(/^\d+ \(dead\)$/), 'removed']);
  });
});

describe('sysv-ipc stat', () => {
  test('shows one object by id or by key, as text or JSON', () => {
    const key = randomKey();
    const queue = track(MessageQueue.create({ key }));
    queue.trySend('x'.repeat(2000));
    const byId = cli(['stat', 'msg', String(queue.id)]);
    expect(byId.status).toBe(0);
    expect(byId.stdout).toMatch(new RegExp(`^message queue ${queue.id}\n`));
    expect(byId.stdout).toMatch(new RegExp(`^  key +${hex(key)}$`, 'm'));
    expect(byId.stdout).toMatch(/^ {2}mode +600 \(rw-------\)$/m);
    expect(byId.stdout).toMatch(/^ {2}messages +1$/m);
    expect(byId.stdout).toMatch(/^ {2}bytes +2 KiB \(2000\)$/m);
    expect(byId.stdout).toMatch(new RegExp(`^  last send +\\S+ \\(.+\\), pid ${process.pid} \\(alive\\)$`, 'm'));
    expect(byId.stdout).toMatch(/^ {2}last receive +never, pid none$/m);

    const byKey = cli(['stat', 'msg', '--key', hex(key)]);
    const withoutAges = (text: string) => text.replace(/\((\d+[smhd] ago|just now)\)/g, '(age)');
    expect(withoutAges(byKey.stdout)).toBe(withoutAges(byId.stdout)); // the same object, found by key
    expect(byKey.stdout.split('\n')[0]).toBe(`message queue ${queue.id}`);
    const asDecimal = cli(['stat', 'msg', '--key', String(key), '--json']);
    expect(JSON.parse(asDecimal.stdout)).toMatchObject({ kind: 'msg', id: queue.id, key, messages: 1, bytes: 2000 });
  });

  test('a key above 0x7fffffff: unsigned in --json, hex in the table, found by hex or signed decimal (issue 22 item 10)', () => {
    const key = 0x80000000 + (randomKey() & 0x0fffffff);
    const queue = track(MessageQueue.create({ key }));
    const entries = JSON.parse(cli(['ls', '-k', 'msg', '--json']).stdout) as Array<{ id: number; key: number }>;
    expect(entries.find((e) => e.id === queue.id)?.key).toBe(key);
    expect(cli(['ls', '-k', 'msg']).stdout).toMatch(new RegExp(`^${hex(key)}\\s+${queue.id}\\s`, 'm'));
    for (const spelling of [hex(key), String(key), String(key | 0)]) {
      const r = cli(['stat', 'msg', `--key=${spelling}`, '--json']);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ id: queue.id, key });
    }
  });

  test('shows a semaphore set and a segment', () => {
    const semId = c.create('sem', 0, 2);
    expect(cli(['stat', 'sem', String(semId)]).stdout).toMatch(/^ {2}members +2$/m);
    const shmId = c.create('shm', 0, 8192);
    const shm = cli(['stat', 'shm', String(shmId)]);
    expect(shm.stdout).toMatch(/^ {2}size +8 KiB \(8192\)$/m);
    expect(shm.stdout).toMatch(/^ {2}attachments +0$/m);
  });

  test('an id or key with no object fails with one line', () => {
    const queue = track(MessageQueue.create());
    queue.remove();
    expectOneLineError(cli(['stat', 'msg', String(queue.id)]), 1, new RegExp(`no message queue with id ${queue.id}`));
    const key = randomKey();
    expectOneLineError(cli(['stat', 'sem', '--key', hex(key)]), 1, new RegExp(`no semaphore set with key ${hex(key)}`));
  });
});

describe('sysv-ipc rm', () => {
  test('removes several objects by id and by key and says what it removed', () => {
    const a = track(MessageQueue.create());
    const b = track(MessageQueue.create());
    const key = randomKey();
    const k = track(MessageQueue.create({ key }));
    const r = cli(['rm', 'msg', String(a.id), String(b.id), '--key', hex(key), '--yes']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      `removed message queue ${a.id}\nremoved message queue ${b.id}\nremoved message queue ${k.id} (key ${hex(key)})\n`,
    );
    const ids = new Set(list('msg').map((e) => e.id));
    for (const q of [a, b, k]) expect(ids.has(q.id)).toBe(false);
  });

  test('removes what it can, reports each failure on its own line, and exits 1', () => {
    const good = track(MessageQueue.create());
    const gone = track(MessageQueue.create());
    gone.remove();
    const missingKey = randomKey();
    const r = cli(['rm', 'msg', String(gone.id), String(good.id), '--key', hex(missingKey), '--yes']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(`removed message queue ${good.id}\n`);
    const lines = r.stderr.trimEnd().split('\n');
    // Keys are looked up before anything is removed: a missing one is reported first.
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^sysv-ipc: cannot remove message queue with key ${hex(missingKey)}: ENOENT: `)),
      expect.stringMatching(new RegExp(`^sysv-ipc: cannot remove message queue ${gone.id}: EINVAL: `)),
    ]);
    expect(list('msg').some((e) => e.id === good.id)).toBe(false);
  });

  test('another user cannot remove our queue: EPERM, exit 1, and the queue stays', () => {
    const queue = track(MessageQueue.create({ mode: 0o666 }));
    const r = cli(['rm', 'msg', String(queue.id)], { uid: 65534, gid: 65534 });
    expectOneLineError(r, 1, /cannot remove message queue \d+: EPERM: operation not permitted, msgctl/);
    expect(list('msg').some((e) => e.id === queue.id)).toBe(true);
  });

  test('removes a semaphore set', () => {
    const id = c.create('sem', 0, 1);
    const r = cli(['rm', 'sem', String(id)]);
    expect(r.stdout).toBe(`removed semaphore set ${id}\n`);
    expect(r.status).toBe(0);
    expect(list('sem').some((e) => e.id === id)).toBe(false);
  });
});

describe('sysv-ipc limits', () => {
  test('prints the limits as a table and as JSON', () => {
    const text = cli(['limits']);
    expect(text.status).toBe(0);
    for (const name of [
      'msgmni',
      'msgmax',
      'msgmnb',
      'semmni',
      'semmsl',
      'semmns',
      'semopm',
      'semvmx',
      'shmmni',
      'shmmax',
      'shmall',
      'pageSize',
    ]) {
      expect(text.stdout).toMatch(new RegExp(`^${name}\\s+\\S`, 'm'));
    }
    const asJson = JSON.parse(cli(['limits', '--json']).stdout) as Record<string, number>;
    const { shmmax, shmall, ...exact } = procLimits();
    expect(asJson).toMatchObject({
      ...exact,
      semvmx: 32767,
      pageSize: Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' })),
    });
    // Near 2^64 by default: beyond exact JS numbers, compared with a relative margin.
    expect(nearly(asJson.shmmax, shmmax)).toBe(true);
    expect(nearly(asJson.shmall, shmall)).toBe(true);
  });
});

describe('help, version and usage errors', () => {
  test('--version prints the package version', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(cli(['--version'])).toEqual({ status: 0, stdout: `${version}\n`, stderr: '' });
  });

  test('--help, and --help for each command', () => {
    const main = cli(['--help']);
    expect(main.status).toBe(0);
    for (const command of ['ls', 'stat', 'rm', 'limits']) {
      expect(main.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
      for (const args of [
        [command, '--help'],
        ['help', command],
      ]) {
        const r = cli(args);
        expect(r.status).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^Usage: sysv-ipc ${command}`));
      }
    }
    expect(cli([]).stdout).toBe(main.stdout);
  });

  test.each([
    [['frobnicate'], /unknown command 'frobnicate' \(see sysv-ipc --help\)/],
    [['ls', '--bogus'], /Unknown option '--bogus'.*\(see sysv-ipc ls --help\)/],
    [['ls', '--kind', 'queue'], /unknown kind 'queue': use msg, sem or shm/],
    [['stat', 'msg'], /give either one <id> or --key K/],
    [['stat', 'msg', 'abc'], /'abc' is not an id/],
    [['rm', 'msg'], /give <kind> <id>\.\.\., --key K\.\.\. or --all/],
    [['rm', 'msg', '--key', 'zz'], /'zz' is not a key/],
    [['rm', 'msg', '--key', '-5'], /argument is ambiguous/],
    [['rm', 'msg', '--key', '0x100000000'], /out of 32-bit range/],
  ])('usage error %j: one line, exit 2', (args, pattern) => {
    expectOneLineError(cli(args), 2, pattern);
  });
});

describe('sysv-ipc bench is gone', () => {
  // The benchmarks need the repository (C sources, a compiler, Python) and
  // write results beside themselves: they are `npm run bench` in a clone, not a command.
  test('`sysv-ipc bench` is an unknown command, and the main help does not list it', () => {
    expectOneLineError(cli(['bench', '--quick']), 2, /unknown command 'bench' \(see sysv-ipc --help\)/);
    expect(cli(['--help']).stdout).not.toMatch(/bench/);
  });

  test('`sysv-ipc help bench` is a usage error, not a help text', () => {
    expectOneLineError(cli(['help', 'bench']), 2, /unknown command 'bench'/);
  });
});
