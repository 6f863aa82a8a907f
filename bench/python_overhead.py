"""Python-side overheads of Tessera next to PyTorch's (issue 11, acceptance 3 and 5).

    build/venv/bin/python bench/python_overhead.py [--iters 100000] [--threads-trials 5]

1. Per-op overhead: the median time of `a + b` for two 1-element float32 tensors, called
   from Python, for Tessera and (when importable) PyTorch. Warmed up for 1 s first (as
   WORKLOADS.md's protocol: right after import, OpenMP's freshly started threads still
   spin and, on SMT siblings, slow the caller: 20,000 calls timed at once gave 1.3 us
   where the steady state is 0.77), then timed in batches of 100 calls so the clock's own
   cost stays out; prints the median per call in microseconds.
2. The GIL released: CNN28's forward on a [64, 1, 28, 28] batch in two Python threads at
   once vs the same two forwards one after the other, with one kernel thread each
   (set_num_threads(1)), so the ratio shows whether the threads ran in parallel
   (ratio < 0.7 wanted; 1.0 means serialized). Needs at least 2 cores.

Run it on an otherwise idle machine; numbers from a loaded one mean little.
"""
import argparse
import statistics
import threading
import time

import tessera as ts


def per_op_median_us(add, a, b, iters):
    batch = 100
    t_end = time.perf_counter() + 1.0
    while time.perf_counter() < t_end:  # warm-up
        for _ in range(batch):
            add(a, b)
    samples = []
    for _ in range(max(1, iters // batch)):
        t0 = time.perf_counter()
        for _ in range(batch):
            add(a, b)
        samples.append((time.perf_counter() - t0) / batch * 1e6)
    return statistics.median(samples)


def forward_times(model, x, trials):
    def run():
        with ts.no_grad():
            model(x)

    run()  # warm-up: primitive caches, allocator
    serial, parallel = [], []
    for _ in range(trials):
        t0 = time.perf_counter()
        run()
        run()
        serial.append(time.perf_counter() - t0)
        threads = [threading.Thread(target=run) for _ in range(2)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        parallel.append(time.perf_counter() - t0)
    return statistics.median(serial), statistics.median(parallel)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iters", type=int, default=100000)
    p.add_argument("--threads-trials", type=int, default=5)
    args = p.parse_args()

    a, b = ts.ones(1), ts.ones(1)
    import operator
    t_us = per_op_median_us(operator.add, a, b, args.iters)
    print(f"tessera add (1 element): {t_us:.3f} us median per call")
    try:
        import torch
        ta, tb = torch.ones(1), torch.ones(1)
        torch_us = per_op_median_us(operator.add, ta, tb, args.iters)
        print(f"pytorch add (1 element): {torch_us:.3f} us median per call (torch {torch.__version__})")
        print(f"tessera / pytorch: {t_us / torch_us:.2f}")
    except ImportError:
        print("pytorch add (1 element): not measured (torch is not importable)")

    ts.set_num_threads(1)
    model = ts.models.cnn28().eval()
    x = ts.randn(64, 1, 28, 28)
    serial, parallel = forward_times(model, x, args.threads_trials)
    print(f"cnn28 forward x2, one after the other: {serial * 1e3:.1f} ms")
    print(f"cnn28 forward x2, two Python threads:  {parallel * 1e3:.1f} ms")
    print(f"parallel / serial: {parallel / serial:.2f}")


if __name__ == "__main__":
    main()
