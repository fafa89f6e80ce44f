/**
 * Issue 19 item 11: nothing lost at teardown. Workers receiving from a
 * MessageQueue or a Channel (receiveSync() in a loop, or receive() awaited in
 * a loop) are terminated while messages arrive, at random moments around each
 * arrival (test/fixtures/terminate-stress.js). Every message must end either
 * in the worker's JavaScript (marked by the statement right after the
 * receive) or still queued: none taken by a receive that could not deliver
 * it, none delivered and given back too.
 *
 * An async receive hands its message to a Promise, and V8 may still stop the
 * worker as it resumes the awaiting function (README "What is not given
 * back"): there the test bounds the loss instead of forbidding it.
 */
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Channel, MessageQueue } from '../../lib';
import { track, useCleanup } from '../support/helpers';

useCleanup();

const fixture = path.join(__dirname, '..', 'fixtures', 'terminate-stress.js');
const ROUNDS = 40;

interface Outcome {
  sent: number;
  delivered: number;
  queued: number;
  lost: number;
  duplicated: number;
}

function stress(kind: 'mq' | 'channel', mode: 'sync' | 'async'): Outcome {
  const obj = kind === 'mq' ? track(MessageQueue.create()) : track(Channel.create({ capacity: 4096 }));
  const r = spawnSync(process.execPath, [fixture, kind, mode, String(obj.id), String(ROUNDS)], {
    encoding: 'utf8',
    timeout: 110000,
    killSignal: 'SIGKILL',
  });
  expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  const out = JSON.parse(r.stdout) as Outcome;
  expect(out.sent).toBe(3 * ROUNDS);
  expect(out.duplicated).toBe(0);
  expect(out.delivered + out.queued + out.lost).toBe(out.sent);
  return out;
}

describe.each(['mq', 'channel'] as const)('%s: a worker terminated while messages arrive', (kind) => {
  test('receiveSync() in a loop: nothing lost, nothing duplicated', () => {
    expect(stress(kind, 'sync').lost).toBe(0);
  }, 120000);

  test('await receive() in a loop: nothing duplicated, at most a few lost as the awaiting function resumes', () => {
    // Before the fix a Channel lost 52 of 180 here; now 0 to 3 of 180.
    expect(stress(kind, 'async').lost).toBeLessThanOrEqual(Math.ceil(0.05 * 3 * ROUNDS));
  }, 120000);
});
