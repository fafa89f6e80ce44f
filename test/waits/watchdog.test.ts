// A worker's sync wait without a timeout is sliced by one watchdog thread per
// process (native/watchdog.h), not by a timer per call: worker.terminate()
// still ends it, and the watchdog outlives the workers harmlessly.
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { MessageQueue } from '../../lib';
import { track, useCleanup } from '../support/helpers';

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
