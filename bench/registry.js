'use strict';
// Which benchmark cases exist and in which order their rows appear: every
// bench/cases/*.js is a case file, found by listing the directory, so a new
// one needs no edit here or in run.js. A case file exports
//
//   rows()   -> the row descriptions (see bench/cases/messages.js)
//   groups   -> { 'case name': rank, ... } for the cases (row.group) it owns;
//               optional for a file that only adds rows to others' cases
//
// The table and the chart order rows by the rank of their case, then by
// size; within one case and size, the owner's rows come first (in the order
// rows() gives them), then other files' rows, by file name. A case no file
// declares goes last, with a warning.
const fs = require('fs');
const path = require('path');

const CASES_DIR = path.join(__dirname, 'cases');

/** Loads every case file of `dir`: [{ file, rows, groups }], by file name. */
function loadCases(dir = CASES_DIR) {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((file) => {
      const mod = require(path.join(dir, file));
      if (typeof mod.rows !== 'function') throw new Error(`bench/cases/${file} does not export rows()`);
      const groups = mod.groups || {};
      for (const [name, rank] of Object.entries(groups)) {
        if (!Number.isFinite(rank)) throw new Error(`bench/cases/${file}: the rank of group "${name}" is not a number`);
      }
      return { file, rows: mod.rows, groups };
    });
}

/**
 * Every row of `cases`, ordered for the table; each row gets `file`, the
 * case file that made it. `warn` receives a line for each case no file
 * ranks and each case two files claim.
 */
function orderedRows(cases, warn = () => {}) {
  const owner = new Map(); // group -> { file, rank }
  for (const c of cases) {
    for (const [name, rank] of Object.entries(c.groups)) {
      const first = owner.get(name);
      if (first)
        warn(
          `bench: cases/${c.file} and cases/${first.file} both declare the group "${name}"; cases/${first.file} keeps it`,
        );
      else owner.set(name, { file: c.file, rank });
    }
  }
  const rows = cases.flatMap((c) => c.rows().map((row) => Object.assign(row, { file: c.file })));
  const undeclared = [];
  for (const row of rows) {
    if (!owner.has(row.group) && !undeclared.includes(row.group)) {
      undeclared.push(row.group);
      warn(
        `bench: cases/${row.file}: the group "${row.group}" has no rank (declare it in the file's \`groups\`): listed last`,
      );
    }
  }
  const rank = (row) => (owner.has(row.group) ? owner.get(row.group).rank : Infinity);
  const late = (row) => undeclared.indexOf(row.group);
  const fileOrder = (row) => (owner.has(row.group) && owner.get(row.group).file === row.file ? '' : row.file);
  return rows
    .map((row, index) => ({ row, index }))
    .sort(
      (a, b) =>
        rank(a.row) - rank(b.row) ||
        late(a.row) - late(b.row) ||
        (a.row.size || 0) - (b.row.size || 0) ||
        (fileOrder(a.row) < fileOrder(b.row) ? -1 : fileOrder(a.row) > fileOrder(b.row) ? 1 : 0) ||
        a.index - b.index,
    )
    .map((x) => x.row);
}

module.exports = { CASES_DIR, loadCases, orderedRows };
