"""PART on natural images: AT against PART and TRADES against PART-T on CIFAR-10 (JPEG) at CPU scale, over 3 seeds,
with the 'soft' budget rule and a random-placement control on the same seeds, and an eps_low/eps sweep and the
reference code's budget rule on one seed.

    .venv/bin/python bench/bench_cifar.py                 # the whole study (resumable), `make bench-cifar`
    .venv/bin/python bench/bench_cifar.py --core          # only AT and PART, 3 seeds
    .venv/bin/python bench/bench_cifar.py --report        # tables and plots from the runs finished so far, training nothing
    .venv/bin/python bench/bench_cifar.py --quick         # a smoke test: AT and PART, 1 seed, 2 epochs on 512 images

Data: `../shared/data/cifar10-jpeg.tgz` (`--archive`), the official CIFAR-10 images as JPEG of quality 75, so the figures
are CIFAR-10 (JPEG) figures. Every run is `part_nb.run.train_one(..., preset='cpu')`, the settings of
`part_nb.run.PRESETS['cpu']`: SmallVGG (73,000 parameters, CAM at its 8x8 block), a class-balanced 10,000 training images
with flips, PGD-5 with step 2.5/255 at eps 8/255 (PART: eps_low 7/255), 12 epochs of which 3 are burn-in, one-cycle SGD
peaking at 0.05, weight decay 5e-4, batch 128. The models were timed side by side before choosing (`--time_models`,
in `cifar.json` and bench/RESULTS.md).

Evaluation, on the same test images for every run: natural accuracy on all 10,000; PGD-20, CW-30, MMA-20 and their
per-image worst case on a class-balanced 2,000 (`--n_eval`); AutoAttack (standard, pyautoattack) with the other attacks
again on the first 500 of those (`--n_aa`), for the worst case of all four.

PART's burn-in is its baseline's training: each baseline run keeps its checkpoint at the end of the burn-in and the PART
runs of that seed continue from it (tests/test_cli.py checks that this gives the weights of training from scratch).
Runs go to `--workers` subprocesses with one torch thread each (_runner.py); each run checkpoints every epoch and writes
bench/cifar/runs/<name>/result.json when done, so a stopped study continues where it was with the same command.
Runs are done in order of priority: the core (AT, PART; seeds 0, 1, 2) first, then TRADES and PART-T, then the sweep
and the reference rule and the control (`--controls random`: the library's method `part-random`, PART whose pixels at
eps are as many as the CAM gives each image, but placed at random, to test whether the CAM's choice of pixels matters;
bench_placebo.py runs the other controls). `--report` writes bench/cifar/cifar.json, bench/tradeoff_cifar.png and bench/cams_cifar.png
from whatever has finished (cifar_report.py).
"""
import argparse, datetime, json, math, os, sys, time, warnings
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _common import as_json, write_json
from _runner import COST, RESULT_VERSION, interruptible, job_main, train_or_resume, share_burn_in, run_jobs

ROOT = BENCH.parent
from part_nb.testing import cifar10_archive
ARCHIVE = cifar10_archive() # ../shared/data/cifar10-jpeg.tgz, or None
OUT = BENCH/'cifar' # committed: a study that spans sessions continues from what is here
ATTACKS = ('natural', 'pgd20', 'cw', 'mma')
AA_ATTACKS = ATTACKS + ('aa',)
COLUMNS = {'natural': 'natural (10,000)', 'pgd20': 'PGD-20', 'cw': 'CW', 'mma': 'MMA', 'worst3': 'worst of 3',
           'aa': 'AutoAttack', 'worst4': 'worst of 4'}
PART_RATIO = 7 / 8


# ---------------------------------------------------------------- one run (in a worker process)

