'use strict';
// How the table (run.js) and the chart (chart.js) write values, sizes and
// the CPU placement, so the two say the same thing.

/** A row's value in its metric: latency in ns, rate in msg/s, bandwidth in B/s, memory in B. */
function fmtValue(row, value) {
  if (value === null || value === undefined) return '';
  switch (row.metric) {
    case 'latency':
      return value >= 1e6
        ? `${(value / 1e6).toFixed(2)} ms`
        : value >= 1e4
          ? `${(value / 1e3).toFixed(1)} µs`
          : `${(value / 1e3).toFixed(3)} µs`;
    case 'rate':
      return value >= 1e6 ? `${(value / 1e6).toFixed(2)} M msg/s` : `${(value / 1e3).toFixed(0)} k msg/s`;
    case 'bandwidth':
      return `${(value / 1e9).toFixed(2)} GB/s`;
    case 'memory':
      return `${(value / 1048576).toFixed(2)} MB`;
    default:
      return String(value);
  }
}

function fmtSize(size) {
  if (size === null || size === undefined) return '';
  if (size >= 1048576) return `${size / 1048576} MiB`;
  if (size >= 1024) return `${size / 1024} KiB`;
  return `${size} B`;
}

/** The placement of harness.getPlacement() in words. */
function placementText(p) {
  if (!p) return 'placement unknown';
  if (p.mode === 'same') return `both ends on CPU ${p.cpus[0]}`;
  if (p.mode === 'split') return `server on CPU ${p.cpus[0]}, client on CPU ${p.cpus[1]}`;
  return 'processes not pinned';
}

module.exports = { fmtValue, fmtSize, placementText };
