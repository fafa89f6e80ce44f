// examples/shared-map-cache.mjs: `node shared-map-cache.mjs` starts 4 processes (itself, with the argument worker).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SharedMap } from 'sysv-ipc';

const KEY = Number(process.env.EXAMPLE_KEY ?? 0x5eed);

// Every process opens the same map (the first one creates it): 1 MiB for keys and values.
const cache = SharedMap.open(KEY, { create: true, capacity: 1 << 20, whenFull: 'evict' });

function lookUpUser(id) {
  // The expensive work the cache saves: done by whichever process misses first.
  cache.add('misses', 1);
  return { id, name: `user ${id}` };
}

function user(id) {
  const hit = cache.getValue(`user:${id}`); // no lock, no syscall
  if (hit !== undefined) return hit;
  const fresh = lookUpUser(id);
  cache.setValue(`user:${id}`, fresh, { ttl: 60_000 }); // gone for every process after a minute
  return fresh;
}

if (process.argv[2] === 'worker') {
  for (let i = 0; i < 1000; i++) {
    user(i % 10);
    cache.add('requests', 1); // atomic across processes
  }
  cache.close();
} else {
  try {
    const workers = Array.from({ length: 3 }, () => fork(fileURLToPath(import.meta.url), ['worker']));
    const codes = await Promise.all(workers.map(async (w) => (await once(w, 'exit'))[0]));
    const requests = cache.add('requests', 0);
    const misses = cache.add('misses', 0);
    console.log({ requests, misses, entries: cache.size }); // 3000 requests; about 10 misses
    process.exitCode = codes.every((code) => code === 0) && requests === 3000 && misses < 100 ? 0 : 1;
  } finally {
    cache.remove(); // the map stays usable until the last process detaches
    cache.close();
  }
}