def run_job(job):
    "Train and evaluate one run (in a worker); write and return its result."
    import torch
    from part_nb.run import run_settings, make_dls, make_model, CONTROL_METHODS
    from part_nb.evaluate import evaluate_robustness
    out, s, kw = Path(job['dir']), job['settings'], job['train_kw']
    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    met, resumed, init = train_or_resume(job, 'cifar10', kw, skip=('n_aa', 'data_path'))
    t1, c1 = time.perf_counter(), time.process_time()
    rs = run_settings(s['method'], 'cifar10', **{**kw, 'n_valid': None})
    dls = make_dls(rs, progress=False) # all 10,000 test images, in class-balanced round-robin order
    model = make_model(rs['model'], dls.c, 3)
    model.load_state_dict(torch.load(out/'model.pth', map_location='cpu', weights_only=True))
    natural = float(evaluate_robustness(model.eval(), dls.valid, rs['eps'], attacks=('natural',), progress=False)['accuracy']['natural'])
    t2 = time.perf_counter()
    table = evaluate_robustness(model.eval(), dls.valid, rs['eps'], attacks=AA_ATTACKS, n=s['n_aa'], seed=s['seed'], progress=False)
    aa_table = {k: float(v) for k, v in table['accuracy'].items()}
    t3, c3 = time.perf_counter(), time.process_time()
    r, hist = met['robustness'], met['epochs']
    result = dict(version=RESULT_VERSION, name=job['name'], method=s['method'], seed=s['seed'], ratio=job['ratio'],
                  rule=s['rule'], control=CONTROL_METHODS.get(s['method'], (None, None))[1], settings=s, robustness=r, robustness_aa_subset=aa_table,
                  accuracy={'natural': natural, 'pgd20': r['pgd20'], 'cw': r['cw'], 'mma': r['mma'], 'worst3': r['worst-case'],
                            'aa': aa_table['aa'], 'worst4': aa_table['worst-case'], 'natural_eval': r['natural']},
                  time_per_epoch=met['time_per_epoch'],
                  time_train_per_epoch=sum(e['time_train'] for e in hist) / len(hist) if hist else None,
                  epochs_trained=len(hist), history=hist, resumed_from=resumed, init_from=init, threads=torch.get_num_threads(),
                  seconds=dict(train_and_eval=round(t1 - t0, 1), natural_10k=round(t2 - t1, 1), autoattack=round(t3 - t2, 1),
                               total=round(t3 - t0, 1)),
                  cpu_seconds=dict(train_and_eval=round(c1 - c0, 1), autoattack=round(c3 - c1, 1)),
                  finished=datetime.datetime.now().astimezone().isoformat(timespec='seconds'))
    write_json(out/'result.json', result)
    (out/'checkpoint.pth').unlink(missing_ok=True)
    return result


# ---------------------------------------------------------------- the plan

def train_kw(a, seed, eps_low=None, rule=None, model=None):
    "The overrides of `train_one` for one run: the cpu preset, plus what the study sets (another `model` than the preset's)."
    kw = dict(preset='cpu', seed=seed, data_path=str(a.archive), attacks=ATTACKS, n_eval=a.n_eval, epochs=a.epochs,
              burn_in=a.burn_in, n_train=a.n_train, eps_low=eps_low, rule=rule, model=model)
    return {k: v for k, v in kw.items() if v is not None}


def settings_of(method, seed, a, eps_low=None, rule=None, model=None):
    "The JSON-normalised settings of one run, as `result.json` stores them."
    from part_nb.run import run_settings
    s = run_settings(method, 'cifar10', **train_kw(a, seed, eps_low, rule, model))
    return as_json({**s, 'n_aa': a.n_aa, 'data_path': Path(s['data_path']).name}) # the archive by name: the study moves between machines


def plan(a):
    "Jobs (name -> job) and the sweep: ratio -> names of the runs standing for it."
    jobs, sweep = {}, {}
    script = str(Path(__file__).resolve())
    def add(method, seed, priority, ratio=None, eps_low=None, rule=None, name=None):
        name = name or f'{method}-seed{seed}'
        jobs.setdefault(name, dict(name=name, ratio=ratio, dir=str(Path(a.out)/'runs'/name), script=script, priority=priority,
                                   settings=settings_of(method, seed, a, eps_low, rule),
                                   train_kw=train_kw(a, seed, eps_low, rule), cost=COST[method] * a.epochs))
        return name
    for sd in a.seeds:
        for m in a.methods: add(m, sd, 0 if m in ('at', 'part') else 1, PART_RATIO if m.startswith('part') else None)
    eps = settings_of('part', 0, a)['eps']
    if 'at' in a.methods and 'part' in a.methods:
        for r in a.sweep:
            names = []
            for sd in a.sweep_seeds:
                if math.isclose(r, 1.0): names.append(add('at', sd, 0)) # PART with eps_low = eps is AT, weight for weight
                elif math.isclose(r, PART_RATIO): names.append(add('part', sd, 0, PART_RATIO))
                else: names.append(add('part', sd, 2, r, eps_low=r * eps, name=f'part-r{r:g}-seed{sd}'))
            sweep[r] = names
        for b in a.rules: # 'soft' on every seed (does it beat 'paper'?), the reference code's rule on the sweep seeds
            if b != 'paper':
                for sd in (a.seeds if b == 'soft' else a.sweep_seeds): add('part', sd, 2, PART_RATIO, rule=b, name=f'part-{b}-seed{sd}')
        for c in a.controls: # PART's placebo controls (`part_nb.budget.control_budget`), library methods such as part-random
            for sd in a.seeds: add(f'part-{c}', sd, 2, PART_RATIO)
    if a.burn_in > 0: share_burn_in(jobs, a.burn_in, a.epochs)
    return jobs, sweep


