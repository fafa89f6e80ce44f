#!/usr/bin/env node
'use strict';
// The chart of a benchmark run: every row as a ratio to the C row of its case
// and size (the table's "vs C" column), on a log scale, with each target drawn
// where it lies on that scale and each bar coloured met, missed or no target.
// Plain SVG text, no dependency. run.js writes one next to each results JSON;
// this file also renders one from an existing JSON:
//
//   node bench/chart.js bench/results/<timestamp>.json [-o out.svg]   (default: the .json's name, .svg)
//   node bench/chart.js --latest [-o out.svg]                         (the newest bench/results/*.json)
//
// `-o -` writes to stdout.
const fs = require('fs');
const path = require('path');
const { fmtValue, fmtSize, placementText } = require('./format');

const COLOURS = {
  met: '#2e7d32',
  missed: '#c62828',
  none: '#6b7f99',
  reference: '#222222',
  target: '#111111',
  grid: '#dde1e6',
  one: '#555555',
  text: '#1b1f24',
  muted: '#5c6670',
  stripe: '#f4f6f8',
  header: '#e8edf3',
};
const FONT = 'DejaVu Sans, Verdana, Arial, Helvetica, sans-serif';

const esc = (text) =>
  String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (x) => (Math.round(x * 10) / 10).toString();
// A width estimate for layout (no font metrics here): DejaVu Sans averages
// about 0.58 em per character (a little over, so that labels fit).
const textWidth = (text, size) => [...String(text)].length * size * 0.58;

/** Whether a row is the C reference of its case (its ratio is 1 by definition). */
function isReference(row) {
  if (row.reference !== undefined) return row.reference === row.id;
  return row.vsC === 1 && /^C /.test(row.implementation);
}

/**
 * Where a target lies on the row's "÷ C" axis, or null. A target against the
 * C row is its factor; against another row R it is factor × (R ÷ C), from
 * the medians (R's own "vs C" may be against another C row: the wait/notify
 * rows have a target against the C message round trip). Absolute targets
 * (memory) have no place on the axis.
 */
function targetPosition(row, target, byId) {
  const factor = target.factor !== undefined ? target.factor : parseFactor(target.text);
  if (factor === null || target.vs === null) return null;
  if (target.vs !== undefined) {
    if (target.vs === row.reference) return factor;
    const other = byId.get(target.vs);
    const reference = byId.get(row.reference);
    if (other && reference && other.median && reference.median) return factor * (other.median / reference.median);
  }
  // A results file from before targets carried `vs`: row ÷ C = (row ÷ R) × (R ÷ C).
  if (row.vsC && target.ratio) return factor * (row.vsC / target.ratio);
  return null;
}

function parseFactor(text) {
  const m = /^[≤≥<>]=?\s*([\d.]+)\s*×/.exec(text || '');
  return m ? Number(m[1]) : null;
}

/** The lower-is-better direction of a target: ≤ and < mean the bar must stay left of it. */
function allowsBelow(target) {
  return target.op ? target.op.startsWith('<') : /^[≤<]/.test(target.text || '');
}

function status(row) {
  const judged = (row.targets || []).filter((t) => t.met !== null && t.met !== undefined);
  if (judged.some((t) => t.met === false)) return 'missed';
  if (judged.length) return 'met';
  return 'none';
}

// 1-2-5 steps: the ticks of a log axis a reader can do arithmetic with.
function steps(lo, hi) {
  const out = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++) {
    for (const m of [1, 2, 5]) out.push(m * 10 ** e);
  }
  return out.map((x) => Number(x.toPrecision(3)));
}

// The axis spans the data and the targets with a margin, and at least
// 0.5× to 2×, so that small differences stay visible but are not inflated.
// An end close to a 1-2-5 tick moves out to it, so both ends are labelled.
function domain(values) {
  let lo = Math.min(0.5, ...values.map((v) => v / 1.1));
  let hi = Math.max(2, ...values.map((v) => v * 1.1));
  const ticks = steps(lo, hi);
  const below = Math.max(...ticks.filter((t) => t <= lo));
  const above = Math.min(...ticks.filter((t) => t >= hi));
  if (lo / below <= 1.35) lo = below;
  if (above / hi <= 1.35) hi = above;
  return [lo, hi];
}

function tickLabel(x) {
  return `${x >= 1 ? x : Number(x.toPrecision(2))}×`;
}

