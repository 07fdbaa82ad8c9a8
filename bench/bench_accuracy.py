"""What PART buys on real data: AT, PART, TRADES, PART-T, MART and PART-M on MNIST-5k over several seeds, robust accuracy
under PGD-40, CW, MMA and AutoAttack, and a sweep of PART's eps_low/eps.

    .venv/bin/python bench/bench_accuracy.py            # the study (resumable: finished runs are reused)
    .venv/bin/python bench/bench_accuracy.py --quick    # AT and PART, 1 seed, 2 epochs on 512 digits: a smoke test

Every run has the schedule of `part_nb.run.DEFAULTS['mnist5k']` (SmallCNN, eps 0.2, eps_low 0.175, step 0.03, PGD-10,
Adam 1e-3, batch 128, all 4,000 training digits) except the number of epochs and of burn-in epochs, which are set
by the time limit (below). Each run is `part_nb.run.train_one` (natural, PGD-40, CW and MMA accuracy on the first
`--n_eval` validation digits), followed by AutoAttack (standard) with the other three attacks again on the first
`--n_aa` digits, so that the worst case over all four attacks is taken digit by digit. The sweep trains PART (loss
'ce') with eps_low = ratio * eps; ratio 1.0 is exactly AT (nbs/05_callback tests that `PARTCallback(eps_low=eps)`
trains weight for weight like `ATCallback`), so the AT run of the same seed stands for it, and ratio 7/8 is the
main PART run.

PART's burn-in is its baseline's training, so it is done once: the baseline run of a seed keeps its checkpoint at the
end of the burn-in (`train_one(keep=...)`) and the PART runs of that seed (the sweep included) continue from it
(`train_one(init_from=...)`), as soon as it is written. tests/test_cli.py checks that this gives PART the same weights
as training it from scratch; `--no_share_burn_in` trains every run from scratch all the same.

Runs go to `--workers` subprocesses at a time, each with one torch thread. A finished run writes
bench/out/runs/<name>/result.json (settings, robustness tables, AutoAttack accuracy, time per epoch, per-epoch
history); a later invocation reuses it when the settings match, and continues an interrupted run from its last
epoch checkpoint, so an interrupted `make bench` picks up where it stopped. Output: bench/out/accuracy.json and the
trade-off plot bench/tradeoff_mnist.png (natural against AutoAttack accuracy).

Time budget. One AT run of the default schedule, measured before choosing it (one torch thread, a second process
running part of the time): 32-33 s per training epoch of the 4,000 digits; 82 s for natural, PGD-40, CW and MMA on
the 1,000 validation digits; AutoAttack 42 s on 20 digits and 139 s on 50. AT leaves the loss plateau only in its
second epoch (53% natural accuracy after it, 92% after the fifth), so the CAMs of PART mean something from the third
epoch on: 5 epochs with 2 of burn-in (PART reweights in 3 of 5, the paper in 60 of 80). With the shared burn-in the
22 runs (6 methods x 3 seeds + 4 sweep ratios) train 9 x 5 + 13 x 3 = 84 epochs, ~2,800 CPU-s, then evaluate for
~22 x (82 + ~110) CPU-s: ~7,000 CPU-s, just under an hour on 2 cores. Measured (the run behind bench/RESULTS.md):
13,600 run-seconds for the 22 runs, two at a time, with other jobs on the CPU part of the time: 45-75 s per training
epoch and 150-340 s of AutoAttack per run, so about twice the plan; `--n_aa 20` or fewer seeds bring it back towards an
hour. With 50 digits AutoAttack has a sampling error of about +-7 points per run; the worst case of PGD-40/CW/MMA on 1,000 digits is the more precise robustness figure.
"""
import argparse, datetime, json, math, sys, time, warnings
from pathlib import Path
from _common import METHODS, PAIRS, PAIR_COLOURS, as_json, write_json, mean_std, paired_diffs, hms, cell, machine_info
from _runner import COST, RESULT_VERSION, job_main, train_or_resume, share_burn_in, run_jobs