# settings that part_nb gained after runs of this study were made, with the only value they can have had for them
ADDED_SETTINGS = {'split': 'fixed'} # CIFAR-10 has always been trained on train/ and evaluated on test/


def migrate(out, checkpoints=True):
    """Add `ADDED_SETTINGS` to the settings stored by earlier runs (result.json, settings.json and, unless a study may be
    running, which `--report` allows, the checkpoints), so that they still count."""
    import torch
    for d in sorted(Path(out).glob('runs/*')):
        for fn in [d/'result.json', d/'settings.json']:
            try: rec = json.loads(fn.read_text())
            except (OSError, ValueError): continue
            st = rec['settings'] if fn.name == 'result.json' else rec
            if all(k in st for k in ADDED_SETTINGS): continue
            for k, v in ADDED_SETTINGS.items(): st.setdefault(k, v)
            write_json(fn, rec)
        for fn in (d.glob('checkpoint*.pth') if checkpoints else []):
            ck = torch.load(fn, map_location='cpu', weights_only=True)
            if not isinstance(ck, dict) or 'settings' not in ck or all(k in ck['settings'] for k in ADDED_SETTINGS): continue
            for k, v in ADDED_SETTINGS.items(): ck['settings'].setdefault(k, v)
            tmp = fn.with_suffix('.tmp'); torch.save(ck, tmp); os.replace(tmp, fn)


# ---------------------------------------------------------------- choosing the model: forward-backward time

