/**
 * Outside review of issue 9's hardening: defects found by driving the public
 * API hard. Each case runs in a child process with a timeout: before its fix
 * it crashed (SIGSEGV) or hung.
 */
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { useCleanup } from '../support/helpers';

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

describe('shared memory moved with transfer() while native code writes it', () => {
  test('transfer() of a view being filled by the threadpool, then detach(): no SIGSEGV', () => {
    if (!hasTransfer()) return;
    const r = run([...transferFlags, fixture('shm-transfer-busy.js'), '64']);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ shorter: true, moved: true, other: true });
  });
});

describe('results that complete after worker.terminate() in a …Sync wait', () => {
  test('a message or semaphore unit that arrives after terminate() goes back (receiveSync, acquireSync)', () => {
    const r = run([fixture('wait-sync-terminate-undo.js'), '3'], 60000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ messages: 3, units: 3 });
  });
});

describe('a cancel that lands as the waiter thread arms its deadline', () => {
  test('20000 async receives with a 20 s timeout, each aborted as it parks: all settle at once (none sleeps to its deadline)', () => {
    const r = run([fixture('wait-cancel-arm-race.js'), '20000'], 120000);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(JSON.parse(r.stdout)).toEqual({ waits: true, slow: 0 });
  }, 130000);
});
