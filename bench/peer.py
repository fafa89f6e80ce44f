"""Python peer: the protocols of msg.c and sem.c through Python's sysv_ipc,
the library README names as the peer people compare the package with.

sysv_ipc attaches by key only (MessageQueue(key), Semaphore(key)), so the
harness creates the objects at random keys (harness.js, createKeyedObject)
and removes them, also when interrupted; this program attaches with flags 0
and creates nothing, so being killed leaves nothing behind. A sysv_ipc
Semaphore is a set of one member: the ping-pong uses two sets where C uses
two members of one set (the same semop per step).

  peer.py msg echo   KEY SIZE COUNT          receive type 1, send it back as type 2
  peer.py msg client KEY SIZE WARMUP COUNT   send type 1, wait for type 2; per-trip latency
  peer.py msg source KEY SIZE COUNT          send COUNT messages of type 1
  peer.py msg sink   KEY SIZE COUNT          receive COUNT; rate from first to last
  peer.py sem pong KEY0 KEY1 COUNT           acquire set 0, release set 1
  peer.py sem ping KEY0 KEY1 WARMUP COUNT    release set 0, acquire set 1; per-trip latency
  peer.py sem uncontended KEY COUNT UNDO     non-blocking acquire + release (value 1), batch

Prints one JSON line, as the C programs do (bench/common.h).
"""
import json
import sys
import time

import sysv_ipc

now_ns = time.monotonic_ns  # CLOCK_MONOTONIC, as now_ns() in common.h

# The receive buffer: at least the largest message a row sends (sysv_ipc's
# default, 2048 bytes, is below the 4 KiB rows).
MAX_MESSAGE = 65536


def report_latency(samples):
    samples.sort()
    n = len(samples)
    p99 = min(n - 1, int(n * 0.99))
    print(json.dumps({"n": n, "median": samples[n // 2], "p99": samples[p99], "mean": sum(samples) / n}))


def report_batch(n, ns):
    print(json.dumps({"n": n, "ns": ns}))


def queue(key):
    return sysv_ipc.MessageQueue(int(key), 0, max_message_size=MAX_MESSAGE)


def msg(role, key, size, *rest):
    q = queue(key)
    body = b"x" * int(size)
    if role == "echo":
        send, receive = q.send, q.receive
        for _ in range(int(rest[0])):
            data, _type = receive(type=1)
            send(data, type=2)
    elif role == "client":
        warmup, count = int(rest[0]), int(rest[1])
        send, receive = q.send, q.receive
        samples = [0] * count
        for i in range(warmup + count):
            t0 = now_ns()
            send(body, type=1)
            receive(type=2)
            if i >= warmup:
                samples[i - warmup] = now_ns() - t0
        report_latency(samples)
    elif role == "source":
        send = q.send
        for _ in range(int(rest[0])):
            send(body, type=1)
    elif role == "sink":
        count = int(rest[0])
        receive = q.receive
        first = 0
        for i in range(count):
            receive()
            if i == 0:
                first = now_ns()
        report_batch(count - 1, now_ns() - first)
    else:
        raise SystemExit(f"peer.py msg: bad role {role}")


def sem(role, *args):
    if role == "pong":
        a, b = sysv_ipc.Semaphore(int(args[0])), sysv_ipc.Semaphore(int(args[1]))
        for _ in range(int(args[2])):
            a.acquire()
            b.release()
    elif role == "ping":
        a, b = sysv_ipc.Semaphore(int(args[0])), sysv_ipc.Semaphore(int(args[1]))
        warmup, count = int(args[2]), int(args[3])
        samples = [0] * count
        for i in range(warmup + count):
            t0 = now_ns()
            a.release()
            b.acquire()
            if i >= warmup:
                samples[i - warmup] = now_ns() - t0
        report_latency(samples)
    elif role == "uncontended":
        s = sysv_ipc.Semaphore(int(args[0]))
        count = int(args[1])
        s.undo = args[2] == "1"
        s.block = False  # IPC_NOWAIT: BusyError instead of waiting
        acquire, release = s.acquire, s.release
        for _ in range(count // 10):  # warm-up
            acquire()
            release()
        t0 = now_ns()
        for _ in range(count):
            acquire()
            release()
        report_batch(count, now_ns() - t0)
    else:
        raise SystemExit(f"peer.py sem: bad role {role}")


def main(argv):
    if len(argv) < 3 or argv[1] not in ("msg", "sem"):
        raise SystemExit("usage: see peer.py")
    (msg if argv[1] == "msg" else sem)(*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
