#!/usr/bin/env python3
"""Re-check the surviving mutants of a StrykerJS report against some tests.

After new tests are written for the mutants a `npm run test:mutation` run left
alive, a second Stryker run of the whole file takes long. This applies each
Survived / NoCoverage mutant of the report to the source, one at a time, runs
the given jest tests (under jest.mutation.config.js, so that they load lib/,
where the mutant is), restores the source byte for byte (mtime included, so
the suite's stale-dist check is not tripped) and prints KILLED or survived.

  python3 scripts/mutation-recheck.py reports/mutation/mutation.json \\
      lib/channel.ts [LINES] -- test/channel/channel-contract.test.ts

LINES (e.g. 32-33,163,328) limits the re-check to mutants starting on those
lines. The report's copy of the source must match the file (same commit).
"""
import json
import os
import subprocess
import sys


def main() -> int:
    if '--' not in sys.argv or len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    sep = sys.argv.index('--')
    report, fname, *rest = sys.argv[1:sep]
    jest_args = sys.argv[sep + 1:]
    wanted = None
    if rest:
        wanted = set()
        for part in rest[0].split(','):
            a, _, b = part.partition('-')
            wanted.update(range(int(a), int(b or a) + 1))
    entry = json.load(open(report))['files'][fname]
    with open(fname, encoding='utf8') as f:
        original = f.read()
    if original != entry['source']:
        print(f'{fname} differs from the source the report mutated; check out that commit', file=sys.stderr)
        return 2
    stat = os.stat(fname)
    lines = original.split('\n')

    def offset(pos):
        return sum(len(x) + 1 for x in lines[: pos['line'] - 1]) + pos['column'] - 1

    killed = survived = 0
    mutants = sorted(entry['mutants'], key=lambda m: (m['location']['start']['line'], m['location']['start']['column']))
    for m in mutants:
        start, end = m['location']['start'], m['location']['end']
        if m['status'] not in ('Survived', 'NoCoverage') or (wanted and start['line'] not in wanted):
            continue
        with open(fname, 'w', encoding='utf8') as f:
            f.write(original[: offset(start)] + m['replacement'] + original[offset(end):])
        try:
            r = subprocess.run(
                ['npx', 'jest', '--config', 'jest.mutation.config.js', *jest_args],
                capture_output=True, text=True, timeout=600,
            )
            out = r.stdout + r.stderr
            if 'Tests:       0 total' in out or 'Test suite failed to run' in out:
                verdict = 'run error'
            elif r.returncode != 0:
                verdict, killed = 'KILLED', killed + 1
            else:
                verdict, survived = 'survived', survived + 1
        except subprocess.TimeoutExpired:
            verdict, killed = 'KILLED (timeout)', killed + 1
        finally:
            with open(fname, 'w', encoding='utf8') as f:
                f.write(original)
            os.utime(fname, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        print(f"{verdict:16} {m['id']:>4} L{start['line']} {m['mutatorName']}: {m['replacement'][:60]!r}", flush=True)
    print(f'{killed} killed, {survived} survived', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