/** Sections: consecutive rows of one case and size. */
function sections(rows) {
  const out = [];
  for (const row of rows) {
    const last = out[out.length - 1];
    if (last && last.case === row.case && last.size === row.size) last.rows.push(row);
    else out.push({ case: row.case, size: row.size, rows: [row] });
  }
  return out;
}

function sectionHint(section) {
  const hasReference = section.rows.some((r) => r.reference);
  if (!hasReference) return 'no C row: the value and its limit';
  const metric = section.rows[0].metric;
  return metric === 'latency' ? 'time ÷ C time · lower is better (left)' : 'rate ÷ C rate · higher is better (right)';
}

// "✗ ≤ 1.25 × C MISSED": the ratio in brackets only when it is not the row's
// "vs C" (shown beside the value already).
function targetText(t, row) {
  const againstC = t.vs !== undefined ? t.vs === row.reference : /× C$/.test(t.text);
  const state = t.met === true ? 'met' : t.met === false ? 'missed' : 'none';
  const words = { met: '✓ {} met', missed: '✗ {} MISSED', none: '· {}' }[state].replace('{}', t.text);
  const showRatio = !againstC && t.ratio !== null && t.ratio !== undefined;
  return { text: `${words}${showRatio ? ` (${t.ratio.toFixed(2)})` : ''}`, state };
}

