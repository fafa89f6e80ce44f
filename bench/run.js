#!/usr/bin/env node
'use strict';
// `npm run bench`: the package side by side with the same syscalls from C
// and with Node's own alternatives, in one run on one machine.
//
//   node bench/run.js [--quick] [--json] [--filter <text>] [--reps <n>] [--cpus same|split|free]
//
// --cpus: where the child processes run (harness.js, placement): both ends
// of a two-process case on one CPU (same, the default), on two (split), or
// wherever the scheduler puts them (free).
//
// Every row is run `reps` times, interleaved (each repetition visits every
// row, in a different order), so machine noise hits all rows alike. Each
// repetition is a fresh set of processes with its own warm-up. Latency rows
// report the median of the repetitions' medians and of their p99s; rate
// rows the median rate. The table goes to stdout (or, with --json, the JSON
// document); the JSON is also written to bench/results/<timestamp>.json,
// and a chart of it (chart.js) to bench/results/<timestamp>.svg.
//
// The cases are the files of bench/cases/ (registry.js finds and orders them).
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const h = require('./harness');
const registry = require('./registry');
const { renderChart } = require('./chart');
const { fmtValue, fmtSize, placementText } = require('./format');

function parseArgs(argv) {
  const opts = { quick: false, json: false, filter: null, reps: null, cpus: 'same' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--json') opts.json = true;
    else if (a === '--filter') opts.filter = argv[++i];
    else if (a.startsWith('--filter=')) opts.filter = a.slice(9);
    else if (a === '--reps') opts.reps = Number(argv[++i]);
    else if (a === '--cpus' || a.startsWith('--cpus=')) {
      opts.cpus = a === '--cpus' ? argv[++i] : a.slice(7);
      if (!['same', 'split', 'free'].includes(opts.cpus)) {
        process.stderr.write('bench: --cpus takes same, split or free\n');
        process.exit(2);
      }
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--quick] [--json] [--filter <text>] [--reps <n>] [--cpus same|split|free]\n',
      );
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown option ${a}\n`);
      process.exit(2);
    }
  }
  if (opts.filter === undefined || opts.filter === '') {
    process.stderr.write('bench: --filter needs a value\n');
    process.exit(2);
  }
  return opts;
}

// ---- progress (stderr; one line rewritten in place on a TTY)

const tty = process.stderr.isTTY;
let progressShown = false;
function progress(text) {
  if (tty) {
    process.stderr.write(`\r\x1b[2K${text.slice(0, (process.stderr.columns || 100) - 1)}`);
    progressShown = true;
  } else {
    process.stderr.write(text + '\n');
  }
}
function endProgress() {
  if (tty && progressShown) process.stderr.write('\r\x1b[2K');
  progressShown = false;
}

// ---- statistics and formatting

function median(values) {
  const v = values.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Ratio in the row's own metric: time ÷ time for latency rows (lower is
// better), rate ÷ rate for rate and bandwidth rows (higher is better).
function ratio(row, other) {
  if (!other || row.value === null || other.value === null || other.value === undefined || !other.value) return null;
  return row.value / other.value;
}

function judge(row, target, byId) {
  if (target.vs === null) {
    const met = target.op === '<' ? row.value < target.factor : row.value <= target.factor;
    return { text: target.text, ratio: null, met };
  }
  const ref = byId.get(target.vs);
  const r = ratio(row, ref);
  if (r === null) return { text: target.text, ratio: null, met: null };
  const met = target.op === '<=' ? r <= target.factor : r >= target.factor;
  return { text: target.text, ratio: r, met };
}

function table(rows) {
  const header = ['case', 'size', 'implementation', 'median', 'p99', 'vs C', 'target'];
  const lines = [header];
  let group = null;
  for (const row of rows) {
    const status = row.status === 'ok' ? null : row.status;
    const targets = (row.judged || [])
      .map(
        (t) =>
          `${t.text}: ${t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED'}${t.ratio !== null ? ` (${t.ratio.toFixed(2)})` : ''}`,
      )
      .join('; ');
    lines.push([
      row.group === group ? '' : row.group,
      fmtSize(row.size),
      row.impl,
      status || fmtValue(row, row.value),
      status ? '' : fmtValue(row, row.p99),
      status || row.vsC === null ? '' : `${row.vsC.toFixed(2)}×`,
      status && row.targets.length
        ? `${row.targets.map((t) => t.text).join('; ')}: not run`
        : targets || (row.detail ? `(${row.detail})` : ''),
    ]);
    group = row.group;
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => [...l[i]].length)));
  const fmt = (l) => `| ${l.map((c, i) => c + ' '.repeat(widths[i] - [...c].length)).join(' | ')} |`;
  const out = [fmt(lines[0]), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`];
  for (const l of lines.slice(1)) out.push(fmt(l));
  return out.join('\n');
}

// ---- the run

function machine(loadavgAtStart) {
  const cpus = os.cpus();
  let commit = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: __dirname,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // not a git checkout
  }
  return {
    cpu: cpus[0] ? cpus[0].model.trim() : 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    commit,
    loadavgAtStart,
    placement: h.getPlacement(),
  };
}

// Deterministic shuffle (xorshift), so the order differs per repetition
// but a run can be reproduced.
function shuffled(list, seed) {
  const a = list.slice();
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = a.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  // Before anything runs: machine() is called at the end, where the load is
  // the benchmark's own (it recorded 2.11 "at start" for a run begun at 0.59).
  const loadavgAtStart = os.loadavg().map((x) => Number(x.toFixed(2)));
  if (loadavgAtStart[0] > 1.5) {
    process.stderr.write(
      `bench: load average ${loadavgAtStart[0]} on ${os.cpus().length} CPUs at start: not a quiet machine, ` +
        'the ratios are not results against a target\n',
    );
  }
  let current = '';
  h.installSignalHandlers((sig) => {
    endProgress();
    process.stderr.write(`bench: ${sig} during ${current || 'setup'}; children killed, objects removed\n`);
  });

  const noPin = h.setPlacement(opts.cpus);
  if (noPin) process.stderr.write(`bench: --cpus ${opts.cpus}: ${noPin}\n`);
  progress('bench: compiling the C reference programs');
  const noC = h.compileC();
  if (noC) process.stderr.write(`bench: C rows skipped: ${noC}\n`);
  const pkgLoaded = h.loadPackage() !== null;
  if (!pkgLoaded) process.stderr.write('bench: the package is not built (npm run compile): package rows skipped\n');

  // Table order: by case, then size; within that, the order the case files give.
  let rows = registry.orderedRows(registry.loadCases(), (line) => process.stderr.write(line + '\n'));
  if (opts.filter) {
    const f = opts.filter.toLowerCase();
    const picked = new Set(
      rows
        .filter((r) => r.id.includes(f) || r.group.toLowerCase().includes(f) || r.impl.toLowerCase().includes(f))
        .map((r) => r.id),
    );
    if (picked.size === 0) {
      process.stderr.write(`bench: no case matches "${opts.filter}"; cases: ${rows.map((r) => r.id).join(', ')}\n`);
      process.exit(2);
    }
    // The rows that ratios and targets refer to come along.
    for (const r of rows)
      if (picked.has(r.id)) for (const dep of [r.c, ...r.targets.map((t) => t.vs)]) if (dep) picked.add(dep);
    rows = rows.filter((r) => picked.has(r.id));
  }
  // What rows may require besides the package: a C compiler, Python's sysv_ipc.
  const missing = { python: rows.some((r) => (r.requires || []).includes('python')) ? h.checkPython() : null };
  if (missing.python) process.stderr.write(`bench: Python rows skipped: ${missing.python}\n`);

  const quick = opts.quick;
  const reps = opts.reps || (quick ? 3 : 5);
  const budgetNs = (quick ? 25 : 250) * 1e6; // measured time per row and repetition
  for (const row of rows) {
    row.status = 'ok';
    row.samples = [];
    if (!row.c) row.vsC = null;
    if (row.needs.length && !h.packageHas(row.needs))
      row.status = pkgLoaded ? 'skipped (not built yet)' : 'skipped (package not built)';
    else if (noC && (row.id.endsWith('-c') || /^C /.test(row.impl) || (row.requires || []).includes('cc')))
      row.status = 'skipped (no C compiler)';
    else if (missing.python && (row.requires || []).includes('python')) row.status = 'skipped (no Python sysv_ipc)';
    if (row.counts) row.n = row.counts(quick);
    else {
      const count = Math.max(200, Math.min(2e6, Math.round(budgetNs / row.expectNs)));
      row.n = { warmup: row.batch ? 0 : Math.max(100, Math.round(count / 5)), count };
    }
  }

  const repeated = rows.filter((r) => r.status === 'ok' && !r.once);
  const once = rows.filter((r) => r.status === 'ok' && r.once);
  const total = repeated.length * reps + once.length;
  let done = 0;
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  const runOne = async (row, rep, of) => {
    current = `${row.group} ${fmtSize(row.size)} ${row.impl}`.replace(/\s+/g, ' ');
    progress(`bench [${done + 1}/${total}] ${current} · rep ${rep}/${of} · ${elapsed()}`);
    try {
      row.samples.push(await row.run(h, row.n));
    } catch (err) {
      row.status = `failed: ${err.message.split('\n')[0].slice(0, 120)}`;
    }
    done++;
  };
  for (let rep = 1; rep <= reps; rep++) {
    for (const row of shuffled(repeated, rep)) if (row.status === 'ok') await runOne(row, rep, reps);
  }
  for (const row of once) await runOne(row, 1, 1);
  endProgress();
  h.removeAllObjects();

  // Aggregate, then ratios and targets (which need every row's value).
  for (const row of rows) {
    row.value =
      row.status === 'ok' ? median(row.samples.map((s) => (s.value !== undefined ? s.value : s.median))) : null;
    row.p99 = row.status === 'ok' && row.metric === 'latency' ? median(row.samples.map((s) => s.p99)) : null;
    if (row.samples.length && row.samples[row.samples.length - 1].detail)
      row.detail = row.samples[row.samples.length - 1].detail;
  }
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const row of rows) {
    row.vsC = row.status === 'ok' && row.c ? ratio(row, byId.get(row.c)) : null;
    row.judged = row.status === 'ok' ? row.targets.map((t) => judge(row, t, byId)) : [];
  }

  const info = machine(loadavgAtStart);
  info.python = missing.python || !rows.some((r) => (r.requires || []).includes('python')) ? null : h.pythonVersion();
  info.loadavgAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
  const doc = {
    date: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    options: { quick, reps, filter: opts.filter },
    machine: info,
    rows: rows.map((r) => ({
      id: r.id,
      case: r.group,
      file: r.file,
      size: r.size,
      implementation: r.impl,
      metric: r.metric,
      unit: r.metric === 'latency' ? 'ns' : r.metric === 'rate' ? 'msg/s' : r.metric === 'bandwidth' ? 'B/s' : 'B',
      status: r.status,
      median: r.value,
      p99: r.p99,
      vsC: r.vsC,
      reference: r.c || null,
      iterations: r.n,
      repetitions: r.samples,
      targets: r.targets.map((t, i) => ({
        ...(r.judged[i] || { text: t.text, ratio: null, met: null }),
        vs: t.vs,
        op: t.op,
        factor: t.factor,
      })),
      detail: r.detail,
    })),
  };
  const resultsDir = path.join(__dirname, 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${doc.date.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  const chartFile = file.replace(/\.json$/, '.svg');
  fs.writeFileSync(chartFile, renderChart(doc));

  if (opts.json) {
    process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  } else {
    process.stdout.write(
      `${info.cpu}, ${info.cores} cores, ${info.os}, Node ${info.node}` +
        `${info.commit ? `, commit ${info.commit}` : ''}${info.python ? `, ${info.python}` : ''}; ${placementText(info.placement)}; ${reps} repetitions${quick ? ' (--quick)' : ''}, ` +
        `${doc.durationSeconds} s; load ${info.loadavgAtStart[0]} → ${info.loadavgAtEnd[0]}\n\n`,
    );
    process.stdout.write(table(rows) + '\n\n');
    const judged = rows.flatMap((r) => r.judged);
    const met = judged.filter((t) => t.met === true).length;
    const missed = judged.filter((t) => t.met === false).length;
    const notRun = rows.reduce((n, r) => n + (r.status === 'ok' ? 0 : r.targets.length), 0);
    process.stdout.write(
      `targets: ${met} met, ${missed} missed, ${notRun} not run · results: ${path.relative(process.cwd(), file)}, chart: ${path.relative(process.cwd(), chartFile)}\n`,
    );
  }
  const failed = rows.filter((r) => r.status.startsWith('failed'));
  process.exitCode = failed.length ? 1 : 0;
}

main().catch((err) => {
  endProgress();
  process.stderr.write(`bench: ${err.stack || err}\n`);
  process.exit(1);
});
