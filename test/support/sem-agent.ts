/**
 * Drives test/fixtures/sem-agent.js: a child process that runs semaphore
 * commands on request, several at a time, and answers each by sequence number.
 */
import { Child } from './helpers';

export interface AgentReply {
  ok?: boolean;
  value?: unknown;
  error?: string;
}

export class Agent {
  readonly child: Child;
  private seq = 0;
  private readonly replies = new Map<number, (reply: AgentReply) => void>();
  private readonly ready: Promise<void>;

  constructor(options: { uid?: number; gid?: number } = {}) {
    this.child = new Child('sem-agent', [], options);
    let markReady!: () => void;
    this.ready = new Promise((r) => {
      markReady = r;
    });
    this.child.proc.on('message', (m: { seq?: number; ready?: boolean } & AgentReply) => {
      if (m.ready) {
        markReady();
        return;
      }
      const resolve = this.replies.get(m.seq!);
      if (resolve) {
        this.replies.delete(m.seq!);
        resolve(m);
      }
    });
    // A killed agent answers every pending command with EXITED (never an unhandled rejection).
    this.child.proc.on('exit', () => {
      for (const resolve of this.replies.values()) resolve({ error: 'EXITED' });
      this.replies.clear();
    });
  }

  /** Sends a command; resolves with the child's reply (it never rejects: errors come back as `error`). */
  async run(cmd: string, args: Record<string, unknown> = {}): Promise<AgentReply> {
    await this.ready;
    const seq = ++this.seq;
    return new Promise((resolve) => {
      this.replies.set(seq, resolve);
      this.child.send({ seq, cmd, ...args });
    });
  }

  /** Like run, but fails on an error reply. */
  async ok(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
    const reply = await this.run(cmd, args);
    if (reply.error) throw new Error(`agent ${cmd} failed: ${reply.error}`);
    return reply.value;
  }

  kill(): void {
    this.child.kill();
  }
}
