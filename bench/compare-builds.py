#!/usr/bin/env python3
"""Times `run --rm --network none IMG true` for two berth binaries, alternating
runs so machine noise hits both alike, and prints medians and quartiles.

    sudo python3 bench/compare-builds.py OLD_BERTH NEW_BERTH [RUNS] [-- EXTRA FLAGS]

Each binary gets its own state under a temporary directory with the busybox
rootfs the tests use (/var/cache/berth-testkit/busybox-rootfs.tar) imported.
"""
import os, shutil, statistics, subprocess, sys, tempfile, time

args = sys.argv[1:]
extra = args[args.index("--") + 1:] if "--" in args else []
args = args[: args.index("--")] if "--" in args else args
old, new = args[0], args[1]
runs = int(args[2]) if len(args) > 2 else 300
rootfs = "/var/cache/berth-testkit/busybox-rootfs.tar"
base = tempfile.mkdtemp(prefix="berth-compare-")
envs = {}
try:
    for name, binary in (("old", old), ("new", new)):
        env = dict(os.environ, BERTH_ROOT=f"{base}/{name}/root", BERTH_RUNROOT=f"{base}/{name}/run")
        subprocess.run([binary, "import", "--change", 'CMD ["/bin/sh"]', rootfs, "bench/img"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        envs[name] = (binary, env)
    times = {"old": [], "new": []}
    for i in range(runs):
        order = ("old", "new") if i % 2 else ("new", "old")
        for name in order:
            binary, env = envs[name]
            t = time.perf_counter()
            subprocess.run([binary, "run", "--rm", "--network", "none", *extra, "bench/img", "true"],
                           env=env, check=True)
            times[name].append((time.perf_counter() - t) * 1000)
    for name, t in times.items():
        q = statistics.quantiles(t, n=4)
        print(f"{name}: median {statistics.median(t):.1f} ms, p25 {q[0]:.1f}, p75 {q[2]:.1f} ({runs} runs)")
finally:
    time.sleep(3)  # the monitors finish their teardown before the state goes
    shutil.rmtree(base, ignore_errors=True)
