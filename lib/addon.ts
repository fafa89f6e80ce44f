/**
 * The native addon, loaded and initialised: the module every class takes
 * `binding` from. binding.ts loads it and types it; initialising hands it
 * what it calls back into — the SysvIpcError class it builds kernel failures
 * from, and the dispatcher of async waits (waits.ts) — once per load of this
 * module. Importing this module is what makes the binding usable, so nothing
 * depends on import order or on a module imported only for its side effect.
 */
import { binding } from './binding';
import { SysvIpcError } from './errors';
import { dispatch, setWaitGeneration } from './waits';

setWaitGeneration(binding.init(dispatch, SysvIpcError));

export { binding };
