#!/usr/bin/env python3
"""
bench/threads_busy.py PID [INTERVAL] - why a process does not keep every core busy.

Samples /proc/PID/task/*/stat every INTERVAL seconds (default 0.1) until PID exits and prints
`name: value` lines (prefix from $PREFIX, default "threads_"):
  <p>runnable_avg        threads that were running or waiting for a core (state R), on average
  <p>runnable_ge_cores_pct  share of samples with at least `nproc` runnable threads: the
                         process had work for every core then. If the CPU use is well below 100%
                         while this is high, other processes took the cores (a shared machine);
                         if it is low, the process itself starved them (one document's work on
                         one worker, a tail where one worker finishes alone, I/O).
  <p>cpu_pct_while_ge_cores  the process's CPU use (% of all cores) in those samples
  <p>busy_threads        threads that used CPU during the run, with their CPU seconds
Linux only. Run from bench/run.sh next to /usr/bin/time.
"""
import os
import sys
import time


def tasks(pid):
    out = {}
    try:
        names = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for t in names:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        out[t] = (rest[0], int(rest[11]) + int(rest[12]))  # state, utime + stime (ticks)
    return out


def main():
    pid = int(sys.argv[1])
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
    prefix = os.environ.get("PREFIX", "threads_")
    cores = os.cpu_count() or 1
    hz = os.sysconf("SC_CLK_TCK")
    samples = runnable_sum = full = 0
    full_ticks = full_time = 0.0
    last = tasks(pid)
    last_t = time.monotonic()
    cpu = {}
    while last is not None:
        time.sleep(interval)
        now = tasks(pid)
        now_t = time.monotonic()
        if now is None:
            break
        ticks = sum(now[t][1] - last.get(t, (0, now[t][1]))[1] for t in now)
        for t in now:
            cpu[t] = now[t][1]
        r = sum(1 for t in now.values() if t[0] == "R")
        samples += 1
        runnable_sum += r
        if r >= cores:
            full += 1
            full_ticks += ticks
            full_time += now_t - last_t
        last, last_t = now, now_t
    samples = max(samples, 1)
    print(f"{prefix}runnable_avg: {runnable_sum / samples:.2f}")
    print(f"{prefix}runnable_ge_cores_pct: {100.0 * full / samples:.0f}")
    if full_time > 0:
        print(f"{prefix}cpu_pct_while_ge_cores: {100.0 * full_ticks / hz / full_time / cores:.0f}")
    busy = sorted((v / hz for v in cpu.values() if v / hz >= 0.5), reverse=True)
    print(f"{prefix}busy_threads: {len(busy)} ({' '.join(f'{s:.1f}' for s in busy)} cpu s)")


if __name__ == "__main__":
    main()
