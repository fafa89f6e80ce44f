// A strict CommonJS consumer (`module: nodenext` in a package without "type": "module").
// eslint-disable-next-line @typescript-eslint/no-require-imports -- what a CommonJS consumer in TypeScript writes
import sysv = require('sysv-ipc');

export function main(): number {
  const shm = sysv.SharedMemory.create({ size: 4096 });
  try {
    const lock = sysv.FastMutex.in(shm, 0).acquireSync();
    try {
      const view: Buffer = shm.buffer;
      return view.length;
    } finally {
      lock.release();
    }
  } finally {
    shm.remove();
    shm.close();
  }
}

// @ts-expect-error size must be a number
sysv.SharedMemory.create({ size: '1' });