def time_models(a, rounds=7):
    "Seconds of one forward-backward pass (with input gradients) of a 128-image batch, candidates alternating, median of `rounds`."
    import torch, torch.nn as nn, torch.nn.functional as F
    from part_nb.models import SmallVGG, ResNet18, PreActBlock
    torch.set_num_threads(2)
    class PreActResNet20(nn.Module): # a narrow pre-activation ResNet-20 (16-32-64 channels), a candidate only
        def __init__(self, w=16):
            super().__init__()
            self.conv = nn.Conv2d(3, w, 3, 1, 1, bias=False)
            blocks, ni = [], w
            for i, nf in enumerate((w, 2*w, 4*w)):
                for j in range(3): blocks.append(PreActBlock(ni, nf, 2 if j == 0 and i > 0 else 1)); ni = nf
            self.blocks, self.bn, self.fc = nn.Sequential(*blocks), nn.BatchNorm2d(ni), nn.Linear(ni, 10)
        def forward(self, x): return self.fc(F.adaptive_avg_pool2d(F.relu(self.bn(self.blocks(self.conv(x)))), 1).flatten(1))
    cands = {'SmallVGG (width 16)': SmallVGG(), 'SmallVGG (width 32)': SmallVGG(width=32),
             'PreAct ResNet-20 (width 16)': PreActResNet20(), 'ResNet-18': ResNet18()}
    x, y = torch.rand(128, 3, 32, 32), torch.randint(0, 10, (128,))
    times = {k: [] for k in cands}
    for r in range(rounds + 1):
        for k, m in (list(cands.items()) if r % 2 else list(cands.items())[::-1]):
            xi = x.clone().requires_grad_()
            t = time.perf_counter(); F.cross_entropy(m(xi), y).backward(); el = time.perf_counter() - t
            if r: times[k].append(el) # round 0 is a warm-up
    rows = {k: dict(params=sum(p.numel() for p in m.parameters()), seconds=sorted(v)[len(v) // 2], best=min(v))
            for (k, m), v in zip(cands.items(), times.values())}
    res = dict(threads=2, batch=128, rounds=rounds, load_avg=os.getloadavg(), date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
               models=rows)
    a.out.mkdir(parents=True, exist_ok=True)
    write_json(a.out/'model_timing.json', res)
    for k, r in rows.items(): print(f"{k}: {r['params']:,} parameters, {r['seconds']:.3f} s (best {r['best']:.3f} s)")
    return res


def load_timing(a):
    "The timing of the candidate models (`--time_models`), if it was done."
    try: return json.loads((a.out/'model_timing.json').read_text())
    except (OSError, ValueError): return None


# ---------------------------------------------------------------- main

def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--archive', type=Path, default=ARCHIVE, help='CIFAR-10 archive or folder [../shared/data/cifar10-jpeg.tgz]')
    p.add_argument('--methods', nargs='+', default=['at', 'part', 'trades', 'part-t'], choices=['at', 'part', 'trades', 'part-t'])
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--epochs', type=int, default=12)
    p.add_argument('--burn_in', type=int, default=3)
    p.add_argument('--n_train', type=int, default=10_000)
    p.add_argument('--n_eval', type=int, default=2000, help='test images for PGD-20, CW and MMA')
    p.add_argument('--n_aa', type=int, default=500, help='test images for AutoAttack (and the worst case of all four)')
    p.add_argument('--sweep', nargs='*', type=float, default=[1.0, 0.875, 0.75, 0.5], help="PART's eps_low/eps ratios")
    p.add_argument('--sweep_seeds', nargs='*', type=int, default=[0])
    p.add_argument('--rules', '--budgets', dest='rules', nargs='*', default=['paper', 'reference', 'soft'],
                   help="PART's budget rules: 'soft' runs on every seed, 'reference' on the sweep seeds")
    p.add_argument('--controls', nargs='*', default=['random'], choices=['random', 'inverse', 'uniform'],
                   help="PART's placebo controls on every seed (methods part-random, ...): 'random' keeps each image's number of pixels "
                        "at eps but places them at random; bench_placebo.py runs the others")
    p.add_argument('--core', action='store_true', help='only AT and PART on the seeds (no TRADES, sweep or reference rule)')
    p.add_argument('--workers', type=int, default=2, help='runs in parallel, one process and one torch thread each')
    p.add_argument('--quick', action='store_true', help='AT and PART, seed 0, 2 epochs (1 burn-in) on 512 images, n_eval 100, n_aa 20')
    p.add_argument('--report', action='store_true', help='only aggregate the finished runs: tables, cifar.json, plots')
    p.add_argument('--time_models', action='store_true', help='time the candidate models (forward-backward of 128 images)')
    p.add_argument('--out', type=Path, default=None, help='output folder [bench/cifar, bench/out/cifar-quick with --quick]')
    p.add_argument('--_job', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.core: a.methods, a.sweep, a.rules, a.controls = ['at', 'part'], [], ['paper'], []
    if a.quick:
        a.methods, a.seeds, a.epochs, a.burn_in, a.n_train, a.n_eval, a.n_aa = ['at', 'part'], [0], 2, 1, 512, 100, 20
        a.sweep, a.rules, a.controls = [], ['paper'], []
    a.out = a.out or (BENCH/'out'/'cifar-quick' if a.quick else OUT)
    a.plot = a.out/'tradeoff_cifar.png' if a.quick else BENCH/'tradeoff_cifar.png'
    a.cams = a.out/'cams_cifar.png' if a.quick else BENCH/'cams_cifar.png'
    a.archive = a.archive.resolve() if a.archive else None
    return a


def main(argv=None):
    a = parse(argv)
    warnings.filterwarnings('ignore', category=FutureWarning)
    if a._job: return job_main(a._job, run_job)
    interruptible()
    if a.time_models: return time_models(a)
    if a.archive is None or not a.archive.exists(): sys.exit(f"bench_cifar: no CIFAR-10 archive at {a.archive}: pass --archive path/to/cifar10-jpeg.tgz")
    migrate(a.out, checkpoints=not a.report)
    jobs, sweep = plan(a)
    from cifar_report import report
    if a.report: return report(jobs, sweep, a)
    if not a.quick and load_timing(a) is None: time_models(a)
    results = run_jobs(jobs, a.workers)
    report(jobs, sweep, a)
    if any(r is None for r in results.values()): sys.exit(1)


if __name__ == '__main__': main()