BENCH = Path(__file__).parent
OUT = BENCH / 'out'
ATTACKS = ('natural', 'pgd40', 'cw', 'mma')
AA_ATTACKS = ('natural', 'pgd40', 'cw', 'mma', 'aa')
COLUMNS = {'natural': 'natural', 'pgd40': 'PGD-40', 'cw': 'CW', 'mma': 'MMA', 'worst3': 'worst of 3', 'aa': 'AutoAttack',
           'worst4': 'worst of 4'} # per run: the first three and worst3 on n_eval digits, aa and worst4 on n_aa digits
PART_RATIO = 7 / 8 # eps_low/eps of the main PART runs


# ---------------------------------------------------------------- one run (in a worker process)

def run_job(job):
    "Train and evaluate one run (in a worker); write and return its result."
    import torch
    from part_nb.run import run_settings, make_dls, make_model
    from part_nb.evaluate import evaluate_robustness
    out, s = Path(job['dir']), job['settings']
    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    kw = dict(seed=s['seed'], epochs=s['epochs'], burn_in=s['burn_in'], eps_low=s['eps_low'], n_train=s['n_train'],
              attacks=tuple(s['attacks']), n_eval=s['n_eval'])
    met, resumed, init = train_or_resume(job, 'mnist5k', kw)
    t1, c1 = time.perf_counter(), time.process_time()
    rs = run_settings(s['method'], 'mnist5k', **kw)
    dls = make_dls(rs)
    model = make_model(rs['model'], dls.c, 1)
    model.load_state_dict(torch.load(out/'model.pth', map_location='cpu', weights_only=True))
    table = evaluate_robustness(model.eval(), dls.valid, rs['eps'], attacks=AA_ATTACKS, n=s['n_aa'], seed=s['seed'], progress=False)
    aa_table = {k: float(v) for k, v in table['accuracy'].items()}
    t2, c2 = time.perf_counter(), time.process_time()
    hist = met['epochs']
    result = dict(version=RESULT_VERSION, name=job['name'], method=s['method'], seed=s['seed'], ratio=job['ratio'],
                  settings=s, robustness=met['robustness'], robustness_aa_subset=aa_table,
                  accuracy={'natural': met['robustness']['natural'], 'pgd40': met['robustness']['pgd40'],
                            'cw': met['robustness']['cw'], 'mma': met['robustness']['mma'],
                            'worst3': met['robustness']['worst-case'], 'aa': aa_table['aa'], 'worst4': aa_table['worst-case']},
                  time_per_epoch=met['time_per_epoch'],
                  time_train_per_epoch=sum(r['time_train'] for r in hist) / len(hist) if hist else None,
                  history=hist, resumed_from=resumed, init_from=init, threads=torch.get_num_threads(),
                  seconds=dict(train_and_eval=round(t1 - t0, 1), autoattack=round(t2 - t1, 1), total=round(t2 - t0, 1)),
                  cpu_seconds=dict(train_and_eval=round(c1 - c0, 1), autoattack=round(c2 - c1, 1)),
                  finished=datetime.datetime.now().astimezone().isoformat(timespec='seconds'))
    write_json(out/'result.json', result)
    (out/'checkpoint.pth').unlink(missing_ok=True) # 9 MB a run; result.json, model.pth (and a burn-in checkpoint) are kept
    return result


# ---------------------------------------------------------------- the plan

def settings_of(method, seed, a, eps_low=None):
    "The JSON-normalised settings of one run, as `result.json` stores them."
    from part_nb.run import run_settings
    s = run_settings(method, 'mnist5k', seed=seed, epochs=a.epochs, burn_in=a.burn_in, n_train=a.n_train,
                     eps_low=eps_low, attacks=ATTACKS, n_eval=a.n_eval)
    return as_json({**s, 'n_aa': a.n_aa})


