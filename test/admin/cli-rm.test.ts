/**
 * `sysv-ipc rm` as a sysadmin cleaning up after a dead app uses it (issue 22
 * item 5): several kinds and ids in one command, several keys after one
 * --key, filters (owner, creator no longer alive), --all, --dry-run, and a
 * confirmation before a bulk removal (a real terminal, from script(1)).
 *
 * --all looks at every object in the IPC namespace, and other test files
 * (other processes) make objects of their own meanwhile: every --all run
 * that removes happens in a private IPC namespace (unshare -i), where only
 * the objects the scenario made exist, and which takes them with it.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { list, MessageQueue } from '../../lib';
import { CIpc } from '../support/admin-c';
import { packageRootFor, randomKey, runInPrivateIpcNamespace, track, useCleanup } from '../support/helpers';
import { CLI, cli, expectOneLineError, hex } from './cli-run';

useCleanup();
const c = new CIpc();
c.install();

const me = os.userInfo().username;
const exists = (kind: 'msg' | 'sem' | 'shm', id: number) => list(kind).some((e) => e.id === id);

/** The CLI run under script(1), so that its stdin is a terminal, answering `answer` to its question. */
function inTerminal(args: string[], answer: string): { status: number | null; output: string } {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { input: `${answer}\n`, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, output: r.stdout };
}

