// examples/channel-hello.mjs: `node channel-hello.mjs` sends, and starts a receiver (itself, with the argument receiver).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Channel } from 'sysv-ipc';

const KEY = Number(process.env.EXAMPLE_KEY ?? 0x5ca1ab1e);
const receiver = process.argv[2] === 'receiver';

const ch = Channel.open(KEY, { create: true }); // every process runs this; 1 MiB ring by default
try {
  if (!receiver) {
    const child = fork(fileURLToPath(import.meta.url), ['receiver']);
    await ch.send('hello'); // string, Buffer, any TypedArray or DataView
    await ch.sendValue({ job: 1, at: new Date() }); // structured clone (node:v8)
    await ch.send('bye');
    const [code] = await once(child, 'exit');
    process.exitCode = code;
  } else {
    // Any number of receivers may run this: each message goes to exactly one.
    console.log((await ch.receive({ timeout: 10_000 })).toString()); // hello
    console.log(await ch.receiveValue({ timeout: 10_000 })); // { job: 1, at: … }
    for await (const buf of ch.messages()) {
      console.log(buf.toString()); // bye; the loop also ends on close() or remove()
      break;
    }
  }
} finally {
  if (!receiver) ch.remove(); // the channel outlives its processes: its sender removes it here
  ch.close();
}
