/**
 * A skipped test says why: jest lists skipped tests by name, so every
 * conditional skip goes through testIf/describeIf (test/support/helpers.ts),
 * which add the reason to the name. A bare test.skip / describe.skip / it.skip
 * (or `cond ? test : test.skip`) anywhere else in test/ fails here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const TEST_DIR = path.join(__dirname, '..');
const HELPERS = path.join(TEST_DIR, 'support', 'helpers.ts');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.(ts|js)$/.test(e.name) ? [p] : [];
  });
}

test('no test is skipped without a reason in its name (testIf / describeIf)', () => {
  const bare: string[] = [];
  for (const file of sources(TEST_DIR)) {
    if (file === HELPERS || file === __filename) continue;
    fs.readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/\b(test|it|describe)\.skip\b|\bxit\(|\bxtest\(|\bxdescribe\(/.test(line))
          bare.push(`${path.relative(TEST_DIR, file)}:${i + 1}: ${line.trim()}`);
      });
  }
  expect(bare).toEqual([]);
});