/** The SVG document (a string) for a results document of run.js. */
function renderChart(doc) {
  const rows = doc.rows || [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const ok = rows.filter((r) => r.status === 'ok');
  const positions = new Map(); // row id -> [{ x, below }]
  for (const row of ok) {
    positions.set(
      row.id,
      (row.targets || [])
        .map((t) => ({ at: targetPosition(row, t, byId), below: allowsBelow(t) }))
        .filter((p) => p.at !== null && p.at > 0 && Number.isFinite(p.at)),
    );
  }
  const plotted = ok.filter((r) => r.vsC !== null && r.vsC !== undefined && r.vsC > 0);
  const [lo, hi] = domain([...plotted.map((r) => r.vsC), ...[...positions.values()].flat().map((p) => p.at)]);

  // Layout, left to right: label | plot | value and ratio | targets.
  const pad = 16;
  const rowH = 22;
  const headH = 28;
  const labelSize = 13;
  const smallSize = 12;
  const labelW = Math.min(340, Math.max(200, ...rows.map((r) => textWidth(r.implementation, labelSize)))) + 14;
  const plotW = 420;
  const valueW = 150;
  const lineH = 16; // each target of a row has a line of its own
  const targetTexts = rows.flatMap((r) => (r.targets || []).map((t) => targetText(t, r).text));
  // Missed targets are bold: measure all as bold (0.68 em), so the longest fits.
  const targetW = Math.min(460, Math.max(160, ...targetTexts.map((t) => [...t].length * smallSize * 0.68))) + 8;
  const x0 = pad + labelW;
  const gap = 28;
  const width = Math.ceil(x0 + plotW + gap + valueW + targetW + pad);
  const x = (ratio) => x0 + ((Math.log10(ratio) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW;
  const clampX = (ratio) => Math.max(x0, Math.min(x0 + plotW, x(ratio)));

  const out = [];
  let y = pad;

  // Title and the run it shows.
  const m = doc.machine || {};
  const judged = rows.flatMap((r) => (r.status === 'ok' ? r.targets || [] : []));
  const met = judged.filter((t) => t.met === true).length;
  const missed = judged.filter((t) => t.met === false).length;
  const options = doc.options || {};
  out.push(
    text(pad, y + 18, 'sysv-ipc benchmarks: each row as a ratio to the C row of its case (log scale)', {
      size: 18,
      weight: 'bold',
    }),
  );
  y += 30;
  const who = [m.cpu, m.cores ? `${m.cores} cores` : null, m.os, m.node ? `Node ${m.node}` : null, m.python]
    .filter(Boolean)
    .join(', ');
  out.push(text(pad, y + 13, who, { size: smallSize, fill: COLOURS.muted }));
  y += 18;
  const run = [
    m.commit ? `commit ${m.commit}` : 'commit unknown',
    placementText(m.placement),
    `${options.reps || '?'} repetitions${options.quick ? ' (--quick: too short to judge targets)' : ''}`,
    options.filter ? `--filter ${options.filter}` : null,
    doc.date ? doc.date.slice(0, 16).replace('T', ' ') + ' UTC' : null,
    `targets: ${met} met, ${missed} missed`,
  ].filter(Boolean);
  out.push(text(pad, y + 13, run.join(' · '), { size: smallSize, fill: COLOURS.muted }));
  y += 26;

  // Legend.
  let lx = pad;
  const legend = (draw, label) => {
    out.push(draw(lx, y));
    out.push(text(lx + 22, y + 11, label, { size: smallSize }));
    lx += 22 + textWidth(label, smallSize) + 22;
  };
  legend((a, b) => rect(a, b + 1, 16, 11, COLOURS.met), 'target met');
  legend((a, b) => rect(a, b + 1, 16, 11, COLOURS.missed), 'target missed');
  legend((a, b) => rect(a, b + 1, 16, 11, COLOURS.none), 'no target');
  legend((a, b) => diamond(a + 8, b + 6.5, 6, COLOURS.reference), 'the C row (1×)');
  legend((a, b) => targetMark(a + 8, b - 2, 17, true, 'legend'), 'target (the arrow points to the side that meets it)');
  y += 26;

  // Axis labels above the plot.
  const ticks = steps(lo, hi).filter((t) => t >= lo * 0.999 && t <= hi * 1.001);
  const axis = (yy) => {
    for (const t of ticks)
      out.push(
        text(x(t), yy, tickLabel(t), {
          size: smallSize,
          anchor: 'middle',
          fill: t === 1 ? COLOURS.text : COLOURS.muted,
          weight: t === 1 ? 'bold' : null,
        }),
      );
  };
  axis(y + 12);
  out.push(text(x0 + plotW + gap, y + 12, 'median · vs C', { size: smallSize, fill: COLOURS.muted }));
  out.push(text(x0 + plotW + gap + valueW, y + 12, 'targets', { size: smallSize, fill: COLOURS.muted }));
  y += 20;
  const gridTop = y;
  const back = []; // row stripes, under the grid
  const heads = []; // section headers, over the grid (a grid line would cut their text)
  const body = []; // bars, marks and text, over it
  let stripe = 0;
  for (const section of sections(rows)) {
    heads.push(rect(pad, y, width - 2 * pad, headH - 4, COLOURS.header));
    const title = `${section.case}${section.size ? ` · ${fmtSize(section.size)}` : ''}`;
    body.push(text(pad + 6, y + 17, title, { size: labelSize, weight: 'bold' }));
    // Bold glyphs are wider than the estimate's average: 0.68 em.
    body.push(
      text(pad + 6 + [...title].length * labelSize * 0.68 + 16, y + 17, sectionHint(section), {
        size: smallSize,
        fill: COLOURS.muted,
        style: 'italic',
      }),
    );
    y += headH;
    for (const row of section.rows) {
      const h = rowH + Math.max(0, (row.targets || []).length - 1) * lineH;
      if (stripe++ % 2 === 1) back.push(rect(pad, y, width - 2 * pad, h, COLOURS.stripe));
      const mid = y + rowH / 2;
      body.push(
        text(x0 - 10, mid + 4.5, row.implementation, {
          size: labelSize,
          anchor: 'end',
          fill: row.status === 'ok' ? COLOURS.text : COLOURS.muted,
        }),
      );
      const right = x0 + plotW + gap;
      if (row.status !== 'ok') {
        body.push(text(x0 + 8, mid + 4, row.status, { size: smallSize, fill: COLOURS.muted, style: 'italic' }));
      } else if (isReference(row)) {
        body.push(diamond(x(1), mid, 6, COLOURS.reference).replace('<path', '<path class="reference"'));
        body.push(text(right, mid + 4, `${fmtValue(row, row.median)} · 1×`, { size: smallSize, weight: 'bold' }));
      } else if (row.vsC !== null && row.vsC !== undefined && row.vsC > 0) {
        const a = clampX(1);
        const b = clampX(row.vsC);
        body.push(
          rect(Math.min(a, b), mid - 6, Math.max(2, Math.abs(b - a)), 12, COLOURS[status(row)], `bar ${status(row)}`),
        );
        body.push(text(right, mid + 4, `${fmtValue(row, row.median)} · ${row.vsC.toFixed(2)}×`, { size: smallSize }));
      } else {
        body.push(
          text(x0 + 8, mid + 4, row.reference ? 'its C row did not run' : 'no C row', {
            size: smallSize,
            fill: COLOURS.muted,
            style: 'italic',
          }),
        );
        body.push(text(right, mid + 4, fmtValue(row, row.median), { size: smallSize }));
      }
      if (row.status === 'ok') {
        for (const p of positions.get(row.id) || [])
          if (p.at >= lo && p.at <= hi) body.push(targetMark(x(p.at), y + 1, rowH - 2, p.below));
        (row.targets || []).forEach((t, i) => {
          const { text: label, state } = targetText(t, row);
          const style = {
            size: smallSize,
            fill: state === 'none' ? COLOURS.muted : COLOURS[state],
            weight: state === 'missed' ? 'bold' : null,
          };
          body.push(text(right + valueW, mid + 4 + i * lineH, label, style));
        });
      } else {
        (row.targets || []).forEach((t, i) =>
          body.push(
            text(right + valueW, mid + 4 + i * lineH, `${t.text}: not run`, { size: smallSize, fill: COLOURS.muted }),
          ),
        );
      }
      y += h;
    }
    y += 6;
  }
  // The grid over the stripes and under the bars: one line per tick, the 1× line darker.
  out.push(...back);
  for (const t of ticks)
    out.push(line(x(t), gridTop, x(t), y, t === 1 ? COLOURS.one : COLOURS.grid, t === 1 ? 1.5 : 1));
  out.push(...heads, ...body);
  axis(y + 14);
  y += 24;
  out.push(
    text(
      pad,
      y + 6,
      'Bars start at the C row (1×). Latency rows: time ÷ C time (left of 1× is faster than C); rate rows: rate ÷ C rate (right of 1× is faster).',
      {
        size: smallSize,
        fill: COLOURS.muted,
      },
    ),
  );
  y += 14;
  const height = Math.ceil(y + pad);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
    `<title>sysv-ipc benchmarks${m.commit ? `, commit ${esc(m.commit)}` : ''}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

// ---- SVG pieces

function text(x, y, content, { size = 13, anchor = 'start', fill = COLOURS.text, weight = null, style = null } = {}) {
  return `<text x="${num(x)}" y="${num(y)}" font-size="${size}" fill="${fill}"${anchor !== 'start' ? ` text-anchor="${anchor}"` : ''}${weight ? ` font-weight="${weight}"` : ''}${style ? ` font-style="${style}"` : ''}>${esc(content)}</text>`;
}

function rect(x, y, w, h, fill, cls = null) {
  return `<rect${cls ? ` class="${cls}"` : ''} x="${num(x)}" y="${num(y)}" width="${num(w)}" height="${num(h)}" fill="${fill}"/>`;
}

function line(x1, y1, x2, y2, stroke, width = 1) {
  return `<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2)}" y2="${num(y2)}" stroke="${stroke}" stroke-width="${width}"/>`;
}

function diamond(cx, cy, r, fill) {
  return `<path d="M${num(cx)} ${num(cy - r)} L${num(cx + r)} ${num(cy)} L${num(cx)} ${num(cy + r)} L${num(cx - r)} ${num(cy)} Z" fill="${fill}"/>`;
}

// A target: a vertical bar with an arrowhead at its top pointing to the side that meets it.
function targetMark(x, y, h, below, cls = 'target') {
  const d = below ? -8 : 8;
  return (
    `<g class="${cls}">${line(x, y, x, y + h, COLOURS.target, 2.5)}` +
    `<path d="M${num(x)} ${num(y)} L${num(x + d)} ${num(y + 4.5)} L${num(x)} ${num(y + 9)} Z" fill="${COLOURS.target}"/></g>`
  );
}

// ---- command line

function newestResult(dir) {
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
    : [];
  return files.length ? path.join(dir, files[files.length - 1]) : null;
}

function main(argv) {
  let input = null;
  let output = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-o' || a === '--output') output = argv[++i];
    else if (a === '--latest') input = newestResult(path.join(__dirname, 'results'));
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node bench/chart.js <results.json> | --latest [-o out.svg | -o -]\n');
      return 0;
    } else if (a.startsWith('-')) {
      process.stderr.write(`chart: unknown option ${a}\n`);
      return 2;
    } else input = a;
  }
  if (!input) {
    process.stderr.write('chart: give a results JSON of bench/results/ (or --latest, when there is one)\n');
    return 2;
  }
  const doc = JSON.parse(fs.readFileSync(input, 'utf8'));
  const svg = renderChart(doc);
  if (output === '-') process.stdout.write(svg);
  else {
    const file = output || input.replace(/\.json$/, '') + '.svg';
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, svg);
    process.stderr.write(`chart: ${file}\n`);
  }
  return 0;
}

module.exports = { renderChart, targetPosition };

if (require.main === module) process.exitCode = main(process.argv.slice(2));
