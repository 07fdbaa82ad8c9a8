"""`make gpu-check`: part_nb's GPU paths, exercised and measured in one command of a few minutes -> bench/RESULTS-gpu.md.

    python bench/gpu_check.py --cifar .gpu/cifar10-jpeg.tgz     # on a machine with CUDA (6 minutes: --time_limit 360)
    python bench/gpu_check.py --device cpu --quick --cifar ../shared/data/cifar10-jpeg.tgz --out /tmp/check.md
                                                                # the same code paths on a CPU, tiny settings (tests/test_gpu_check.py)
    python bench/gpu_check.py --download-wheels .gpu/wheels     # `make gpu-wheels`: the wheels for a machine without a registry

Each step (gpu_steps.py) is timed; a step that fails is reported with its error and the others still run (exit status 1):
1. notebooks: `nbdev_test --flags cuda` on the notebooks that have `#| cuda` cells, except 11_tutorial_cifar10, whose
   `#| cuda` cells are the paper's recipe (80 epochs per model: hours) and download CIFAR-10. On a CPU: `nbdev_test`
   of nbs/08a_script.ipynb (seconds) without flags, as a check of the call. Skipped where nbdev is not installed.
2. fp16: PART-T (PARTCallback(loss='trades')) on ResNet-18 under `to_fp16`, with fastai's `Normalize` in the batches:
   every element of every adversarial training batch must stay within its own budget in pixel units, inside [0,1].
3. benchmarks: bench_epoch.py (cost of an epoch and peak memory of a step, PART against AT/TRADES/MART),
   bench_cam.py and bench_attack.py on the device, each with its peak CUDA memory (`torch.cuda.max_memory_allocated`).
4. cifar10: AT against PART, ResNet-18, CIFAR-10 (JPEG) with all 50,000 training images, `part_nb.run.compare` with
   the shared burn-in (1 epoch); a probe of training batches times an epoch first, and the number of epochs is the
   largest that fits the time left of `--time_limit`.
5. RESULTS-gpu.md (gpu_report.py): the device, the versions and every figure of steps 1-4, all measured by this run.

Without CUDA, the default `--device cuda` prints that nothing was measured and exits 0 without writing any file.
How to run it on a lent GPU machine (what to carry, the command, the time it takes): bench/GPU.md. The wheels are
gpu_wheels.py's.
"""
import argparse, shutil, sys, time, traceback
from pathlib import Path
from gpu_wheels import download_wheels, use_wheels
from gpu_steps import STEPS, Skipped

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cuda', choices=('cuda', 'cpu'), help='cuda (the check) or cpu (its code paths, for tests)')
    p.add_argument('--quick', action='store_true', help='tiny settings: seconds per step, figures of no interest')
    p.add_argument('--cifar', default=None, help='CIFAR-10 JPEG archive (cifar10-jpeg.tgz); without it the CIFAR step is skipped')
    p.add_argument('--wheels', default=None, help='folder of wheels to install into .gpu/site first (a machine without a registry)')
    p.add_argument('--out', default=None, help='the Markdown report [bench/RESULTS-gpu.md on CUDA, else bench/out/gpu-check-<device>.md]')
    p.add_argument('--work', default=None, help='JSON, logs and CIFAR runs [bench/out/gpu-check]')
    p.add_argument('--time_limit', '--budget', dest='time_limit', type=float, default=360, help='seconds for the whole check; the CIFAR epochs fill what is left')
    p.add_argument('--max_epochs', type=int, default=10, help='at most this many CIFAR-10 epochs')
    p.add_argument('--steps', nargs='+', default=[n for n, _ in STEPS], choices=[n for n, _ in STEPS], help='steps to run')
    p.add_argument('--download-wheels', default=None, metavar='DIR',
                   help="fill DIR with the wheels the device needs (run where a registry can be reached), then stop")
    a = p.parse_args(argv)
    if a.download_wheels: return download_wheels(a.download_wheels)
    t_start = time.time()
    import torch
    if a.device == 'cuda' and not torch.cuda.is_available():
        print('gpu_check: no CUDA device on this machine: nothing was measured and no file was written.')
        return 0
    if a.wheels: use_wheels(a.wheels)
    if str(ROOT) not in sys.path: sys.path.insert(1, str(ROOT)) # part_nb from this checkout, installed or not
    if a.cifar: a.cifar = str(Path(a.cifar).resolve())
    if a.device == 'cpu':
        from fastai.torch_core import default_device
        default_device(False) # fastai's batches on the CPU, also where CUDA is there
    out = Path(a.out) if a.out else BENCH/'RESULTS-gpu.md' if a.device == 'cuda' else BENCH/'out'/f"gpu-check-{a.device}{'-quick' if a.quick else ''}.md"
    work = Path(a.work) if a.work else BENCH/'out'/'gpu-check'
    if work.exists(): shutil.rmtree(work)
    work.mkdir(parents=True)
    deadline = t_start + a.time_limit
    from gpu_report import machine, report
    from _common import write_json
    info = machine(a)
    results = {}
    for name, fn in STEPS:
        if name not in a.steps: continue
        print(f"gpu_check: {name} ...", flush=True)
        t0 = time.perf_counter()
        try: r = dict(status='passed', **fn(a, work, deadline))
        except Skipped as e: r = dict(status='skipped', reason=str(e))
        except Exception: r = dict(status='failed', error=traceback.format_exc())
        r['seconds'] = time.perf_counter() - t0
        if name == 'cifar10': r['max_epochs'] = a.max_epochs
        results[name] = r
        print(f"gpu_check: {name} {r['status']} in {r['seconds']:.0f} s" + (f": {r.get('reason', '')}" if r['status'] == 'skipped' else ''), flush=True)
        if r['status'] == 'failed': print(r['error'][-3000:], flush=True)
    write_json(work/'results.json', dict(info=info, results=results), default=list)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(a, info, results, time.time() - t_start))
    print(f"gpu_check: wrote {out} in {time.time() - t_start:.0f} s")
    return 1 if any(r['status'] == 'failed' for r in results.values()) else 0


if __name__ == '__main__': sys.exit(main())
