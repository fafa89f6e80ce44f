/**
 * The package as users get it: `npm pack`, then install the tarball into a
 * fresh project with no compiler on PATH and npm's configuration as users
 * have it, and use it there from ESM, CommonJS and strict TypeScript, and
 * through `npx sysv-ipc`. This proves the committed prebuild is what loads.
 *
 * Needs prebuilds/<platform>-<arch>/*.node (`npm run prebuild`) and a
 * current dist/ (`npm test` compiles it first). The install reads
 * dependencies from npm's cache (--prefer-offline).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PREBUILDS_ONLY } from '../support/helpers';

const ROOT = path.join(__dirname, '..', '..');
const PREBUILD_DIR = path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`);
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const TYPE_ROOTS = path.join(ROOT, 'node_modules', '@types');

jest.setTimeout(180_000);

let tmp: string;
let app: string;
let env: NodeJS.ProcessEnv;

/** Runs a command and returns stdout; on failure, throws with everything it printed. */
function run(file: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync(file, args, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const e = err as { status: number | null; stdout?: string; stderr?: string };
    throw new Error(
      `${path.basename(file)} ${args.join(' ')} failed (exit ${e.status})\n--- stdout\n${e.stdout}\n--- stderr\n${e.stderr}`,
    );
  }
}

/**
 * An environment like a user's shell, minus every compiler: PATH holds only
 * node, npm, npx and sh, and the npm_* variables this test inherits from
 * `npm test` are dropped so the child npm reads the user's configuration.
 */
function userEnvWithoutCompiler(bin: string): NodeJS.ProcessEnv {
  fs.mkdirSync(bin);
  const npmCli = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  const npxCli = path.join(path.dirname(npmCli), 'npx-cli.js');
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(npmCli, path.join(bin, 'npm'));
  fs.symlinkSync(npxCli, path.join(bin, 'npx'));
  // npm runs package scripts with `sh -c`: a shell, but nothing to compile with.
  fs.symlinkSync(fs.realpathSync('/bin/sh'), path.join(bin, 'sh'));
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // PREBUILDS_ONLY (set by scripts/ci-node-matrix.sh) is not a user's either: the build-from-source test needs build/.
    if (!/^npm_/i.test(name) && !['INIT_CWD', 'NODE_OPTIONS', 'PREBUILDS_ONLY'].includes(name)) clean[name] = value;
  }
  clean.PATH = bin;
  return clean;
}

beforeAll(() => {
  const prebuilds = fs.existsSync(PREBUILD_DIR) ? fs.readdirSync(PREBUILD_DIR).filter((f) => f.endsWith('.node')) : [];
  if (prebuilds.length === 0) {
    throw new Error(
      `No prebuilt addon in ${path.relative(ROOT, PREBUILD_DIR)}/: run \`npm run prebuild\` first ` +
        '(the tarball must ship it, or users without a compiler cannot install the package)',
    );
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sysv-ipc-pack-'));
  env = userEnvWithoutCompiler(path.join(tmp, 'bin'));
  for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make', 'python3']) {
    expect(() => execFileSync('sh', ['-c', `command -v ${tool}`], { env, stdio: 'pipe' })).toThrow();
  }
  app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'app', version: '1.0.0', private: true }, null, 2),
  );
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let tarball: string;

/** Every prebuilt binary the package ships: prebuilds/<platform>-<arch>/<file>.node. */
function shippedPrebuilds(): string[] {
  const dir = path.join(ROOT, 'prebuilds');
  return fs
    .readdirSync(dir)
    .flatMap((tuple) =>
      fs
        .readdirSync(path.join(dir, tuple))
        .filter((f) => f.endsWith('.node'))
        .map((f) => `prebuilds/${tuple}/${f}`),
    )
    .sort();
}

test('the package ships a prebuild for linux-x64 and linux-arm64 (glibc)', () => {
  expect(shippedPrebuilds()).toEqual([
    'prebuilds/linux-arm64/sysv-ipc.glibc.node',
    'prebuilds/linux-x64/sysv-ipc.glibc.node',
  ]);
});

