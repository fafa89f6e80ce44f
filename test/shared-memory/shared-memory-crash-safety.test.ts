/**
 * Shared memory that cannot crash the process: a view detached, moved out
 * with transfer() or made under a replaced global ArrayBuffer while native
 * code or the libuv threadpool still writes it. Each case runs in a child
 * process with a timeout: before its fix it crashed (SIGSEGV) (issue 9 and
 * its outside review).
 */
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { SharedMemory } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

const fixture = (name: string) => path.join(__dirname, '..', 'fixtures', name);
const [major] = process.versions.node.split('.').map(Number);
const transferFlags = major < 21 ? ['--harmony-rab-gsab-transfer'] : [];

/** Runs a fixture in a child process; a crash or hang shows as a signal or a timeout. */
function run(args: string[], timeout = 30000) {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function hasTransfer(): boolean {
  const probe = spawnSync(process.execPath, [...transferFlags, '-p', 'typeof ArrayBuffer.prototype.transfer'], {
    encoding: 'utf8',
  });
  if (probe.stdout.trim() === 'function') return true;
  console.warn(`ArrayBuffer.prototype.transfer is missing on Node ${process.versions.node}: not exercised`);
  return false;
}

describe('shared memory that cannot crash the process', () => {
  test('detach() while libuv threadpool jobs still write the view (randomFill, fs.read): no SIGSEGV, attach count falls at once', () => {
    const r = run([fixture('shm-detach-busy.js'), '64']);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({
      randomFill: { views: true, attachments: 0 },
      read: { views: true, attachments: 0 },
    });
  });

  test('a backing store moved out with transfer() outlives the worker that made it', () => {
    const flags = major < 21 ? ['--harmony-rab-gsab-transfer'] : [];
    const probe = spawnSync(process.execPath, [...flags, '-p', 'typeof ArrayBuffer.prototype.transfer'], {
      encoding: 'utf8',
    });
    if (probe.stdout.trim() !== 'function') {
      console.warn(`ArrayBuffer.prototype.transfer is missing on Node ${process.versions.node}: not exercised`);
      return;
    }
    const r = run([...flags, fixture('shm-transfer-teardown.js')]);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ length: 1 << 20, first: 9, sharedWrite: 42, sharedRead: 7, filled: true });
  });
});

describe('shared memory moved with transfer() while native code writes it', () => {
  test('transfer() of a view being filled by the threadpool, then detach(): no SIGSEGV', () => {
    if (!hasTransfer()) return;
    const r = run([...transferFlags, fixture('shm-transfer-busy.js'), '64']);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ shorter: true, moved: true, other: true });
  });
});

describe('shared memory views under a replaced global ArrayBuffer', () => {
  test('a view that cannot get its transfer guards is refused cleanly (detached at once), and the next one works', () => {
    const shm = track(SharedMemory.create({ size: 4096 }));
    const r = run([
      '-e',
      `
      const { SharedMemory } = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
      const shm = SharedMemory.fromId(Number(process.argv[1]));
      const real = globalThis.ArrayBuffer;
      globalThis.ArrayBuffer = 1;
      let first;
      try { void shm.arrayBuffer; first = 'accepted'; } catch (e) { first = 'refused'; }
      globalThis.ArrayBuffer = real;
      shm.buffer[0] = 7;
      console.log(JSON.stringify({ first, read: shm.read(0, 1)[0] }));`,
      String(shm.id),
    ]);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ first: 'refused', read: 7 });
  });
});
