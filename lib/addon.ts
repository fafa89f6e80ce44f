/**
 * The native addon, loaded and initialised: the module every class takes
 * `binding` from. binding.ts loads it and types it; initialising hands it
 * what it calls back into — the SysvIpcError class it builds kernel failures
 * from, and the dispatcher of async waits (waits.ts) — once per load of this
 * module. Importing this module is what makes the binding usable, so nothing
 * depends on import order or on a module imported only for its side effect.
 */
import { binding as loaded, type Binding } from './binding';
import { SysvIpcError } from './errors';
import { dispatch, setWaitGeneration } from './waits';

// A plain exported constant, not `export { binding }`: TypeScript compiles
// that re-export to an accessor defined over a data property, which turns
// this module's exports object to dictionary mode, and every `binding.x` in
// the classes (a load of this module's `binding`, on every call) into a hash
// lookup and a getter call that optimised code does not inline.
export const binding: Binding = loaded;

setWaitGeneration(binding.init(dispatch, SysvIpcError));
