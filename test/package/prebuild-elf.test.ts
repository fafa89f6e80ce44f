/**
 * Every shipped binary, read as ELF (readelf; nothing is loaded, so the arm64
 * one is read too) against what README's Platforms section promises (issue 21):
 * no glibc symbol version above the floor README states, no dependency on a
 * C++ runtime (libstdc++, libgcc_s: the prebuilds link libc++ in), and no
 * exported symbol but Node-API's module entry points (scripts/prebuild-exports.map
 * says why a leaked operator new or _Unwind_* breaks errors).
 *
 * The prebuilds are made by `npm run prebuild` (Zig, scripts/prebuild.sh).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

// eslint-disable-next-line @typescript-eslint/no-require-imports
const elf = require('../../scripts/prebuild-elf') as {
  elfRequirements(file: string): { glibc: string | null; needed: string[]; exports: string[]; otherVersions: string[] };
  elfProblems(file: string, floor: string): string[];
  compareVersions(a: string, b: string): number;
  MODULE_ENTRY_POINTS: string[];
};

/** The glibc floor README states for the prebuilds: "floor: **glibc X.Y**". */
function readmeFloor(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /floor: \*\*glibc (\d+\.\d+)\*\*/.exec(readme);
  if (!m) throw new Error('README.md states no prebuild floor ("floor: **glibc X.Y**" in Platforms)');
  return m[1];
}

function shippedBinaries(): string[] {
  const dir = path.join(ROOT, 'prebuilds');
  return fs
    .readdirSync(dir)
    .flatMap((target) => fs.readdirSync(path.join(dir, target)).map((f) => path.join('prebuilds', target, f)))
    .filter((f) => f.endsWith('.node'))
    .sort();
}

test('README states a floor no newer than what Node itself needs on Linux (glibc 2.28)', () => {
  expect(elf.compareVersions(readmeFloor(), '2.28')).toBeLessThanOrEqual(0);
});

test('there are binaries to read (linux-x64 and linux-arm64)', () => {
  expect(shippedBinaries().map((f) => f.split(path.sep)[1])).toEqual(['linux-arm64', 'linux-x64']);
});

describe.each(shippedBinaries())('%s', (file) => {
  const abs = path.join(ROOT, file);

  test('needs no glibc symbol version above the floor README states', () => {
    const { glibc } = elf.elfRequirements(abs);
    expect(glibc).not.toBeNull();
    expect({ file, glibc, aboveFloor: elf.compareVersions(glibc as string, readmeFloor()) > 0 }).toEqual({
      file,
      glibc,
      aboveFloor: false,
    });
  });

  test('depends on no C++ runtime (libstdc++, libgcc_s) and on no versioned symbol but glibc’s', () => {
    const { needed, otherVersions } = elf.elfRequirements(abs);
    expect(needed.filter((n) => /^(libstdc\+\+|libgcc_s|libc\+\+|libc\+\+abi|libunwind)\.so/.test(n))).toEqual([]);
    expect(otherVersions).toEqual([]);
    expect(needed).toContain('libc.so.6');
  });

  test('exports only the Node-API module entry points', () => {
    expect(elf.elfRequirements(abs).exports).toEqual([...elf.MODULE_ENTRY_POINTS].sort());
  });

  test('the check prebuild.sh runs on it agrees (no problems)', () => {
    expect(elf.elfProblems(abs, readmeFloor())).toEqual([]);
  });
});
