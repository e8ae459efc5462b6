"""Speed and memory of the nested sweeps of chapters 3-4, measured side by side in one run.

Targets:
- a whole sweep costs at most 1.3x its largest member (convnet N = 1..1024 on 224 x 224;
  FC N_h = 100..100000 on 64 x 64);
- FC with N_h = 100000 on 64 x 64 x 3: at most 15 s and 1.5 GB peak memory;
- FC with N_h = 100000 on 224 x 224 x 3: at most 180 s and 2 GB peak memory.
Each ratio is the median over pairs timed back to back, A B then B A (benchmarks/paired.py), so
other processes on the shared cores slow both sides of a pair alike. Peak memory is the peak
resident set size of a fresh subprocess that imports the helpers and computes one map
(VmHWM, Linux).
Run: .venv/bin/python benchmarks/bench_sweeps.py [--repeats 3] [--skip-224] [--baseline-224]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from paired import paired, wall

import helpers as H

ROOT = Path(__file__).resolve().parents[1]
CONV_SIZES = [2**i for i in range(11)]
FC_SIZES = [100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000]

# One FC map in a fresh process: prints {"wall", "cpu", "rss0_mb", "peak_mb"} as JSON. The peak
# is VmHWM of /proc/self/status (ru_maxrss would carry the parent's peak over fork and exec).
CHILD = """
import json, sys, time
import torch
import helpers as H


def status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024


side, hidden, method = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
x = H.preprocess(H.load_image("chelsea", side), "centered")
net = H.FullyConnectedNet((3, side, side), hidden, seed=0)
rss0 = status_mb("VmRSS")
t, c = time.perf_counter(), time.process_time()
H.fc_map_sweep(net, x, [hidden])
wall, cpu = time.perf_counter() - t, time.process_time() - c
peak = status_mb("VmHWM")
print(json.dumps({"wall": wall, "cpu": cpu, "rss0_mb": rss0, "peak_mb": peak}))
"""


def child(side: int, hidden: int, method: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-c", CHILD, str(side), str(hidden), method]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-224", action="store_true", help="skip the 224 x 224 FC run")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )

    print("\n== convnet sweep, 224 x 224, k = 7, N = 1..1024 (guided) ==")
    x = H.preprocess(H.load_image("chelsea", 224), "centered")
    net = H.ThreeLayerConvNet(CONV_SIZES[-1], 7, seed=0)

    def sweep():
        return H.conv_map_sweep(x, CONV_SIZES, 7)

    largest = {
        "largest member (conv_map_sweep)": lambda: H.conv_map_sweep(x, CONV_SIZES[-1:], 7),
        "largest member (autograd backprop_map)": lambda: H.backprop_map(net, x, 0, "guided"),
    }
    for ref, fn in largest.items():
        print(paired(sweep, fn, args.repeats).line(f"sweep / {ref}", 1.3)[1], flush=True)
    naive = sum(
        wall(lambda n=n: H.backprop_map(H.ThreeLayerConvNet(n, 7), x, 0, "guided"))
        for n in CONV_SIZES
    )
    print(f"  every member from scratch (autograd), once: {naive:.2f} s wall")

    print("\n== FC sweep, 64 x 64 x 3, N_h = 100..100000 (guided) ==")
    x64 = H.preprocess(H.load_image("chelsea", 64), "centered")
    fc = H.FullyConnectedNet((3, 64, 64), FC_SIZES[-1], seed=0)
    pair = paired(
        lambda: H.fc_map_sweep(fc, x64, FC_SIZES),
        lambda: H.fc_map_sweep(fc, x64, FC_SIZES[-1:]),
        args.repeats,
    )
    print(pair.line("sweep, 10 sizes / largest member", 1.3)[1], flush=True)

    print("\n== FC, N_h = 100000, one map in a fresh process (time, peak RSS) ==")
    # FullyConnectedNet.maps (and so backprop_map on the FC net) is this same stream.
    rows = [(64, "fc_map_sweep", 15, 1536)]
    if not args.skip_224:
        rows.append((224, "fc_map_sweep", 180, 2048))
    for side, method, t_max, mb_max in rows:
        res = child(side, FC_SIZES[-1], method)
        ok = res["wall"] <= t_max and res["peak_mb"] <= mb_max
        print(
            f"  {side:3d}x{side}x3 {method:24s} {res['wall']:7.1f} s wall {res['cpu']:7.1f} s cpu"
            f"  peak {res['peak_mb']:6.0f} MB (after imports {res['rss0_mb']:.0f} MB)"
            f"  [target <= {t_max} s, {mb_max} MB: {verdict(ok)}]"
        )
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
