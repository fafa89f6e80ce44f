/**
 * The shipped typings in a consumer project, on the TypeScript a user has:
 * 5.x (this repository's `typescript`) and 7.x (the `typescript7` alias,
 * what `npm install typescript` gives since 7.0). The package is packed
 * (`npm pack`) and unpacked into a fresh project's node_modules beside
 * @types/node, the one thing README tells TypeScript users to add; its
 * tsconfig names no `types` and no `lib` beyond the target's, checks the
 * library's .d.ts files (no skipLibCheck) and holds a strict `nodenext` ES
 * module (typings/esm.mts, with `using`) and a CommonJS module (typings/cjs.cts).
 *
 * Type-checking only: package.test.ts runs compiled TypeScript against the
 * installed package.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const FIXTURES = path.join(__dirname, 'typings');
const COMPILERS = {
  '5.x': path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
  '7.x': path.join(ROOT, 'node_modules', 'typescript7', 'bin', 'tsc'),
};

jest.setTimeout(120_000);

let tmp: string;
let app: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-typings-'));
  // --ignore-scripts: `prepare` would rebuild everything; dist/ is current (global-setup checks it).
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], {
      cwd: ROOT,
      encoding: 'utf8',
    }),
  ) as Array<{ filename: string }>;
  app = path.join(tmp, 'app');
  const modules = path.join(app, 'node_modules');
  fs.mkdirSync(path.join(modules, '@types'), { recursive: true });
  execFileSync('tar', ['-xzf', path.join(tmp, packed.filename), '-C', modules]);
  fs.renameSync(path.join(modules, 'package'), path.join(modules, 'sysv-ipc'));
  // `npm install -D @types/node`, which brings undici-types (copies: through a symlink the
  // compiler would find this repository's node_modules).
  for (const name of ['@types/node', 'undici-types'])
    fs.cpSync(path.join(ROOT, 'node_modules', name), path.join(modules, name), { recursive: true });
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  for (const file of fs.readdirSync(FIXTURES)) fs.copyFileSync(path.join(FIXTURES, file), path.join(app, file));
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs tsc in the consumer project; returns its exit status and output. */
function typeCheck(tsc: string): { status: number; output: string } {
  try {
    const output = execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], {
      cwd: app,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    return { status: 0, output };
  } catch (err) {
    const e = err as { status: number; stdout?: string; stderr?: string };
    return { status: e.status, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe.each(Object.entries(COMPILERS))('TypeScript %s', (major, tsc) => {
  test('is the compiler it says', () => {
    const version = execFileSync(process.execPath, [tsc, '--version'], { encoding: 'utf8' });
    expect(version).toMatch(new RegExp(`^Version ${major.replace('.x', '')}\\.`));
  });

  // The fixtures' @ts-expect-error lines also prove the types are real, not `any`: an unused one is an error.
  test('a strict nodenext ESM consumer and a CommonJS one compile, with only @types/node installed', () => {
    const { status, output } = typeCheck(tsc);
    expect({ status, errors: output.split('\n').filter((l) => /error TS/.test(l)) }).toEqual({
      status: 0,
      errors: [],
    });
  });

  test('without @types/node, the error points at sysv-ipc and names the missing type definitions for node', () => {
    const types = path.join(app, 'node_modules', '@types', 'node');
    fs.renameSync(types, `${types}.hidden`);
    try {
      const { status, output } = typeCheck(tsc);
      expect(status).not.toBe(0);
      expect(output).toMatch(/node_modules\/sysv-ipc\/dist\/index\.d\.ts.*Cannot find type definition file for 'node'/);
    } finally {
      fs.renameSync(`${types}.hidden`, types);
    }
  });
});

test("the public typings never reach the addon's (binding.d.ts): what they name is declared for them", () => {
  // Every .d.ts that dist/index.d.ts imports, transitively (relative imports only).
  const dist = path.join(ROOT, 'dist');
  const reached = new Set<string>();
  // Paths relative to dist/, resolved from the importing file's directory (lib/semaphore/ is a subdirectory).
  const visit = (file: string) => {
    if (reached.has(file)) return;
    reached.add(file);
    const text = fs.readFileSync(path.join(dist, file), 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\()\s*'(\.\.?\/[\w./-]+?)(?:\.js)?'/g)) {
      const target = path.posix.join(path.posix.dirname(file), m[1]);
      visit(fs.existsSync(path.join(dist, `${target}.d.ts`)) ? `${target}.d.ts` : `${target}/index.d.ts`);
    }
  };
  visit('index.d.ts');
  expect([...reached].filter((f) => f === 'binding.d.ts' || f === 'addon.d.ts')).toEqual([]);
});