test('every committed prebuild was built from the native sources in this checkout, for its architecture', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { sourceHash } = require('../../scripts/source-hash') as { sourceHash(): string };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { prebuildInfo } = require('../../scripts/prebuild-info') as {
    prebuildInfo(file: string): { arch: string | null; sourceHashes: string[] };
  };
  const stale: string[] = [];
  for (const file of shippedPrebuilds()) {
    const arch = file.split('/')[1].replace(/^linux-/, '');
    // A binary for another architecture cannot be loaded here: read its ELF
    // header and the SOURCE_HASH string compiled into it instead.
    const info = prebuildInfo(path.join(ROOT, file));
    expect({ file, arch: info.arch }).toEqual({ file, arch });
    if (!info.sourceHashes.includes(sourceHash())) {
      stale.push(`${file} (built from native sources ${info.sourceHashes.join(' or ') || '(unknown)'})`);
    }
  }
  // This machine's binary is also loaded, and asked.
  const prebuildHash = execFileSync(
    process.execPath,
    ['-e', `process.stdout.write(require('node-gyp-build')(${JSON.stringify(ROOT)}).constants.SOURCE_HASH || '')`],
    { cwd: ROOT, env: { ...process.env, PREBUILDS_ONLY: '1' }, encoding: 'utf8' },
  );
  if (prebuildHash !== sourceHash())
    stale.push(`the loaded ${process.platform}-${process.arch} prebuild (built from ${prebuildHash || '(unknown)'})`);
  if (stale.length > 0) {
    throw new Error(
      `prebuilds/ is stale: the checkout's native sources are ${sourceHash()}, but ${stale.join(', ')}. ` +
        'Run `npm run prebuild` and commit prebuilds/.',
    );
  }
});

test('the shipped prebuilds carry no test probes; the dev build has them (binding.gyp, sysv_ipc_test_probes)', () => {
  const PROBES = [
    'waiterThreads',
    'undeliveredResults',
    'futexParker',
    'parkerPauseBeforeSleep',
    'shmRefuseExternalBuffers',
    'shmLiveAttachments',
    'chLiveHandles',
  ];
  for (const file of shippedPrebuilds()) {
    const binary = fs.readFileSync(path.join(ROOT, file));
    expect({ file, probes: PROBES.filter((name) => binary.includes(name)) }).toEqual({ file, probes: [] });
  }
  // This machine's prebuild, loaded: no probe among its functions. And the
  // local build the rest of the suite loads has every one (else its probe
  // tests would fail, never pass).
  const exported = (prebuildsOnly: boolean): string[] =>
    JSON.parse(
      execFileSync(
        process.execPath,
        [
          '-e',
          `const b = require('node-gyp-build')(${JSON.stringify(ROOT)});` +
            `process.stdout.write(JSON.stringify(${JSON.stringify(PROBES)}.filter((n) => typeof b[n] === 'function')))`,
        ],
        { cwd: ROOT, env: { ...process.env, PREBUILDS_ONLY: prebuildsOnly ? '1' : '' }, encoding: 'utf8' },
      ),
    ) as string[];
  expect(exported(true)).toEqual([]);
  if (!PREBUILDS_ONLY) expect(exported(false)).toEqual(PROBES);
});

