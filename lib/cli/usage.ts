/**
 * The command line's grammar shared by every command: option parsing, the
 * kind / id / key arguments, and the usage error (exit code 2) they throw.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { IpcKind } from '../admin';
import * as check from '../validate';
import { out } from './format';

/** A mistake in how the command was called: exit code 2 and a pointer to --help. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** One subcommand (a module of this folder): its --help text and what it runs, returning the exit code. */
export interface Command {
  readonly help: string;
  run(args: string[]): number;
}

/** Prints a help text; returns the exit code 0. */
export function showHelp(text: string): number {
  out(text);
  return 0;
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** node:util's parseArgs with --help added, strict, its errors turned into one-line usage errors. */
export function parse(command: string, args: string[], options: NonNullable<ParseArgsConfig['options']>): Parsed {
  try {
    const config = {
      args,
      options: { help: { type: 'boolean', short: 'h' }, ...options },
      allowPositionals: true,
      strict: true,
    };
    return parseArgs(config as ParseArgsConfig) as Parsed;
  } catch (err) {
    // parseArgs' messages can span lines: errors here are always one line.
    throw new UsageError((err as Error).message.replace(/\s*\n\s*/g, ' '), command);
  }
}

export function parseKind(value: string | undefined, command: string): IpcKind {
  if (value === 'msg' || value === 'sem' || value === 'shm') return value;
  if (value === undefined) throw new UsageError('missing <kind>: msg, sem or shm', command);
  throw new UsageError(`unknown kind '${value}': use msg, sem or shm`, command);
}

export function parseId(value: string, command: string): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`'${value}' is not an id (a non-negative integer)`, command);
  const id = Number(value);
  if (id > 0x7fffffff) throw new UsageError(`'${value}' is not an id (too large)`, command);
  return id;
}

/** A key in hex (0x…, as ipcs prints) or decimal, signed or unsigned; returned unsigned, as list() reports keys. */
export function parseKey(value: string, command: string): number {
  const m = /^(-?)(0x[0-9a-f]+|\d+)$/i.exec(value);
  if (!m) throw new UsageError(`'${value}' is not a key (use hex like 0x1234abcd, or decimal)`, command);
  const n = Number(m[2]) * (m[1] ? -1 : 1);
  if (n < -0x80000000 || n > 0xffffffff) throw new UsageError(`'${value}' is not a key (out of 32-bit range)`, command);
  if (n === 0) {
    throw new UsageError('key 0 is IPC_PRIVATE, which names no object: give the id instead', command);
  }
  return check.key('key', n) >>> 0;
}