describe('several objects in one command', () => {
  test('ids of several kinds: each id belongs to the kind named before it', () => {
    const shmA = c.create('shm', 0, 4096);
    const shmB = c.create('shm', 0, 4096);
    const sem = c.create('sem', 0, 1);
    const queue = track(MessageQueue.create());
    const r = cli(['rm', 'shm', String(shmA), String(shmB), 'msg', String(queue.id), 'sem', String(sem), '--yes']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      [
        `removed shared memory segment ${shmA}`,
        `removed shared memory segment ${shmB}`,
        `removed message queue ${queue.id}`,
        `removed semaphore set ${sem}`,
        '',
      ].join('\n'),
    );
    expect([exists('shm', shmA), exists('shm', shmB), exists('msg', queue.id), exists('sem', sem)]).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  test('--key A B and a repeated --key: every object with those keys, of every kind unless kinds are named', () => {
    const [a, b, k] = [randomKey(), randomKey(), randomKey()];
    const qa = track(MessageQueue.create({ key: a }));
    const semA = c.create('sem', a, 1); // one ftok key for a queue and a set, as apps do
    const qb = track(MessageQueue.create({ key: b }));
    const shmK = c.create('shm', k, 4096);
    // A kind named first: only that kind's object with the key.
    const onlyMsg = cli(['rm', 'msg', '--key', hex(a)]);
    expect(onlyMsg.stdout).toBe(`removed message queue ${qa.id} (key ${hex(a)})\n`);
    expect(exists('sem', semA)).toBe(true);
    const r = cli(['rm', '--key', hex(a), String(b), '--key', hex(k), '--yes']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      [
        `removed semaphore set ${semA} (key ${hex(a)})`,
        `removed message queue ${qb.id} (key ${hex(b)})`,
        `removed shared memory segment ${shmK} (key ${hex(k)})`,
        '',
      ].join('\n'),
    );
    expect([exists('sem', semA), exists('msg', qb.id), exists('shm', shmK)]).toEqual([false, false, false]);
  });

  test('a key no object has: the others are removed, the miss is a line on stderr, exit 1', () => {
    const key = randomKey();
    const queue = track(MessageQueue.create({ key }));
    const missing = randomKey();
    const r = cli(['rm', '--key', hex(missing), hex(key)]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(`removed message queue ${queue.id} (key ${hex(key)})\n`);
    expect(r.stderr).toBe(
      `sysv-ipc: cannot remove anything with key ${hex(missing)}: ENOENT: no message queue, semaphore set, shared memory segment has this key\n`,
    );
  });
});

describe('dry run and confirmation', () => {
  test('--dry-run lists what would go, with owner and creator, and removes nothing', () => {
    const queue = track(MessageQueue.create());
    const shm = c.create('shm', 0, 4096);
    const r = cli(['rm', 'msg', String(queue.id), 'shm', String(shm), '--dry-run']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      `would remove message queue ${queue.id} (private, owner ${me})`,
      expect.stringMatching(
        new RegExp(
          `^would remove shared memory segment ${shm} \\(private, owner ${me}, creator \\d+ \\(dead\\), 0 attached\\)$`,
        ),
      ),
      '',
    ]);
    expect(exists('msg', queue.id) && exists('shm', shm)).toBe(true);
  });

  test('several objects without --yes and without a terminal: refused, nothing removed, exit 2', () => {
    const a = track(MessageQueue.create());
    const b = track(MessageQueue.create());
    const r = cli(['rm', 'msg', String(a.id), String(b.id)]);
    expectOneLineError(r, 2, /refusing to remove 2 objects without confirmation: stdin is not a terminal; add --yes/);
    expect(r.stdout).toBe('');
    expect(exists('msg', a.id) && exists('msg', b.id)).toBe(true);
    // One object needs no confirmation.
    expect(cli(['rm', 'msg', String(a.id)]).stdout).toBe(`removed message queue ${a.id}\n`);
  });

  test('at a terminal it lists them and asks: "n" keeps them (exit 1), "y" removes them', () => {
    const a = track(MessageQueue.create());
    const b = track(MessageQueue.create());
    const args = ['rm', 'msg', String(a.id), String(b.id)];
    const no = inTerminal(args, 'n');
    expect(no.output).toMatch(new RegExp(`^ {2}message queue ${a.id} \\(private, owner root\\)\\r?$`, 'm'));
    expect(no.output).toMatch(/Remove these 2 objects\? \[y\/N\] /);
    expect(no.output).toMatch(/nothing removed/);
    expect(no.status).toBe(1);
    expect(exists('msg', a.id) && exists('msg', b.id)).toBe(true);
    const yes = inTerminal(args, 'y');
    expect(yes.status).toBe(0);
    expect(yes.output).toMatch(new RegExp(`removed message queue ${a.id}\\r?\\nremoved message queue ${b.id}`));
    expect(exists('msg', a.id) || exists('msg', b.id)).toBe(false);
  });
});

describe('--all with filters, in a private IPC namespace', () => {
  // The scenario runs in one node process inside `unshare -i`: it makes objects
  // (as root, as uid 65534, with a creator that has exited and one that runs),
  // runs the CLI, and reports each run and what is left. Nothing outlives it.
  const SCENARIO = `
    const { spawnSync } = require('node:child_process');
    const [root, foreignRoot, cli] = process.argv.slice(1);
    const lib = require(root + '/dist');
    const run = (args) => {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', input: '' });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const node = (script, uid) => {
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: uid ? foreignRoot : root, uid, gid: uid });
      if (r.status !== 0) throw new Error(r.stderr);
      return Number(r.stdout);
    };
    const mine = lib.MessageQueue.create({ key: 0x11110001 });
    const theirs = node("console.log(require('" + foreignRoot + "/dist').MessageQueue.create({ key: 0x11110002, mode: 0o666 }).id)", 65534);
    const orphan = node("const s = require('" + root + "/dist').SharedMemory.create({ size: 4096 }); s.detach(); console.log(s.id)");
    const living = lib.SharedMemory.create({ size: 4096 }); // its creator is this process, alive
    living.detach(); // (attached, its removal would only mark it: it would stay listed)
    const set = lib.SemaphoreSet.create({ size: 2 });
    const ids = { mine: mine.id, theirs, orphan, living: living.id, set: set.id };
    // ls takes the same filters, so a user sees first what rm would take.
    const looks = [
      ['ls', '--json', '--owner', 'nobody'],
      ['ls', '--json', '--creator-dead'],
      ['ls', '--json', '--key', '0x11110001', '0x11110002'],
      ['ls', '-k', 'msg', '--creator-dead'],
    ].map((args) => {
      const r = run(args);
      return { status: r.status, stderr: r.stderr, ids: r.status === 0 ? JSON.parse(r.stdout).map((e) => e.kind + ':' + e.id) : [] };
    });
    const steps = [
      ['rm', '--all', '--owner', 'nobody', '--dry-run'],
      ['rm', 'msg', '--all', '--creator-dead'],
      ['rm', '--all', '--creator-dead', '--yes'],
      ['rm', '--all', '--owner', '65534'],
      ['rm', '--all'],
      ['rm', '--all', '--yes'],
      ['rm', '--all', '--yes'],
    ].map((args) => ({ args, ...run(args), left: lib.list().map((e) => e.kind + ':' + e.id) }));
    console.log(JSON.stringify({ ids, looks, steps }));
  `;

  test('--owner, --creator-dead and --all remove exactly what matches', () => {
    const r = runInPrivateIpcNamespace([
      process.execPath,
      '-e',
      SCENARIO,
      path.join(__dirname, '..', '..'),
      packageRootFor(65534),
      path.join(packageRootFor(65534), 'dist', 'cli', 'index.js'),
    ]);
    if (r === null) return; // no IPC namespace here (said on the console): nothing to check
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const { ids, looks, steps } = JSON.parse(r.stdout) as {
      ids: Record<'mine' | 'theirs' | 'orphan' | 'living' | 'set', number>;
      looks: Array<{ status: number; stderr: string; ids: string[] }>;
      steps: Array<{ args: string[]; status: number; stdout: string; stderr: string; left: string[] }>;
    };
    const all = [`msg:${ids.mine}`, `msg:${ids.theirs}`, `sem:${ids.set}`, `shm:${ids.orphan}`, `shm:${ids.living}`];
    const [dryRun, msgCreatorDead, creatorDead, byOwner, unconfirmed, everything, nothingLeft] = steps;

    // ls with rm's filters lists exactly what rm takes below.
    expect(looks.slice(0, 3)).toEqual([
      { status: 0, stderr: '', ids: [`msg:${ids.theirs}`] },
      { status: 0, stderr: '', ids: [`shm:${ids.orphan}`] },
      { status: 0, stderr: '', ids: [`msg:${ids.mine}`, `msg:${ids.theirs}`] },
    ]);
    expect(looks[3].status).toBe(2);
    expect(looks[3].stderr).toMatch(/--creator-dead applies to shm only/);

    expect(dryRun).toMatchObject({ status: 0, stderr: '', left: all });
    expect(dryRun.stdout).toBe(`would remove message queue ${ids.theirs} (key 0x11110002, owner nobody)\n`);

    // The kernel keeps no creator pid for queues and sets.
    expect(msgCreatorDead.status).toBe(2);
    expect(msgCreatorDead.stderr).toMatch(/--creator-dead applies to shm only/);

    expect(creatorDead).toMatchObject({
      status: 0,
      stderr: '',
      stdout: `removed shared memory segment ${ids.orphan}\n`,
    });
    expect(creatorDead.left).toEqual(all.filter((o) => o !== `shm:${ids.orphan}`));

    expect(byOwner).toMatchObject({
      status: 0,
      stderr: '',
      stdout: `removed message queue ${ids.theirs} (key 0x11110002)\n`,
    });

    // Three objects left, no terminal, no --yes: refused.
    expect(unconfirmed.status).toBe(2);
    expect(unconfirmed.stderr).toMatch(/refusing to remove 3 objects/);
    expect(unconfirmed.left).toEqual([`msg:${ids.mine}`, `sem:${ids.set}`, `shm:${ids.living}`]);

    expect(everything).toMatchObject({ status: 0, stderr: '', left: [] });
    expect(everything.stdout).toBe(
      [
        `removed message queue ${ids.mine} (key 0x11110001)`,
        `removed semaphore set ${ids.set}`,
        `removed shared memory segment ${ids.living}`,
        '',
      ].join('\n'),
    );
    expect(nothingLeft).toMatchObject({
      status: 0,
      stdout: '',
      stderr: 'sysv-ipc: nothing to remove: no object matches\n',
    });
  });
});

describe('usage errors (exit 2)', () => {
  test.each([
    [['rm'], /give <kind> <id>\.\.\., --key K\.\.\. or --all/],
    [['rm', '12', 'msg'], /id 12 comes before any kind/],
    [['rm', 'queue', '3'], /unknown kind 'queue'/],
    [['rm', 'msg', '3', '--owner', 'root'], /--owner and --creator-dead narrow --all or --key/],
    [['rm', '--all', '--owner', 'no-such-user-here'], /--owner 'no-such-user-here': no such user/],
    [['rm', 'sem', '--all', '--creator-dead'], /--creator-dead applies to shm only/],
    [['rm', '--key'], /argument missing/],
  ])('%j', (args, pattern) => {
    expectOneLineError(cli(args), 2, pattern);
  });
});
