/**
 * The benchmark harness (bench/): case discovery and order (registry.js), the
 * chart (chart.js), and a real `npm run bench -- --quick` of the Python peer
 * rows, interrupted too, with every object it created gone afterwards. No
 * timing is asserted: only that rows ran and what they leave behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { list } from '../../lib';
import { testIf } from '../support/helpers';

const ROOT = path.join(__dirname, '..', '..');
const RUN = path.join(ROOT, 'bench', 'run.js');

interface Row {
  id: string;
  group: string;
  size: number | null;
  impl: string;
  file?: string;
}
// bench/ is plain CommonJS without typings: required, and typed here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const registry = require('../../bench/registry') as {
  loadCases(dir: string): Array<{ file: string; rows: () => Row[]; groups: Record<string, number> }>;
  orderedRows(cases: ReturnType<typeof registry.loadCases>, warn?: (line: string) => void): Row[];
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { renderChart } = require('../../bench/chart') as { renderChart(doc: unknown): string };

describe('bench/registry.js: a case file registers itself', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cases-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const caseFile = (
    name: string,
    groups: Record<string, number> | null,
    rows: Array<[string, number | null, string]>,
  ) =>
    fs.writeFileSync(
      path.join(dir, name),
      `module.exports = { rows: () => ${JSON.stringify(rows.map(([group, size, impl]) => ({ id: `${name}:${impl}`, group, size, impl })))}` +
        `${groups ? `, groups: ${JSON.stringify(groups)}` : ''} };\n`,
    );

  test('groups by rank, then size; the owner of a group first, then other files by name; undeclared groups last', () => {
    // "aaa.js" sorts first but owns nothing: its rows follow the owner's.
    caseFile('aaa.js', null, [
      ['round trip', 64, 'alt'],
      ['mystery', null, 'x'],
    ]);
    caseFile('zzz.js', { 'round trip': 10, memory: 90 }, [
      ['memory', 64, 'rss'],
      ['round trip', 4096, 'C big'],
      ['round trip', 64, 'C'],
      ['round trip', 64, 'sync'],
    ]);
    caseFile('channel.js', { 'channel round trip': 15 }, [
      ['channel round trip', 64, 'C channel'],
      ['channel round trip', 64, 'sendSync'],
    ]);
    const warnings: string[] = [];
    const rows = registry.orderedRows(registry.loadCases(dir), (w) => warnings.push(w));
    expect(rows.map((r) => `${r.group}|${r.size}|${r.impl}`)).toEqual([
      'round trip|64|C',
      'round trip|64|sync',
      'round trip|64|alt',
      'round trip|4096|C big',
      'channel round trip|64|C channel',
      'channel round trip|64|sendSync',
      'memory|64|rss',
      'mystery|null|x',
    ]);
    expect(rows.map((r) => r.file)).toEqual([
      'zzz.js',
      'zzz.js',
      'aaa.js',
      'zzz.js',
      'channel.js',
      'channel.js',
      'zzz.js',
      'aaa.js',
    ]);
    expect(warnings).toEqual([expect.stringMatching(/cases\/aaa\.js: the group "mystery" has no rank/)]);
  });

  test('a file without rows() is an error that names it', () => {
    fs.writeFileSync(path.join(dir, 'broken.js'), 'module.exports = { groups: {} };\n');
    expect(() => registry.loadCases(dir)).toThrow(/bench\/cases\/broken\.js does not export rows\(\)/);
  });

  test('the repository’s case files all load and rank their groups', () => {
    const warnings: string[] = [];
    const rows = registry.orderedRows(registry.loadCases(path.join(ROOT, 'bench', 'cases')), (w) => warnings.push(w));
    expect(warnings).toEqual([]);
    expect(rows.filter((r) => r.id.endsWith('-python')).map((r) => r.group)).toEqual(
      expect.arrayContaining([
        'message round trip',
        'one-way throughput',
        'semaphore ping-pong',
        'uncontended acquire+release',
      ]),
    );
  });
});

describe('bench/chart.js', () => {
  const target = (
    vs: string | null,
    op: string,
    factor: number,
    text: string,
    ratio: number | null,
    met: boolean | null,
  ) => ({ vs, op, factor, text, ratio, met });
  const row = (
    id: string,
    impl: string,
    median: number,
    vsC: number | null,
    targets: unknown[] = [],
    extra: object = {},
  ) => ({
    id,
    case: 'round trip',
    size: 64,
    implementation: impl,
    metric: 'latency',
    status: 'ok',
    median,
    p99: null,
    vsC,
    reference: 'c',
    targets,
    ...extra,
  });
  const doc = {
    date: '2026-12-01T12:00:00.000Z',
    options: { quick: false, reps: 5, filter: null },
    machine: {
      cpu: 'Test CPU',
      cores: 2,
      os: 'Linux',
      node: 'v20',
      commit: 'abc1234',
      placement: { mode: 'split', cpus: [0, 1] },
      python: null,
    },
    rows: [
      row('c', 'C msgsnd/msgrcv', 1000, 1),
      row('slow', 'sync <slow> & co', 2000, 2, [target('c', '<=', 1.25, '≤ 1.25 × C', 2, false)]),
      // Its second target is against the C row of another case (as wait/notify's is against the C message round trip).
      row('fast', 'async', 500, 0.5, [
        target('c', '<=', 1.25, '≤ 1.25 × C', 0.5, true),
        target('otherC', '<=', 0.8, '≤ 0.8 × other C', 0.167, true),
      ]),
      row('other', 'other', 4000, 4),
      row('otherC', 'C elsewhere', 3000, 1, [], { case: 'elsewhere', reference: 'otherC' }),
      row('skipped', 'Python: send()/receive()', 0, null, [], { status: 'skipped (no Python sysv_ipc)', median: null }),
      row('rss', 'RSS growth', 1e6, null, [target(null, '<', 1e7, '< 10 MB', null, true)], {
        case: 'memory',
        metric: 'memory',
        reference: null,
      }),
    ],
  };

  const bars = (svg: string) =>
    [...svg.matchAll(/<rect class="bar (\w+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => ({
      status: m[1],
      x: Number(m[2]),
      w: Number(m[3]),
    }));
  const marks = (svg: string) => [...svg.matchAll(/<g class="target"><line x1="([\d.]+)"/g)].map((m) => Number(m[1]));

  test('bars start at the C row and are log-scaled: ×2 and ÷2 are the same length on either side', () => {
    const svg = renderChart(doc);
    const [slow, fast, other] = bars(svg);
    expect([slow.status, fast.status, other.status]).toEqual(['missed', 'met', 'none']);
    const one = slow.x; // the 2× bar starts at 1×
    expect(fast.x + fast.w).toBeCloseTo(one, 0);
    expect(fast.w).toBeCloseTo(slow.w, 0);
    expect(other.x).toBeCloseTo(one, 0);
    expect(other.w).toBeCloseTo(2 * slow.w, 0); // log(4) = 2 log(2)
    expect(svg.match(/class="reference"/g)).toHaveLength(2);
  });

  test('each target sits at its place on the ÷ C scale, also a target against another row', () => {
    const svg = renderChart(doc);
    const [slow] = bars(svg);
    const perDoubling = slow.w; // pixels from 1× to 2×
    const at = (ratio: number) => slow.x + Math.log2(ratio) * perDoubling;
    // slow: ≤ 1.25 × C; fast: ≤ 1.25 × C and ≤ 0.8 × other C = 0.8 × 3000/1000 = 2.4 × C. The memory target has no place.
    expect(marks(svg)).toHaveLength(3);
    const [m1, m2, m3] = marks(svg);
    expect(m1).toBeCloseTo(at(1.25), 0);
    expect(m2).toBeCloseTo(at(1.25), 0);
    expect(m3).toBeCloseTo(at(2.4), 0);
  });

  test('says met and missed in words, escapes labels, shows skipped rows and the run in the title', () => {
    const svg = renderChart(doc);
    expect(svg).toContain('✗ ≤ 1.25 × C MISSED');
    expect(svg).toContain('✓ ≤ 0.8 × other C met (0.17)');
    expect(svg).toContain('✓ &lt; 10 MB met');
    expect(svg).toContain('sync &lt;slow&gt; &amp; co');
    expect(svg).not.toContain('<slow>');
    expect(svg).toContain('skipped (no Python sysv_ipc)');
    expect(svg).toContain('commit abc1234');
    expect(svg).toContain('server on CPU 0, client on CPU 1');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
  });

  test('node bench/chart.js renders a results file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-chart-'));
    try {
      const json = path.join(dir, 'run.json');
      fs.writeFileSync(json, JSON.stringify(doc));
      const r = spawnSync(process.execPath, [path.join(ROOT, 'bench', 'chart.js'), json], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(fs.readFileSync(path.join(dir, 'run.svg'), 'utf8')).toBe(renderChart(doc));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('npm run bench -- --quick: the Python peer rows, end to end', () => {
  const pythonPresent = spawnSync('/usr/bin/python3', ['-c', 'import sysv_ipc'], { stdio: 'ignore' }).status === 0;

  // Every "bench: created <kind> <id>" line (BENCH_DEBUG) that still exists in the kernel.
  const leftovers = (stderr: string) => {
    const created = [...stderr.matchAll(/bench: created (msg|sem|shm) (\d+)/g)].map((m) => `${m[1]}:${m[2]}`);
    const live = new Set(list().map((o) => `${o.kind}:${o.id}`));
    return { created, left: created.filter((c) => live.has(c)) };
  };
  const resultFiles = (jsonText: string) => {
    const date = (JSON.parse(jsonText) as { date: string }).date.replace(/[:.]/g, '-');
    return [`${date}.json`, `${date}.svg`].map((f) => path.join(ROOT, 'bench', 'results', f));
  };

  test('rows run (or are skipped with a note), a chart is written, nothing is left in the kernel', () => {
    const r = spawnSync(
      process.execPath,
      [RUN, '--quick', '--reps', '1', '--filter', 'python', '--json', '--cpus', 'same'],
      {
        encoding: 'utf8',
        env: { ...process.env, BENCH_DEBUG: '1' },
        timeout: 120000,
      },
    );
    const files = r.stdout ? resultFiles(r.stdout) : [];
    try {
      expect(r.status).toBe(0);
      const doc = JSON.parse(r.stdout) as { rows: Array<{ id: string; status: string }> };
      const python = doc.rows.filter((row) => row.id.endsWith('-python'));
      expect(python.map((row) => row.id).sort()).toEqual(
        [
          'msg-rtt-64-python',
          'msg-rtt-4096-python',
          'msg-tput-64-python',
          'msg-tput-4096-python',
          'sem-pingpong-python',
          'sem-uncontended-plain-python',
          'sem-uncontended-undo-python',
        ].sort(),
      );
      if (pythonPresent) {
        expect(python.map((row) => row.status)).toEqual(python.map(() => 'ok'));
      } else {
        expect(python.map((row) => row.status)).toEqual(python.map(() => 'skipped (no Python sysv_ipc)'));
        expect(r.stderr).toMatch(/Python rows skipped/);
      }
      expect(fs.readFileSync(files[1], 'utf8')).toMatch(/^<svg /);
      const { created, left } = leftovers(r.stderr);
      expect(created.length).toBeGreaterThan(0);
      expect(left).toEqual([]);
    } finally {
      for (const f of files) fs.rmSync(f, { force: true });
    }
  }, 130000);

  testIf(pythonPresent, 'no python3 on PATH')(
    'SIGINT while Python children run: children gone, objects removed, exit 130',
    async () => {
      const child = spawn(process.execPath, [RUN, '--filter', 'msg-tput-64-python', '--reps', '50'], {
        env: { ...process.env, BENCH_DEBUG: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = once(child, 'exit');
      try {
        // Wait for a keyed queue (a Python row) and for its peer.py processes.
        const deadline = Date.now() + 60000;
        let key: string | undefined;
        let peers: number[] = [];
        while (Date.now() < deadline) {
          key = [...stderr.matchAll(/created msg \d+ key (\d+)/g)].pop()?.[1];
          peers = key ? processesWith(['peer.py', key]) : [];
          if (peers.length > 0) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(peers.length).toBeGreaterThan(0);
        child.kill('SIGINT');
        const [code] = await exited;
        expect(code).toBe(130);
        expect(stderr).toMatch(/SIGINT during .*children killed, objects removed/);
        // SIGKILLed children are gone once reaped; give the kernel a moment.
        for (let i = 0; i < 50 && processesWith(['peer.py', key!]).length > 0; i++)
          await new Promise((r) => setTimeout(r, 20));
        expect(processesWith(['peer.py', key!])).toEqual([]);
        const { left } = leftovers(stderr);
        expect(left).toEqual([]);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    },
    90000,
  );
});

/** Pids of live (not zombie) processes whose command line has every one of `words` as an argument. */
function processesWith(words: string[]): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const state = fs.readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /, '')[0];
      if (state !== 'Z' && words.every((w) => args.some((a) => a === w || a.endsWith(`/${w}`))))
        out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
