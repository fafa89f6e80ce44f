/**
 * lib/waits.ts: pending waits keep the process alive as ref() and unref()
 * say, checked in child processes that load lib/ (test/fixtures/load-lib.js)
 * so that mutation testing reaches the keep-alive count. A file of its own:
 * its children are slow to start, and mutation runs pick test files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { MessageQueue } from '../../lib';
import { sleep, track, until, untilBlocked, useCleanup } from '../support/helpers';

useCleanup();

describe('pending waits keep the process alive as ref() and unref() say', () => {
  // In a child that loads lib/ (test/fixtures/load-lib.js), so that mutation
  // testing reaches the keep-alive count of lib/waits.ts: the fixtures that
  // load dist/ never see a mutant.
  class KeepAliveChild {
    readonly proc: ChildProcess;
    out = '';
    exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    readonly exited: Promise<void>;
    constructor(id: number, scenario: string) {
      this.proc = spawn(
        process.execPath,
        [path.join(__dirname, '..', 'fixtures', 'waits-keepalive.js'), String(id), scenario],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      this.proc.stdout!.on('data', (d: Buffer) => {
        this.out += d.toString();
      });
      this.exited = new Promise((resolve) =>
        this.proc.on('exit', (code, signal) => {
          this.exit = { code, signal };
          resolve();
        }),
      );
    }
    ready(): Promise<void> {
      return until(
        () => this.out.includes('ready\n') || this.exit !== undefined,
        30000,
        'the child to start its waits',
      );
    }
    /** Its `n` receives are parked, and it is still running a second later: the waits hold it. */
    async staysAlive(n: number): Promise<void> {
      await this.ready();
      expect(this.exit).toBeUndefined();
      await untilBlocked(this.proc.pid!, 'msgrcv', n);
      await sleep(1000);
      expect({ exit: this.exit, out: this.out }).toEqual({ exit: undefined, out: 'ready\n' });
    }
    async exitsByItself(out: string): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.exited,
        new Promise((r) => {
          timer = setTimeout(r, 20000);
        }),
      ]);
      clearTimeout(timer);
      expect({ exit: this.exit, out: this.out }).toEqual({ exit: { code: 0, signal: null }, out });
    }
  }

  let child: KeepAliveChild | undefined;
  afterEach(() => {
    if (child?.exit === undefined) child?.proc.kill('SIGKILL');
    child = undefined;
  });

  // The same calls in this process too: Stryker runs a test against a mutant
  // only if the test reached the mutated line in-process (perTest coverage).
  async function sameCallsHere(): Promise<void> {
    const q = track(MessageQueue.create());
    const pending = q.receive();
    q.unref();
    q.ref();
    q.sendSync('x');
    await pending;
  }

  test('a pending receive holds the process until its message arrives', async () => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, 'ref');
    await child.staysAlive(1);
    q.sendSync('m', { type: 1 });
    await child.exitsByItself('ready\ngot 1\n');
  });

  test.each(['unref-before', 'unref-after'])("%s: an unref'd pending receive does not hold it", async (scenario) => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, scenario);
    await child.exitsByItself('ready\n');
    expect(q.info().messages).toBe(0);
  });

  test('unref() then ref(): the pending receive holds it again', async () => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, 'unref-ref');
    await child.staysAlive(1);
    q.sendSync('m', { type: 1 });
    await child.exitsByItself('ready\ngot 1\n');
  });

  test('unref() then ref() with a receive pending: it holds the process, and so does the next one', async () => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, 'ref-again');
    await child.staysAlive(1);
    q.sendSync('m', { type: 1 });
    await until(() => child!.out.includes('got 1'), 20000, 'the first receive');
    await untilBlocked(child.proc.pid!, 'msgrcv', 1);
    await sleep(1000);
    expect(child.exit).toBeUndefined();
    q.sendSync('m', { type: 2 });
    await child.exitsByItself('ready\ngot 1\ngot 2\n');
  });

  test('two pending receives: held until the second settles, not the first', async () => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, 'two');
    await child.staysAlive(2);
    q.sendSync('m', { type: 1 });
    await until(() => child!.out.includes('got 1'), 20000, 'the first receive');
    await sleep(1000);
    expect(child.exit).toBeUndefined();
    q.sendSync('m', { type: 2 });
    await child.exitsByItself('ready\ngot 1\ngot 2\n');
  });

  test("an unref'd receive settling does not release the hold of a ref'd one", async () => {
    await sameCallsHere();
    const q = track(MessageQueue.create());
    child = new KeepAliveChild(q.id, 'mixed');
    await child.ready();
    await untilBlocked(child.proc.pid!, 'msgrcv', 2);
    q.sendSync('m', { type: 1 });
    await until(() => child!.out.includes('got 1'), 20000, "the unref'd receive");
    await sleep(1000);
    expect(child.exit).toBeUndefined();
    q.sendSync('m', { type: 2 });
    await child.exitsByItself('ready\ngot 1\ngot 2\n');
  });
});
