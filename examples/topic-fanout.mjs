// examples/topic-fanout.mjs: `node topic-fanout.mjs` starts two subscriber processes (itself, with the argument subscriber) and publishes to both.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Topic } from 'sysv-ipc';

const KEY = Number(process.env.EXAMPLE_KEY ?? 0x70b1c5);
const subscriber = process.argv[2] === 'subscriber';

const topic = Topic.open(KEY, { create: true }); // every process runs this; 64 KiB ring by default
try {
  if (!subscriber) {
    const children = [0, 1].map(() => fork(fileURLToPath(import.meta.url), ['subscriber']));
    // Wait until both have subscribed: a subscription sees what is published after it.
    await Promise.all(children.map((child) => once(child, 'message')));
    await topic.publish('config changed'); // string, Buffer, any TypedArray or DataView
    await topic.publishValue({ flush: ['users', 'orders'] }); // structured clone (node:v8)
    await topic.publish('bye');
    const codes = await Promise.all(children.map(async (child) => (await once(child, 'exit'))[0]));
    process.exitCode = Math.max(...codes);
  } else {
    const sub = topic.subscribe(); // its own cursor: every subscription gets every message
    process.send('subscribed');
    try {
      console.log((await sub.receive({ timeout: 10_000 })).toString()); // config changed
      console.log(await sub.receiveValue({ timeout: 10_000 })); // { flush: [ 'users', 'orders' ] }
      for await (const buf of sub.messages()) {
        console.log(buf.toString()); // bye; the loop also ends on close() or remove()
        break;
      }
    } finally {
      sub.close(); // frees its slot: a 'wait' topic's publishers no longer wait for it
    }
  }
} finally {
  if (!subscriber) topic.remove(); // the topic outlives its processes: its publisher removes it here
  topic.close();
}