test('npm pack ships every prebuild, the compiled JavaScript, types and the CLI, and no build output or tests', () => {
  // --ignore-scripts: `prepare` would rebuild everything; dist/ is current under `npm test`.
  const [packed] = JSON.parse(
    run(path.join(tmp, 'bin', 'npm'), ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT),
  ) as Array<{ filename: string; files: Array<{ path: string; mode: number }> }>;
  tarball = path.join(tmp, packed.filename);
  const files = packed.files.map((f) => f.path);
  expect(files).toEqual(
    expect.arrayContaining([
      'package.json',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/index.js',
      ...shippedPrebuilds(),
    ]),
  );
  expect(files.filter((f) => f.startsWith('prebuilds/')).sort()).toEqual(shippedPrebuilds());
  expect(files.filter((f) => /^(build|test|node_modules)\//.test(f))).toEqual([]);
  // Every relative link of README.md names a file in the package (npm shows the README without the repository).
  const links = [...fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
    .map((m) => m[1]!)
    .filter((l) => !/^[a-z]+:/.test(l));
  expect(links.length).toBeGreaterThan(5);
  expect(links.filter((l) => !files.includes(l))).toEqual([]);
  expect(fs.readFileSync(path.join(ROOT, 'dist', 'cli', 'index.js'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(
    true,
  );
});

test('installs with no compiler, loading the prebuild (also when its install script runs)', () => {
  run(path.join(tmp, 'bin', 'npm'), ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app);
  const pkg = path.join(app, 'node_modules', 'sysv-ipc');
  expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false);
  const loaded = run(
    path.join(tmp, 'bin', 'node'),
    ['-p', `require('node-gyp-build').path(${JSON.stringify(pkg)})`],
    app,
  ).trim();
  expect(loaded.startsWith(path.join(pkg, 'prebuilds') + path.sep)).toBe(true);
  // The package's own install script is `node-gyp-build`: where npm runs it, it must find the
  // prebuild and exit 0 without trying to compile (there is nothing to compile with here).
  run(path.join(tmp, 'bin', 'npm'), ['run', 'install'], pkg);
  expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false);
});

test('the shipped typings hold the public API only (stripInternal drops @internal members)', () => {
  const dist = path.join(app, 'node_modules', 'sysv-ipc', 'dist');
  const typings = (fs.readdirSync(dist, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.d.ts'))
    .map((f) => fs.readFileSync(path.join(dist, f), 'utf8'))
    .join('\n');
  // Public names are there...
  for (const name of [
    'operate(',
    'tryOperate(',
    'operateSync(',
    'at(index',
    'tryAcquire(',
    'waitSync(',
    'class SysvIpcError',
  ]) {
    expect(typings).toContain(name);
  }
  // ...internal ones are not: @internal members and functions still in lib/
  // (nativeHandle, provideMemberView, the handle state field), and the
  // semop runners SemaphoreSet once carried as public methods.
  for (const name of ['nativeHandle', 'provideMemberView', 'protected readonly state', 'tryRunOne']) {
    expect(typings).not.toContain(name);
  }
  const semaphoreSet = fs.readFileSync(path.join(dist, 'semaphore', 'semaphore.d.ts'), 'utf8');
  for (const name of ['run(', 'tryRun(', 'runSync(', 'checkIndex(', 'static of('])
    expect(semaphoreSet).not.toContain(name);
});

// Each program makes a private queue, round-trips a message, and removes the queue in `finally`.
const ESM = `
import { MessageQueue, list, SysvIpcError } from 'sysv-ipc';
import * as namespace from 'sysv-ipc';
import { createRequire } from 'node:module';

const cjs = createRequire(import.meta.url)('sysv-ipc');
const cjsNames = Object.keys(cjs).sort();
// Node's own interop names beside ours: 'default' (the CommonJS exports) everywhere,
// and 'module.exports' (the same object) from Node 23 on.
const interop = ['default', 'module.exports'];
const esmNames = Object.keys(namespace).filter((n) => !interop.includes(n) && n !== '__esModule').sort();
const interopIsExports = interop.every((n) => !(n in namespace) || namespace[n] === cjs);
const queue = MessageQueue.create();
try {
  await queue.send('from esm', { type: 4 });
  const { type, data } = await queue.receive();
  console.log(JSON.stringify({
    type, data: data.toString(), listed: list('msg').some((e) => e.id === queue.id),
    errorClass: typeof SysvIpcError, sameNames: JSON.stringify(cjsNames) === JSON.stringify(esmNames),
    defaultIsExports: namespace.default === cjs, interopIsExports,
    missing: cjsNames.filter((n) => !esmNames.includes(n)), extra: esmNames.filter((n) => !cjsNames.includes(n)),
  }));
} finally {
  queue.remove();
}
`;

const CJS = `
const { MessageQueue, ftok } = require('sysv-ipc');
(async () => {
  const queue = MessageQueue.create();
  try {
    await queue.send('from cjs', { type: 5 });
    const { type, data } = queue.receiveSync();
    console.log(JSON.stringify({ type, data: data.toString(), key: typeof ftok('.', 1) }));
  } finally {
    queue.remove();
  }
})().catch((err) => { console.error(err); process.exitCode = 1; });
`;

const TS = `
import { MessageQueue, list, limits, ftok, SysvIpcError, type Message, type MessageQueueInfo, type IpcObject } from 'sysv-ipc';

async function main(): Promise<void> {
  const queue = MessageQueue.create({ mode: 0o600 });
  try {
    await queue.send('from ts', { type: 6 });
    const message: Message = await queue.receive({ type: 6 });
    const info: MessageQueueInfo = queue.info();
    const entries: IpcObject[] = list();
    const mine = entries.find((e) => e.kind === 'msg' && e.id === queue.id);
    // The types are real, not any: a wrong call does not compile (the directive fails if it would).
    const neverCalled = (): boolean =>
      // @ts-expect-error data must be a string or an ArrayBufferView
      queue.trySend(42);
    void neverCalled;
    const key: number = ftok('.', 2);
    const err: typeof SysvIpcError = SysvIpcError;
    console.log(JSON.stringify({
      type: message.type, data: message.data.toString(), messages: info.messages,
      listed: mine !== undefined, msgmax: limits().msgmax > 0, key: typeof key, err: typeof err,
    }));
  } finally {
    queue.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
`;

test('works from ESM with the same names as CommonJS', () => {
  fs.writeFileSync(path.join(app, 'esm.mjs'), ESM);
  const out = JSON.parse(run(path.join(tmp, 'bin', 'node'), ['esm.mjs'], app));
  expect(out).toEqual({
    type: 4,
    data: 'from esm',
    listed: true,
    errorClass: 'function',
    sameNames: true,
    missing: [],
    extra: [],
    defaultIsExports: true,
    interopIsExports: true,
  });
});

test('works from CommonJS', () => {
  fs.writeFileSync(path.join(app, 'cjs.cjs'), CJS);
  expect(JSON.parse(run(path.join(tmp, 'bin', 'node'), ['cjs.cjs'], app))).toEqual({
    type: 5,
    data: 'from cjs',
    key: 'number',
  });
});

test('type-checks in strict mode (without skipLibCheck) and runs from TypeScript', () => {
  fs.writeFileSync(path.join(app, 'main.ts'), TS);
  fs.writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        lib: ['ES2022', 'ESNext.Disposable'],
        // The user's @types/node (this repository's copy: the app installs nothing but the tarball).
        typeRoots: [TYPE_ROOTS],
        types: ['node'],
        skipLibCheck: false,
        outDir: 'out',
      },
      files: ['main.ts'],
    }),
  );
  run(path.join(tmp, 'bin', 'node'), [TSC, '-p', 'tsconfig.json'], app);
  const out = JSON.parse(run(path.join(tmp, 'bin', 'node'), [path.join('out', 'main.js')], app));
  expect(out).toEqual({
    type: 6,
    data: 'from ts',
    messages: 0,
    listed: true,
    msgmax: true,
    key: 'number',
    err: 'function',
  });
});

test('npx sysv-ipc ls runs', () => {
  const out = run(path.join(tmp, 'bin', 'npx'), ['--no-install', 'sysv-ipc', 'ls'], app);
  expect(out).toMatch(/^Message queues\n/);
  expect(out).toMatch(/\n\nShared memory segments\n/);
  const version = run(path.join(tmp, 'bin', 'npx'), ['--no-install', 'sysv-ipc', '--version'], app).trim();
  expect(version).toBe(
    (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
  );
});

// ---- where no binary fits: one coded error, and the way out it names

/** Loads the installed package in a child; prints what it threw (or 'loaded'). */
const LOAD = `
const first = process.argv[2];
if (first === 'node-gyp-build-first') { require('node-gyp-build'); process.env.LIBC = 'musl'; }
try {
  const { MessageQueue } = require('sysv-ipc');
  const queue = MessageQueue.create();
  try {
    queue.trySend('x');
    console.log(JSON.stringify({ loaded: queue.tryReceive().data.toString() }));
  } finally {
    queue.remove();
  }
} catch (err) {
  console.log(JSON.stringify({
    code: err.code, platform: err.platform, libc: err.libc, prebuilds: err.prebuilds,
    message: err.message, cause: err.cause && (err.cause.code || err.cause.message.split('\\n')[0]),
  }));
}
`;

interface LoadResult {
  loaded?: string;
  code?: string;
  platform?: string;
  libc?: string;
  prebuilds?: string[];
  message?: string;
  cause?: string;
}

function load(dir: string, args: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): LoadResult {
  fs.writeFileSync(path.join(dir, 'load.cjs'), LOAD);
  return JSON.parse(run(path.join(tmp, 'bin', 'node'), ['load.cjs', ...args], dir, extraEnv)) as LoadResult;
}

/** The commands the error tells the user to run, as it prints them (indented lines starting with npm). */
const commandsIn = (message: string): string[] => [...message.matchAll(/^ {4}(npm .+)$/gm)].map((m) => m[1]);

const BOTH = ['linux-arm64/sysv-ipc.glibc.node', 'linux-x64/sysv-ipc.glibc.node'];

describe('ERR_SYSV_IPC_NO_BINARY', () => {
  let pkg: string;
  beforeAll(() => {
    pkg = path.join(app, 'node_modules', 'sysv-ipc');
    expect(load(app)).toEqual({ loaded: 'x' });
  });

  test('prebuilds hidden and no local build: names the platform, no prebuilds, and the commands that build it', () => {
    fs.renameSync(path.join(pkg, 'prebuilds'), path.join(pkg, 'prebuilds.hidden'));
    try {
      const out = load(app);
      expect(out).toMatchObject({
        code: 'ERR_SYSV_IPC_NO_BINARY',
        platform: `linux-${process.arch}`,
        libc: 'glibc',
        prebuilds: [],
      });
      expect(out.message).toMatch(
        new RegExp(
          `^sysv-ipc has no native addon for linux-${process.arch} \\(glibc, Node ${process.versions.node}\\): no prebuild fits`,
        ),
      );
      expect(out.message).toContain(`Prebuilt in ${path.join(pkg, 'prebuilds')}: none.`);
      expect(out.message).toMatch(/python3, make and a C\+\+17 compiler/);
      expect(commandsIn(out.message!)).toEqual(['npm install-scripts approve sysv-ipc', 'npm rebuild sysv-ipc']);
      expect(out.cause).toMatch(/^No native build was found for platform=linux/);
    } finally {
      fs.renameSync(path.join(pkg, 'prebuilds.hidden'), path.join(pkg, 'prebuilds'));
    }
  });

  test('musl (LIBC=musl, as node-gyp-build takes it; or seen in this process when node-gyp-build took glibc): no glibc binary is tried', () => {
    const asNodeGypBuildSees = load(app, [], { LIBC: 'musl' });
    expect(asNodeGypBuildSees).toMatchObject({
      code: 'ERR_SYSV_IPC_NO_BINARY',
      platform: `linux-${process.arch}`,
      libc: 'musl',
      prebuilds: BOTH,
    });
    expect(asNodeGypBuildSees.message).toContain(`Prebuilt in ${path.join(pkg, 'prebuilds')}: ${BOTH.join(', ')}.`);
    const missedByNodeGypBuild = load(app, ['node-gyp-build-first']);
    expect(missedByNodeGypBuild).toMatchObject({ code: 'ERR_SYSV_IPC_NO_BINARY', libc: 'musl', prebuilds: BOTH });
    expect(missedByNodeGypBuild.message).toContain(
      `the prebuild linux-${process.arch}/sysv-ipc.glibc.node is for glibc, and this Node runs on musl`,
    );
  });

  test('another architecture (npm_config_arch, as node-gyp-build takes it)', () => {
    const out = load(app, [], { npm_config_arch: 'ppc64' });
    expect(out).toMatchObject({ code: 'ERR_SYSV_IPC_NO_BINARY', platform: 'linux-ppc64', prebuilds: BOTH });
  });

  test('a prebuild that fits by name but does not load here (dlopen fails) is the same error, with the cause', () => {
    const mine = path.join(pkg, 'prebuilds', `linux-${process.arch}`, 'sysv-ipc.glibc.node');
    const other = path.join(
      pkg,
      'prebuilds',
      process.arch === 'x64' ? 'linux-arm64' : 'linux-x64',
      'sysv-ipc.glibc.node',
    );
    fs.renameSync(mine, `${mine}.real`);
    try {
      fs.copyFileSync(other, mine);
      const out = load(app);
      expect(out).toMatchObject({
        code: 'ERR_SYSV_IPC_NO_BINARY',
        platform: `linux-${process.arch}`,
        cause: 'ERR_DLOPEN_FAILED',
      });
      expect(out.message).toContain(`the prebuild linux-${process.arch}/sysv-ipc.glibc.node does not load here (`);
    } finally {
      fs.renameSync(`${mine}.real`, mine);
    }
    expect(load(app)).toEqual({ loaded: 'x' });
  });

  test('the commands it names build the addon from source in an installed copy, which then works', () => {
    const project = path.join(tmp, 'from-source');
    fs.mkdirSync(project);
    fs.writeFileSync(
      path.join(project, 'package.json'),
      JSON.stringify({ name: 'from-source', version: '1.0.0', private: true }),
    );
    run(path.join(tmp, 'bin', 'npm'), ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project);
    const installed = path.join(project, 'node_modules', 'sysv-ipc');
    fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
    const failed = load(project);
    expect(failed.code).toBe('ERR_SYSV_IPC_NO_BINARY');
    const commands = commandsIn(failed.message!);
    expect(commands.length).toBeGreaterThan(0);
    // The user's shell now has the build tools the message asks for (this node first).
    const withCompiler = { PATH: `${path.join(tmp, 'bin')}:${process.env.PATH}` };
    for (const command of commands) run('/bin/sh', ['-c', command], project, withCompiler);
    expect(JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8')).allowScripts).toBeDefined();
    expect(fs.existsSync(path.join(installed, 'build', 'Release', 'sysv_ipc.node'))).toBe(true);
    expect(load(project)).toEqual({ loaded: 'x' });
  }, 600_000);
});
