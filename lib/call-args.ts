/**
 * The numbers of one synchronous native call, passed in one ArrayBuffer of
 * float64s instead of as arguments (native/arguments.h, NumberArgs): the
 * addon reads each argument with a Node-API call of ~100 instructions and
 * its checks, a number of this buffer with a load (and the buffer itself with
 * one call of a few dozen: an ArrayBuffer, as a typed array's info costs
 * ~480). The hot sync calls (semopOne, msgsnd, msgrcv) pass four or five
 * numbers, so this takes a good part of what the package adds to their syscall.
 *
 * One buffer per thread (a worker loads its own copy of this module). Fill it
 * right before the call, with nothing in between that could call code that
 * fills it: the addon copies the values as the call begins, and runs no
 * JavaScript before it returns.
 */
export const CALL_ARGS_BUFFER = new ArrayBuffer(64);
/** CALL_ARGS_BUFFER's numbers. */
export const CALL_ARGS = new Float64Array(CALL_ARGS_BUFFER);
