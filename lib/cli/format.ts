/**
 * How the `sysv-ipc` command shows things: keys as ipcs prints them, sizes in
 * binary units, ages, permission bits, user names and aligned tables.
 */
import { readFileSync } from 'node:fs';
import type { IpcKind, IpcObject } from '../admin';

/** What each kind is called in sentences ("no message queue with id 5"). */
export const KIND_NAMES: Record<IpcKind, string> = {
  msg: 'message queue',
  sem: 'semaphore set',
  shm: 'shared memory segment',
};

/** A key as ipcs prints it: 0x followed by 8 hex digits of the unsigned value. */
export function formatKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}

/** Bytes in binary units: "512 B", "1.5 KiB", "64 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value >= 100 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits).replace(/\.0$/, '')} ${units[unit]}`;
}

/** How long ago: "never", "just now", "42s ago", "5m ago", "3h ago", "2d ago". */
export function formatAge(date: Date | null, now = Date.now()): string {
  if (date === null) return 'never';
  const seconds = Math.round((now - date.getTime()) / 1000);
  if (seconds < 1) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

/** Permission bits as ls prints them: "rw-r-----". */
export function formatMode(mode: number): string {
  const bits = 'rwxrwxrwx';
  let text = '';
  for (let i = 0; i < 9; i++) text += mode & (1 << (8 - i)) ? bits[i] : '-';
  return text;
}

let users: Map<number, string> | undefined;
let uids: Map<string, number> | undefined;
function readUsers(): void {
  if (users) return;
  users = new Map();
  uids = new Map();
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (!name || id === undefined || !/^\d+$/.test(id)) continue;
      if (!users.has(Number(id))) users.set(Number(id), name);
      if (!uids.has(name)) uids.set(name, Number(id));
    }
  } catch {
    // no /etc/passwd: show numbers
  }
}

/** The user's name from /etc/passwd, or the number where there is none. */
export function userName(uid: number): string {
  readUsers();
  return users?.get(uid) ?? String(uid);
}

/** The columns every kind's table starts with: key, id, owner, permissions. */
export function commonCells(e: IpcObject): string[] {
  return [formatKey(e.key), String(e.id), userName(e.uid), e.mode.toString(8).padStart(3, '0')];
}

/** Left-aligned text columns, right-aligned numeric ones, two spaces apart. */
export function table(header: string[], rows: string[][], numeric: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** One line (or block) on stdout. */
export const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

/** A value as indented JSON on stdout (the --json forms). */
export const json = (value: unknown): void => out(JSON.stringify(value, null, 2));

/** The uid of a user name from /etc/passwd, or undefined if there is none. */
export function userId(name: string): number | undefined {
  readUsers();
  return uids?.get(name);
}
