/**
 * Finds and loads the native addon, and where none fits, says so in one
 * coded error that tells the user how to build it (`ERR_SYSV_IPC_NO_BINARY`).
 *
 * node-gyp-build does the finding: `build/Release` (a local build) first,
 * then `prebuilds/<platform>-<arch>/` matched by tags (`napi`, `glibc`/`musl`).
 * Three ways that can go wrong, all turned into the same error:
 * - nothing fits (another OS or architecture, musl on Alpine, prebuilds/
 *   removed) and nothing was built: node-gyp-build's bare "No native build
 *   was found";
 * - it picks the glibc prebuild on a musl system it does not recognise
 *   (node-gyp-build only detects Alpine, by /etc/alpine-release), which would
 *   fail to load with a loader message about missing symbols;
 * - the prebuild fits by name but the system cannot load it (dlopen fails:
 *   a glibc or libstdc++ older than the one it was built against).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NoBinaryError } from './errors';
import { ownMappings } from './proc';

/** The platform a binary is looked for, as node-gyp-build sees it (with its environment overrides). */
export interface AddonTarget {
  platform: string;
  arch: string;
  /** 'glibc' or 'musl' on Linux (node-gyp-build's LIBC override first); undefined elsewhere. */
  libc: string | undefined;
}

export { NoBinaryError };

const PACKAGE = 'sysv-ipc';

/**
 * The C library this process runs on, from the loader mapped into it
 * (/proc/self/maps): musl's is its libc itself, `ld-musl-<arch>.so.1`.
 * Undefined where that cannot be read.
 */
export function runtimeLibc(maps?: string): 'glibc' | 'musl' | undefined {
  const text = maps ?? ownMappings();
  if (text === undefined) return undefined;
  if (/\/ld-musl-[^/\s]*\.so/.test(text)) return 'musl';
  if (/\/libc\.so\.6\b/.test(text)) return 'glibc';
  return undefined;
}

export function addonTarget(env: NodeJS.ProcessEnv = process.env): AddonTarget {
  const platform = env.npm_config_platform || os.platform();
  const arch = env.npm_config_arch || os.arch();
  const libc = platform === 'linux' ? env.LIBC || runtimeLibc() || 'glibc' : undefined;
  return { platform, arch, libc };
}

/** The prebuilds under `root`/prebuilds, as '<platform>-<arch>/<file>'. */
function prebuildsIn(root: string): string[] {
  const dir = path.join(root, 'prebuilds');
  const list = (d: string): string[] => {
    try {
      return fs.readdirSync(d);
    } catch {
      return [];
    }
  };
  return list(dir)
    .flatMap((tuple) =>
      list(path.join(dir, tuple))
        .filter((f) => f.endsWith('.node'))
        .map((f) => `${tuple}/${f}`),
    )
    .sort();
}

function noBinaryError(root: string, target: AddonTarget, why: string, cause: unknown): NoBinaryError {
  const name = `${target.platform}-${target.arch}`;
  const prebuilds = prebuildsIn(root);
  const flavour = [target.libc, `Node ${process.versions.node}`].filter(Boolean).join(', ');
  const message = [
    `${PACKAGE} has no native addon for ${name} (${flavour}): ${why}.`,
    `Prebuilt in ${path.join(root, 'prebuilds')}: ${prebuilds.length > 0 ? prebuilds.join(', ') : 'none'}.`,
    `Build it from source in your project (needs python3, make and a C++17 compiler, e.g.`,
    `\`apt-get install python3 make g++\` or on Alpine \`apk add python3 make g++\`):`,
    `    npm install-scripts approve ${PACKAGE}`,
    `    npm rebuild ${PACKAGE}`,
    `(npm 11 wants a dependency's install script approved, and newer releases skip it until it is;`,
    `npm 10 has no install-scripts command and needs only the rebuild.`,
    `For a global install: npm install -g --allow-scripts=${PACKAGE} ${PACKAGE})`,
  ].join('\n');
  return new NoBinaryError(message, cause, name, target.libc, prebuilds);
}

/** Loads the addon of the package at `root` or throws ERR_SYSV_IPC_NO_BINARY. */
export function loadAddon(root: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  const target = addonTarget();
  let file: string;
  try {
    file = nodeGypBuild.path(root);
  } catch (err) {
    throw noBinaryError(root, target, 'no prebuild fits and there is no local build', err);
  }
  const prebuilt = path.relative(path.join(root, 'prebuilds'), file);
  const isPrebuild = !prebuilt.startsWith('..') && !path.isAbsolute(prebuilt);
  if (isPrebuild && target.libc === 'musl' && /\.glibc\.node$/.test(file)) {
    throw noBinaryError(root, target, `the prebuild ${prebuilt} is for glibc, and this Node runs on musl`, undefined);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file);
  } catch (err) {
    if (isPrebuild && (err as { code?: unknown }).code === 'ERR_DLOPEN_FAILED') {
      const reason = (err as Error).message.replace(`${file}: `, '');
      throw noBinaryError(root, target, `the prebuild ${prebuilt} does not load here (${reason})`, err);
    }
    throw err;
  }
}