def plan(a):
    "Jobs (name -> job) and the sweep: ratio -> names of the runs standing for it."
    jobs, sweep = {}, {}
    script = str(Path(__file__).resolve())
    def add(method, seed, ratio=None, eps_low=None, name=None):
        name = name or f'{method}-seed{seed}'
        jobs.setdefault(name, dict(name=name, ratio=ratio, dir=str(Path(a.out)/'runs'/name), script=script,
                                   settings=settings_of(method, seed, a, eps_low), cost=COST[method] * a.epochs))
        return name
    for sd in a.seeds:
        for m in a.methods: add(m, sd, PART_RATIO if m.startswith('part') else None)
    eps = settings_of('part', 0, a)['eps']
    ratios = list(a.sweep)
    if 'part' in a.methods and set(a.sweep_seeds) <= set(a.seeds) and ratios and not any(math.isclose(r, PART_RATIO) for r in ratios):
        ratios.append(PART_RATIO) # free: the main PART runs
    for r in ratios:
        names = []
        for sd in a.sweep_seeds:
            if math.isclose(r, 1.0): names.append(add('at', sd)) # PART with eps_low = eps is AT, weight for weight
            elif math.isclose(r, PART_RATIO): names.append(add('part', sd, PART_RATIO))
            else: names.append(add('part', sd, r, eps_low=r * eps, name=f'part-r{r:g}-seed{sd}'))
        sweep[r] = names
    if a.share_burn_in and a.burn_in > 0: share_burn_in(jobs, a.burn_in, a.epochs)
    return jobs, sweep


# ---------------------------------------------------------------- aggregation


def aggregate(jobs, sweep, results, a):
    "Summary per method (mean, std over seeds), paired differences PART - baseline per seed, and the sweep table."
    runs = [r for r in results.values() if r is not None]
    summary = {}
    for m in a.methods:
        rs = [r for r in runs if r['name'] == f"{m}-seed{r['seed']}" and r['method'] == m and r['seed'] in a.seeds]
        if not rs: continue
        summary[m] = dict(seeds=sorted(r['seed'] for r in rs),
                          **{c: dict(zip(('mean', 'std'), mean_std([r['accuracy'][c] for r in rs]))) for c in COLUMNS},
                          time_train_per_epoch=dict(zip(('mean', 'std'), mean_std([r['time_train_per_epoch'] for r in rs]))))
    paired = {}
    for base, part in PAIRS:
        if base not in summary or part not in summary: continue
        seeds = [sd for sd in a.seeds if results.get(f'{base}-seed{sd}') and results.get(f'{part}-seed{sd}')]
        paired[f'{part} - {base}'] = paired_diffs(results, part, base, seeds, COLUMNS)
    sweep_rows = []
    eps = settings_of('part', 0, a)['eps']
    for r, names in sorted(sweep.items(), reverse=True):
        rs = [results.get(n) for n in names]
        if not all(rs): continue
        sweep_rows.append(dict(ratio=r, eps_low=round(r * eps, 6), runs=names, seeds=[x['seed'] for x in rs],
                               **{c: mean_std([x['accuracy'][c] for x in rs])[0] for c in COLUMNS}))
    return summary, paired, sweep_rows


