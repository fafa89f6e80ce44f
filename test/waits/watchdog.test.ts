// A worker's sync wait without a timeout is sliced by one watchdog thread per
// process (native/watchdog.h), not by a timer per call: worker.terminate()
// still ends it, and the watchdog outlives the workers harmlessly.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MessageQueue } from '../../lib';
import { packageRootFor, testIf, testIfProbes, track, useCleanup } from '../support/helpers';

useCleanup();

test('workers only: a parked receiveSync() gets its message, a stuck one is terminated, the process lives on', () => {
  const q = track(MessageQueue.create());
  const r = spawnSync(
    process.execPath,
    [
      path.join(__dirname, '..', 'fixtures', 'watchdog-unload.js'),
      path.join(__dirname, '..', '..', 'dist'),
      String(q.id),
    ],
    { encoding: 'utf8', timeout: 60000, killSignal: 'SIGKILL' },
  );
  expect({ status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout.trim() }).toEqual({
    status: 0,
    signal: null,
    stderr: '',
    stdout: JSON.stringify(['hi', 'terminated', 'alive']),
  });
});

// binding.watchdogPauses is a test probe: absent from the prebuilds, which the runtime matrix runs against.
testIfProbes('a worker that leaves its wait while the watchdog signals it again is not signalled after it left', () => {
  const q = track(MessageQueue.create());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-watchdog-'));
  try {
    const fifo = path.join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = spawnSync(
      process.execPath,
      [
        path.join(__dirname, '..', 'fixtures', 'watchdog-leave-race.js'),
        path.join(__dirname, '..', '..', 'dist'),
        String(q.id),
        fifo,
      ],
      { encoding: 'utf8', timeout: 30000, killSignal: 'SIGKILL' },
    );
    // Before: 'hi EINTR: interrupted system call, read' (the watchdog kept signalling the thread every round).
    expect({ status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout.trim() }).toEqual({
      status: 0,
      signal: null,
      stderr: '',
      stdout: 'hi x',
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// prlimit(1) (util-linux) lowers the running child's RLIMIT_NPROC.
const havePrlimit = spawnSync('prlimit', ['--version']).status === 0;

testIf(havePrlimit, 'no prlimit(1)')(
  'a worker whose sync wait cannot start the watchdog (no thread can be created) still ends at worker.terminate()',
  () => {
    // As uid 65534: root would pass RLIMIT_NPROC (CAP_SYS_ADMIN).
    const q = track(MessageQueue.create({ mode: 0o666 }));
    const root = packageRootFor(65534);
    const r = spawnSync(
      process.execPath,
      [path.join(root, 'test', 'fixtures', 'watchdog-no-thread.js'), root, String(q.id)],
      {
        encoding: 'utf8',
        timeout: 30000,
        killSignal: 'SIGKILL',
        uid: 65534,
        gid: 65534,
      },
    );
    // Before: stdout '' and signal 'SIGKILL' (the wait parked in msgrcv with nothing to slice it; terminate() never ended).
    expect({ status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout.trim() }).toEqual({
      status: 0,
      signal: null,
      stderr: '',
      stdout: 'terminated',
    });
  },
);
