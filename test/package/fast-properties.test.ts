/**
 * The objects every call reads properties of have V8's fast properties: the
 * binding (`binding.semop`), its constants (`C.IPC_NOWAIT`) and the exports
 * of the modules the classes call into on each operation. An object in
 * dictionary mode turns each such load into a hash lookup through the LoadIC
 * builtin that optimised code cannot inline (a few percent of an uncontended
 * semaphore pair in `perf`). Asked of V8 in a child (%HasFastProperties needs
 * --allow-natives-syntax); no kernel objects.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const DIST = path.join(__dirname, '..', '..', 'dist');

test('the binding, its constants and the hot modules have fast properties', () => {
  const modules = ['addon', 'binding', 'validate', 'waits', 'errors', 'ipc-handle', 'semaphore/operations'];
  const program = `
    const dist = ${JSON.stringify(DIST)};
    const { binding } = require(dist + '/addon');
    const out = { 'binding object': %HasFastProperties(binding), 'binding.constants': %HasFastProperties(binding.constants) };
    for (const m of ${JSON.stringify(modules)}) out[m + ' exports'] = %HasFastProperties(require(dist + '/' + m));
    console.log(JSON.stringify(out));`;
  const out = JSON.parse(
    execFileSync(process.execPath, ['--allow-natives-syntax', '-e', program], { encoding: 'utf8', timeout: 60000 }),
  );
  const all = Object.fromEntries(
    ['binding object', 'binding.constants', ...modules.map((m) => `${m} exports`)].map((k) => [k, true]),
  );
  expect(out).toEqual(all);
});