def plot(summary, sweep_rows, fn, title, n_eval, n_aa, sweep_seeds=(0,)):
    """Natural accuracy against AutoAttack (left) and against the worst of PGD-40/CW/MMA (right): mean +- std per method
    (baseline hollow square, PART filled circle), and the sweep of eps_low/eps as a dotted curve."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 2, figsize=(9.6, 3.9))
    for ax, rob, label in ((axs[0], 'aa', f'AutoAttack accuracy (%, {n_aa} digits)'),
                           (axs[1], 'worst3', f'worst of PGD-40, CW, MMA (%, {n_eval} digits)')):
        for m, s in summary.items():
            if s[rob]['mean'] is None: continue
            part = m.startswith('part')
            ax.errorbar(s['natural']['mean'], s[rob]['mean'], xerr=s['natural']['std'], yerr=s[rob]['std'], fmt='o' if part else 's',
                        mfc=PAIR_COLOURS[m] if part else 'white', color=PAIR_COLOURS[m], capsize=3, label=m, ms=6)
        rows = [r for r in sweep_rows if r[rob] is not None]
        if rows:
            xs, ys = [r['natural'] for r in rows], [r[rob] for r in rows]
            ax.plot(xs, ys, ':', color='gray', marker='.', label=f"PART, eps_low/eps sweep (seed {' '.join(map(str, sweep_seeds))})", zorder=0)
            for r, x, y in zip(rows, xs, ys): ax.annotate(f"{r['ratio']:g}", (x, y), textcoords='offset points', xytext=(4, 3), fontsize=7, color='gray')
        ax.set_xlabel(f'natural accuracy (%, {n_eval} digits)'); ax.set_ylabel(label); ax.grid(alpha=.3)
    axs[0].legend(fontsize=7, ncol=2)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(); Path(fn).parent.mkdir(parents=True, exist_ok=True); fig.savefig(fn, dpi=100); plt.close(fig)


def print_tables(summary, paired, sweep_rows):
    print('\n| method | ' + ' | '.join(COLUMNS.values()) + ' | s/epoch (training) |')
    print('|---|' + '---:|' * (len(COLUMNS) + 1))
    for m, s in summary.items(): print(f'| {m} | ' + ' | '.join(cell(s[c]) for c in COLUMNS) + f" | {cell(s['time_train_per_epoch'], 0)} |")
    if paired:
        print('\n| paired difference | ' + ' | '.join(COLUMNS.values()) + ' |')
        print('|---|' + '---:|' * len(COLUMNS))
        for k, d in paired.items(): print(f'| {k} | ' + ' | '.join(cell(d[c]) for c in COLUMNS) + ' |')
    if sweep_rows:
        print('\n| eps_low/eps | eps_low | ' + ' | '.join(COLUMNS.values()) + ' | runs |')
        print('|---|---|' + '---:|' * len(COLUMNS) + '---|')
        for r in sweep_rows:
            print(f"| {r['ratio']:g} | {r['eps_low']:.4g} | " + ' | '.join('n/a' if r[c] is None else f'{r[c]:.1f}' for c in COLUMNS)
                  + f" | {', '.join(r['runs'])} |")


# ---------------------------------------------------------------- main

def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--epochs', type=int, default=5, help='epochs per run, burn-in included (set by the time limit)')
    p.add_argument('--burn_in', type=int, default=2, help="epochs trained like AT before PART reweights pixels")
    p.add_argument('--n_train', type=int, default=None, help='training digits (all 4,000 when not given)')
    p.add_argument('--n_eval', type=int, default=1000, help='validation digits for natural, PGD-40, CW and MMA accuracy')
    p.add_argument('--n_aa', type=int, default=50, help='validation digits for AutoAttack (and the worst case of all four)')
    p.add_argument('--sweep', nargs='*', type=float, default=[1.0, 0.9, 0.8, 0.67, 0.5], help="PART's eps_low/eps ratios")
    p.add_argument('--sweep_seeds', nargs='*', type=int, default=[0])
    p.add_argument('--no_share_burn_in', dest='share_burn_in', action='store_false',
                   help="train every PART run from scratch instead of from its baseline's burn-in checkpoint (same weights, more time)")
    p.add_argument('--workers', type=int, default=2, help='runs in parallel, one process and one torch thread each')
    p.add_argument('--quick', action='store_true', help='at and part, seed 0, 2 epochs (1 burn-in) on 512 digits, n_eval 200, n_aa 20, sweep 1.0 0.5')
    p.add_argument('--out', default=None, help='output folder [bench/out, bench/out/quick with --quick]')
    p.add_argument('--_job', default=None, help=argparse.SUPPRESS)
    p.add_argument('--replot', action='store_true', help="only draw the plot again from <out>/accuracy.json, training nothing")
    p.add_argument('--plot', default=None, help='trade-off plot [bench/tradeoff_mnist.png, <out>/tradeoff_mnist.png with --quick]')
    a = p.parse_args(argv)
    if a.quick:
        a.methods, a.seeds, a.epochs, a.burn_in, a.n_train, a.n_eval, a.n_aa = ['at', 'part'], [0], 2, 1, 512, 200, 20
        a.sweep, a.sweep_seeds = [1.0, 0.5], [0]
    a.out = Path(a.out or (OUT/'quick' if a.quick else OUT))
    a.plot = Path(a.plot or (a.out/'tradeoff_mnist.png' if a.quick else BENCH/'tradeoff_mnist.png'))
    return a


def main(argv=None):
    a = parse(argv)
    warnings.filterwarnings('ignore', category=FutureWarning) # torch.jit.script's deprecation, raised by an import
    if a._job: return job_main(a._job, run_job)
    if a.replot:
        acc = json.loads((a.out/'accuracy.json').read_text())
        st = acc['settings']
        title = f"MNIST-5k, SmallCNN, eps {st['eps']:g}, {st['epochs']} epochs ({st['burn_in']} burn-in), seeds {' '.join(map(str, acc['seeds']))}"
        plot(acc['summary'], acc['sweep'], a.plot, title, st['n_eval'], st['n_aa'], acc['sweep_seeds'])
        return print(f"drawn {a.plot} from {a.out/'accuracy.json'}")
    from part_nb.run import DEFAULTS
    t0 = time.perf_counter()
    jobs, sweep = plan(a)
    results = run_jobs(jobs, a.workers)
    summary, paired, sweep_rows = aggregate(jobs, sweep, results, a)
    d = DEFAULTS['mnist5k']
    title = f"MNIST-5k, SmallCNN, eps {d['eps']:g}, {a.epochs} epochs ({a.burn_in} burn-in), seeds {' '.join(map(str, a.seeds))}"
    plot(summary, sweep_rows, a.plot, title, a.n_eval, a.n_aa, a.sweep_seeds)
    print_tables(summary, paired, sweep_rows)
    s0 = next(iter(jobs.values()))['settings']
    out = dict(command=' '.join(['.venv/bin/python', 'bench/bench_accuracy.py'] + (sys.argv[1:] if argv is None else list(argv))),
               **machine_info(), threads_per_run=1, workers=a.workers, quick=a.quick,
               settings={k: s0[k] for k in ('data', 'model', 'eps', 'alpha', 'steps', 'opt', 'lr', 'wd', 'bs', 'n_train',
                                            'n_valid', 'epochs', 'burn_in', 'cam_method', 'beta', 'attacks', 'n_eval', 'n_aa')},
               eps_low_part=round(PART_RATIO * s0['eps'], 6), methods=a.methods, seeds=a.seeds, sweep_ratios=sorted(sweep, reverse=True),
               sweep_seeds=a.sweep_seeds, columns=COLUMNS,
               why=(f"epochs {a.epochs} (burn-in {a.burn_in}), n_eval {a.n_eval} and n_aa {a.n_aa} are "
                    + ("the quick smoke test's settings" if a.quick else "set by the time limit of about one hour on 2 CPU cores")
                    + "; everything else is part_nb.run.DEFAULTS['mnist5k']"),
               summary=summary, paired_differences=paired, sweep=sweep_rows,
               runs={n: (None if r is None else {k: v for k, v in r.items() if k != 'history'}) for n, r in results.items()},
               reused=sorted(n for n, r in results.items() if r and r.get('reused')),
               failed=sorted(n for n, r in results.items() if r is None),
               wall_seconds=round(time.perf_counter() - t0, 1), plot=str(a.plot))
    write_json(a.out/'accuracy.json', out)
    print(f"\nwritten to {a.out/'accuracy.json'} and {a.plot} in {hms(out['wall_seconds'])}")
    if out['failed']: sys.exit(1)


if __name__ == '__main__': main()
