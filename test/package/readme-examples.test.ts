/**
 * README's examples run as written, on the Node that runs the suite (so on
 * Node 18, 20, 22 and 24 under scripts/ci-node-matrix.sh).
 *
 * Each JavaScript or TypeScript block of README's user sections is a whole
 * program from examples/, named on its first line (`// examples/<file>`),
 * and must be that file, character for character. Every example is then run
 * as a user runs it (`node examples/<file>`; .mts files compiled first with
 * examples/tsconfig.json), on keys of its own (EXAMPLE_KEY, random), and must
 * exit 0 by itself and leave no kernel object behind: none with its keys, and
 * no segment its process created (the private ones). Anything left is
 * removed here, and fails the test.
 */
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { remove, type IpcKind } from '../../lib';
import { randomKey } from '../support/helpers';

const ROOT = path.join(__dirname, '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');
const COMPILED = path.join(ROOT, 'build', 'examples');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

jest.setTimeout(120_000);

interface Block {
  lang: string;
  code: string;
  line: number;
  /** Whether the block comes before "Seeing and cleaning up" (the sections about the classes). */
  userSection: boolean;
}

const blocks: Block[] = [];
{
  const lines = README.split('\n');
  const cleanupSection = lines.findIndex((l) => l.startsWith('## Seeing and cleaning up'));
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    blocks.push({
      lang: open[1],
      code: lines.slice(i + 1, end).join('\n') + '\n',
      line: i + 1,
      userSection: cleanupSection < 0 || i < cleanupSection,
    });
    i = end;
  }
}
const exampleOf = (b: Block) => /^\/\/ (examples\/[\w.-]+?)(?::| |$)/.exec(b.code)?.[1];
const examples = fs.readdirSync(EXAMPLES).filter((f) => /\.m?[jt]s$/.test(f));

test('every JavaScript block in README is an example that runs (or an excerpt of the demo, which demo.test.ts runs)', () => {
  const js = blocks.filter((b) => b.lang === 'js');
  expect(js.length).toBeGreaterThan(0);
  const neither = js.filter((b) => !exampleOf(b) && !/^\/\/ demo\/\S+\.js\b/.test(b.code));
  expect(neither.map((b) => `README.md:${b.line}: ${b.code.split('\n')[0]}`)).toEqual([]);
});

test("every JavaScript and TypeScript block in the classes' sections is an example; none of them uses `using` but the TypeScript ones", () => {
  const code = blocks.filter((b) => b.userSection && (b.lang === 'js' || b.lang === 'ts'));
  expect(code.filter((b) => !exampleOf(b)).map((b) => `README.md:${b.line}: ${b.code.split('\n')[0]}`)).toEqual([]);
  // Node before 24 cannot parse `using` (explicit resource management): JavaScript shows try/finally.
  const usingInJs = blocks.filter((b) => b.lang === 'js' && /^\s*(await\s+)?using\s/m.test(b.code));
  expect(usingInJs.map((b) => `README.md:${b.line}`)).toEqual([]);
  expect(code.filter((b) => b.lang === 'ts').every((b) => exampleOf(b)!.endsWith('.mts'))).toBe(true);
});

test('each example block in README is its file in examples/, unchanged', () => {
  const named = blocks.filter(exampleOf);
  expect(named.length).toBeGreaterThan(0);
  for (const block of named) {
    const file = path.join(ROOT, exampleOf(block)!);
    expect({ block: `README.md:${block.line}`, exists: fs.existsSync(file) }).toEqual({
      block: `README.md:${block.line}`,
      exists: true,
    });
    expect({ file: exampleOf(block), code: block.code }).toEqual({
      file: exampleOf(block),
      code: fs.readFileSync(file, 'utf8'),
    });
  }
});

test('README names every example in examples/, and so does the table in examples/README.md', () => {
  expect(examples.filter((f) => !README.includes(`examples/${f}`))).toEqual([]);
  const table = fs.readFileSync(path.join(EXAMPLES, 'README.md'), 'utf8');
  expect(examples.filter((f) => !table.includes(`| [${f}](${f}) |`))).toEqual([]);
});

// ---- running them

interface Row {
  kind: IpcKind;
  id: number;
  key: number;
  cpid?: number;
}

/** Every object in /proc/sysvipc: id, key and (segments) creator pid. */
function kernelObjects(): Row[] {
  const rows: Row[] = [];
  for (const kind of ['msg', 'sem', 'shm'] as const) {
    const [header, ...lines] = fs.readFileSync(`/proc/sysvipc/${kind}`, 'utf8').trim().split('\n');
    const names = header.trim().split(/\s+/);
    for (const line of lines) {
      const values = line.trim().split(/\s+/).map(Number);
      const f = Object.fromEntries(names.map((n, i) => [n, values[i]]));
      rows.push({ kind, id: f.msqid ?? f.semid ?? f.shmid, key: f.key, cpid: f.cpid });
    }
  }
  return rows;
}

/** Runs a program to its end (killed after `ms`); resolves its exit code and output. */
function runToEnd(file: string, env: NodeJS.ProcessEnv, ms = 90_000) {
  return new Promise<{ pid: number; code: number | null; signal: string | null; output: string }>((resolve) => {
    // A process group of its own (detached): a timeout kills the example's own children too (it forks itself).
    const child = spawn(process.execPath, [file], { cwd: ROOT, env: { ...process.env, ...env }, detached: true });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), ms);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid!, code, signal, output });
    });
  });
}

beforeAll(() => {
  // The TypeScript examples, compiled as a user would (tsc -p examples), into build/examples/.
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', EXAMPLES], {
    cwd: ROOT,
    stdio: 'pipe',
  });
});

test('the TypeScript examples also compile on TypeScript 7', () => {
  const tsc7 = path.join(ROOT, 'node_modules', 'typescript7', 'bin', 'tsc');
  expect(() =>
    execFileSync(process.execPath, [tsc7, '-p', EXAMPLES, '--noEmit'], { cwd: ROOT, stdio: 'pipe' }),
  ).not.toThrow();
});

test.each(examples)('examples/%s runs to exit 0 by itself and leaves no kernel object', async (name) => {
  const file = name.endsWith('.mts') ? path.join(COMPILED, name.replace(/\.mts$/, '.mjs')) : path.join(EXAMPLES, name);
  const base = randomKey() & ~0xf; // an example uses at most 16 keys from EXAMPLE_KEY
  const result = await runToEnd(file, { EXAMPLE_KEY: String(base) });
  const left = kernelObjects().filter(
    (o) => (o.key >= base && o.key < base + 16) || (o.kind === 'shm' && o.cpid === result.pid),
  );
  for (const o of left) {
    try {
      remove(o.kind, o.id);
    } catch {
      /* gone meanwhile */
    }
  }
  expect({ name, code: result.code, signal: result.signal, output: result.output }).toEqual({
    name,
    code: 0,
    signal: null,
    output: expect.any(String),
  });
  expect(left).toEqual([]);
});
