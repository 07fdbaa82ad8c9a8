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
Runs go to `--workers` subprocesses with one torch thread each; each run checkpoints every epoch and writes
bench/cifar/runs/<name>/result.json when done, so a stopped study continues where it was with the same command.
Runs are done in order of priority: the core (AT, PART; seeds 0, 1, 2) first, then TRADES and PART-T, then the sweep
and the reference rule and the control (`--controls random`: the library's method `part-random`, PART whose pixels at
eps are as many as the CAM gives each image, but placed at random, to test whether the CAM's choice of pixels matters;
bench_placebo.py runs the other controls). `--report` writes bench/cifar/cifar.json, bench/tradeoff_cifar.png and bench/cams_cifar.png
from whatever has finished.
"""
import argparse, datetime, json, math, os, platform, re, signal, sys, time, warnings
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import bench_accuracy as BA # the runner (subprocesses, resume, reuse) of the MNIST-5k study
from _common import PAIRS, BASELINE, as_json, write_json, mean_std, paired_diffs, paired_t, cell, replace_section

ROOT = BENCH.parent
from part_nb.testing import cifar10_archive
ARCHIVE = cifar10_archive() # ../shared/data/cifar10-jpeg.tgz, or None
OUT = BENCH/'cifar' # committed: a study that spans sessions continues from what is here
ATTACKS = ('natural', 'pgd20', 'cw', 'mma')
AA_ATTACKS = ATTACKS + ('aa',)
COLUMNS = {'natural': 'natural (10,000)', 'pgd20': 'PGD-20', 'cw': 'CW', 'mma': 'MMA', 'worst3': 'worst of 3',
           'aa': 'AutoAttack', 'worst4': 'worst of 4'}
PART_RATIO = 7 / 8
RESULT_VERSION = 1


def own_epochs(r, burn_in):
    "The epochs a run trained itself: a PART run's first `burn_in` epochs are its baseline's, copied with the checkpoint."
    return [e for e in r['history'] if e['epoch'] >= (burn_in if r['method'] in BASELINE else 0)]


def train_seconds_per_epoch(r, burn_in):
    "Mean training seconds of the epochs a run trained itself (without the validation pass)."
    own = own_epochs(r, burn_in)
    return sum(e['time_train'] for e in own) / len(own) if own else None


def run_seconds(results, burn_in):
    """name -> seconds of each finished run, as the sum of its measured parts: its own epochs (training and validation),
    the PGD-20/CW/MMA evaluation, natural accuracy on 10,000 images and AutoAttack. The evaluation is timed only in a run
    that was not resumed (a resumed run's process did part of the work); elsewhere it is the mean of those that were."""
    epochs = {n: sum(e['time_epoch'] for e in own_epochs(r, burn_in)) for n, r in results.items()}
    ev = {n: r['seconds']['train_and_eval'] - epochs[n] for n, r in results.items()
          if not r['resumed_from'] and r['seconds']['train_and_eval'] > epochs[n]}
    ev_mean = sum(ev.values()) / len(ev) if ev else 0.
    return {n: dict(epochs=round(epochs[n], 1), eval=round(ev.get(n, ev_mean), 1), eval_measured=n in ev,
                    natural_10k=r['seconds']['natural_10k'], autoattack=r['seconds']['autoattack'],
                    total=round(epochs[n] + ev.get(n, ev_mean) + r['seconds']['natural_10k'] + r['seconds']['autoattack'], 1))
            for n, r in results.items()}


def budget_share(results, burn_in):
    """name -> (% of pixels at eps, mean budget in 1/255) over the reweighted epochs of each PART run."""
    out = {}
    for n, r in results.items():
        es = [e for e in own_epochs(r, burn_in) if 'important_px' in e]
        if r['method'].startswith('part') and es:
            out[n] = dict(px=100 * sum(e['important_px'] for e in es) / len(es), budget=255 * sum(e['mean_budget'] for e in es) / len(es))
    return out


# ---------------------------------------------------------------- one run (in a worker process)

def run_job(job):
    "Train and evaluate one run (in a worker); write and return its result."
    import torch
    from part_nb.run import run_settings, make_dls, make_model, CONTROL_METHODS
    from part_nb.evaluate import evaluate_robustness
    out, s, kw = Path(job['dir']), job['settings'], job['train_kw']
    out.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    met, resumed, init = BA.train_or_resume(job, 'cifar10', kw, skip=('n_aa', 'data_path'))
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
                  budget=s['budget'], control=CONTROL_METHODS.get(s['method'], (None, None))[1], settings=s, robustness=r, robustness_aa_subset=aa_table,
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


def _interruptible():
    "SIGINT and SIGTERM raise KeyboardInterrupt, also when started in the background (where the shell ignores SIGINT)."
    for sig in (signal.SIGINT, signal.SIGTERM): signal.signal(sig, signal.default_int_handler)


def job_main(fn):
    "Entry point of a run's subprocess: SIGTERM interrupts like Ctrl-C (a checkpoint is written), then `BA.job_main`."
    _interruptible()
    BA.job_main(fn, run_job)


# ---------------------------------------------------------------- the plan

def train_kw(a, seed, eps_low=None, budget=None, model=None):
    "The overrides of `train_one` for one run: the cpu preset, plus what the study sets (another `model` than the preset's)."
    kw = dict(preset='cpu', seed=seed, data_path=str(a.archive), attacks=ATTACKS, n_eval=a.n_eval, epochs=a.epochs,
              burn_in=a.burn_in, n_train=a.n_train, eps_low=eps_low, budget=budget, model=model)
    return {k: v for k, v in kw.items() if v is not None}


def settings_of(method, seed, a, eps_low=None, budget=None, model=None):
    "The JSON-normalised settings of one run, as `result.json` stores them."
    from part_nb.run import run_settings
    s = run_settings(method, 'cifar10', **train_kw(a, seed, eps_low, budget, model))
    return as_json({**s, 'n_aa': a.n_aa, 'data_path': Path(s['data_path']).name}) # the archive by name: the study moves between machines


def plan(a):
    "Jobs (name -> job) and the sweep: ratio -> names of the runs standing for it."
    jobs, sweep = {}, {}
    script = str(Path(__file__).resolve())
    def add(method, seed, priority, ratio=None, eps_low=None, budget=None, name=None):
        name = name or f'{method}-seed{seed}'
        jobs.setdefault(name, dict(name=name, ratio=ratio, dir=str(Path(a.out)/'runs'/name), script=script, priority=priority,
                                   settings=settings_of(method, seed, a, eps_low, budget),
                                   train_kw=train_kw(a, seed, eps_low, budget), cost=BA.COST[method] * a.epochs))
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
        for b in a.budgets: # 'soft' on every seed (does it beat 'paper'?), the reference code's rule on the sweep seeds
            if b != 'paper':
                for sd in (a.seeds if b == 'soft' else a.sweep_seeds): add('part', sd, 2, PART_RATIO, budget=b, name=f'part-{b}-seed{sd}')
        for c in a.controls: # PART's placebo controls (`part_nb.budget.control_budget`), library methods such as part-random
            for sd in a.seeds: add(f'part-{c}', sd, 2, PART_RATIO)
    if a.burn_in > 0: # PART's burn-in is its baseline's training: do it once, in the baseline's run
        for job in jobs.values():
            base = f"{BASELINE.get(job['settings']['method'])}-seed{job['settings']['seed']}"
            if base not in jobs: continue
            jobs[base]['keep'] = [a.burn_in]
            job.update(after=base, init_from=str(Path(jobs[base]['dir'])/f'checkpoint-epoch{a.burn_in}.pth'),
                       cost=BA.COST[job['settings']['method']] * (a.epochs - a.burn_in))
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


# ---------------------------------------------------------------- statistics and report

def finished(jobs):
    "name -> result.json of the runs finished with the planned settings."
    out = {}
    for name, job in jobs.items():
        try: res = json.loads((Path(job['dir'])/'result.json').read_text())
        except (OSError, ValueError): continue
        if res.get('version') == RESULT_VERSION and res.get('settings') == job['settings']: out[name] = res
    return out


def aggregate(results, a):
    "Summary per method (mean, std over seeds), paired differences PART - baseline per seed, sweep and budget rows."
    summary = {}
    for m in a.methods:
        rs = [results[f'{m}-seed{sd}'] for sd in a.seeds if f'{m}-seed{sd}' in results]
        if not rs: continue
        summary[m] = dict(seeds=[r['seed'] for r in rs],
                          **{c: dict(zip(('mean', 'std'), mean_std([r['accuracy'][c] for r in rs]))) for c in COLUMNS},
                          time_train_per_epoch=dict(zip(('mean', 'std'), mean_std([train_seconds_per_epoch(r, a.burn_in) for r in rs]))))
    paired = {}
    for base, part in PAIRS:
        seeds = [sd for sd in a.seeds if f'{base}-seed{sd}' in results and f'{part}-seed{sd}' in results]
        if seeds: paired[f'{part} - {base}'] = paired_diffs(results, part, base, seeds, COLUMNS)
    return summary, paired


def variant_runs(results):
    "PART variant (another budget rule, another eps_low/eps, a control: `part-<what>`) -> the names of its finished runs."
    out = {}
    for n in results:
        v = n.rsplit('-seed', 1)[0]
        if v.startswith('part-') and v != 'part-t': out.setdefault(v, []).append(n)
    return out


def seeds_label(names):
    "'seed 0' or 'seeds 0 1 2', from run names."
    return f"seed{'s' if len(names) > 1 else ''} {' '.join(n.rsplit('seed', 1)[1] for n in names)}"


def variant_pairs(results, a):
    """Each PART variant against PART with the paper's rule and against AT, on the seeds where both ran: the paired
    differences that say whether the variant changed anything."""
    out = {}
    for v, names in sorted(variant_runs(results).items()):
        for base in ('part', 'at'):
            seeds = sorted(int(n.rsplit('seed', 1)[1]) for n in names if f'{base}-seed{n.rsplit("seed", 1)[1]}' in results)
            if seeds: out[f'{v} - {base}'] = paired_diffs(results, v, base, seeds, COLUMNS)
    return out


def verdict(paired, conclude=True):
    """The verdict on the paper's claim (higher natural accuracy at equal robustness), computed as for MNIST-5k in
    bench/run.py: a paired difference counts only when its paired t clears the two-sided 95% threshold. One line per pair,
    then (`conclude`) the conclusion about PART."""
    one = lambda d: paired_t(d, d['n'])
    lines, helped, hurt, n_max = [], [], [], 0
    for k, d in paired.items():
        (nat, snat), (w3, sw3), (aa, saa) = one(d['natural']), one(d['worst3']), one(d['aa'])
        n_max = max(n_max, d['natural']['n'])
        lines.append(f"{k}: natural {nat}; worst of PGD-20/CW/MMA {w3}; AutoAttack {aa} (points, {d['natural']['n']} seed(s))")
        if snat > 0 and sw3 >= 0 and saa >= 0: helped.append(k)
        if snat < 0 or sw3 < 0 or saa < 0: hurt.append(k)
    if not paired or not conclude: return lines
    if n_max < 2: lines.append("With one seed there is no seed-to-seed spread to compare with: no conclusion either way yet.")
    elif helped and not hurt: lines.append(f"PART helped at this scale for {', '.join(helped)}: natural accuracy rose beyond the seed spread and robustness did not fall beyond it.")
    elif hurt and not helped: lines.append(f"PART did not help at this scale: for {', '.join(hurt)} at least one accuracy fell beyond the seed spread, and no pair gained natural accuracy beyond it.")
    elif helped or hurt: lines.append(f"Mixed: PART helped beyond the seed spread for {', '.join(helped) or 'no pair'} and did worse for {', '.join(hurt) or 'no pair'}.")
    else: lines.append("PART made no measurable difference at this scale: no difference clears the seed-to-seed spread, in either direction.")
    return lines


# placebo control -> (what it does, the reading when it keeps PART's natural gain, the reading when it loses it)
CONTROLS = {
    'part-random': ("as many pixels at eps per image as PART's CAM gives, placed at random",
                    "the CAM's choice of pixels made no difference that shows, and the lower mean budget did the work",
                    "the CAM's choice of pixels mattered"),
    'part-inverse': ("as many pixels at eps per image as PART's CAM gives, on the pixels the CAM ranks least important",
                     "even the worst placement did as well: the CAM's choice of pixels made no difference that shows",
                     "the CAM's choice of pixels mattered"),
    'part-uniform': ("each image's mean PART budget on all its pixels: AT at a budget matched to PART's, image by image",
                     "the lower mean budget alone gives PART's gain", "how PART spreads its budget over the pixels mattered"),
}


def control_lines(vp, base_of=lambda v: 'part'):
    """What each control says: does it keep PART's natural gain over AT when the CAM no longer places the budget?
    Kept (the control's gain over AT is at least half of PART's, seed for seed) or lost. `base_of(variant)` names the
    PART runs a control is compared with (PART at the same eps_low)."""
    out = []
    for k in vp:
        v, base = k.split(' - ')
        c = v.split('-r')[0] if v.split('-r')[0] in CONTROLS else v
        part_name = base_of(v)
        if base != 'at' or c not in CONTROLS or f'{v} - {part_name}' not in vp: continue
        ctl, diff = vp[k], vp[f'{v} - {part_name}']
        part = [a - d for a, d in zip(ctl['natural']['diffs'], diff['natural']['diffs'])] # PART - AT on the same seeds
        kept = sum(ctl['natural']['diffs']) >= sum(part) / 2 > 0
        seeds = f"seed{'s' if len(part) > 1 else ''} {' '.join(map(str, ctl['seeds']))}"
        what, yes, no = CONTROLS[c]
        out.append(f"Control '{v.split('-', 1)[1]}' ({seeds}): {what}. Against AT it gains {ctl['natural']['mean']:+.1f} natural "
                   f"({part_name} {sum(part) / len(part):+.1f} on the same {seeds.split()[0]}), {ctl['worst3']['mean']:+.1f} worst of 3 "
                   f"and {ctl['aa']['mean']:+.1f} AutoAttack; against {part_name} {diff['natural']['mean']:+.1f}, "
                   f"{diff['worst3']['mean']:+.1f} and {diff['aa']['mean']:+.1f} points. "
                   + (f"It kept PART's natural gain: on {'this seed' if len(part) == 1 else 'these seeds'} {yes}." if kept else
                      f"It lost most of PART's natural gain: {no}."))
    return out


def markdown_tables(summary, paired, results, sweep, a, vp):
    "The Markdown tables of the report."
    md = ['| method | seeds | ' + ' | '.join(COLUMNS.values()) + ' | s/epoch (training) |', '|---|---|' + '---:|' * (len(COLUMNS) + 1)]
    for m, s in summary.items():
        md.append(f"| {m} | {' '.join(map(str, s['seeds']))} | " + ' | '.join(cell(s[c]) for c in COLUMNS)
                  + f" | {cell(s['time_train_per_epoch'], 0)} |")
    if paired:
        md += ['', '| paired difference (points) | seeds | ' + ' | '.join(COLUMNS.values()) + ' |', '|---|---|' + '---:|' * len(COLUMNS)]
        for k, d in paired.items(): md.append(f"| {k} | {' '.join(map(str, d['seeds']))} | " + ' | '.join(cell(d[c]) for c in COLUMNS) + ' |')
    extra = [(f"eps_low/eps {r:g} ({seeds_label(names)})", names) for r, names in sorted(sweep.items(), reverse=True)]
    runs = variant_runs(results)
    extra += [(f"budget '{b}' ({seeds_label(runs[f'part-{b}'])})", runs[f'part-{b}']) for b in a.budgets if f'part-{b}' in runs]
    extra += [(f"control '{c}' ({seeds_label(runs[f'part-{c}'])})", runs[f'part-{c}']) for c in a.controls if f'part-{c}' in runs]
    rows = [(label, [results[n] for n in names]) for label, names in extra if all(n in results for n in names)]
    if rows:
        md += ['', '| PART variant | ' + ' | '.join(COLUMNS.values()) + ' |', '|---|' + '---:|' * len(COLUMNS)]
        for label, rs in rows:
            md.append(f'| {label} | ' + ' | '.join(f"{mean_std([r['accuracy'][c] for r in rs])[0]:.1f}" for c in COLUMNS) + ' |')
    if vp:
        md += ['', '| paired difference of a PART variant (points) | seeds | ' + ' | '.join(COLUMNS.values()) + ' |',
               '|---|---|' + '---:|' * len(COLUMNS)]
        for k, d in vp.items(): md.append(f"| {k} | {' '.join(map(str, d['seeds']))} | " + ' | '.join(cell(d[c]) for c in COLUMNS) + ' |')
    return '\n'.join(md)


VARIANT_MARKERS = {'part-soft': 'D', 'part-reference': '^', 'part-random': 'v', 'part-inverse': '<', 'part-uniform': 's'}

def plot(summary, results, sweep, fn, title, a):
    "Natural accuracy against AutoAttack (left) and against the worst of PGD-20/CW/MMA (right), with the sweep and PART's variants."
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [(r, [results[n] for n in names]) for r, names in sorted(sweep.items(), reverse=True) if all(n in results for n in names)]
    variants = {v: names for v, names in variant_runs(results).items() if not re.fullmatch(r'part-r[\d.]+', v)} # the sweep has its line
    fig, axs = plt.subplots(1, 2, figsize=(9.6, 3.9))
    for ax, rob, label in ((axs[0], 'aa', f'AutoAttack accuracy (%, {a.n_aa} images)'),
                           (axs[1], 'worst3', f'worst of PGD-20, CW, MMA (%, {a.n_eval} images)')):
        for m, s in summary.items():
            part = m.startswith('part')
            ax.errorbar(s['natural']['mean'], s[rob]['mean'], xerr=s['natural']['std'], yerr=s[rob]['std'], fmt='o' if part else 's',
                        mfc=BA.PAIR_COLOURS[m] if part else 'white', color=BA.PAIR_COLOURS[m], capsize=3, label=f"{m} ({len(s['seeds'])} seeds)", ms=6)
            for sd in s['seeds']:
                r = results[f'{m}-seed{sd}']['accuracy']
                ax.scatter(r['natural'], r[rob], s=10, alpha=.4, color=BA.PAIR_COLOURS[m])
        if len(rows) > 1:
            xs = [mean_std([x['accuracy']['natural'] for x in rs])[0] for _, rs in rows]
            ys = [mean_std([x['accuracy'][rob] for x in rs])[0] for _, rs in rows]
            ax.plot(xs, ys, ':', color='gray', marker='.', zorder=0, label=f"eps_low/eps sweep (seed {' '.join(map(str, a.sweep_seeds))})")
            for (r, _), x, y in zip(rows, xs, ys): ax.annotate(f'{r:g}', (x, y), textcoords='offset points', xytext=(4, 3), fontsize=7, color='gray')
        for v, names in variants.items(): # the other budget rules and the control, beside PART with the paper's rule
            x, y = (mean_std([results[n]['accuracy'][k] for n in names])[0] for k in ('natural', rob))
            ax.scatter(x, y, marker=VARIANT_MARKERS.get(v, 'x'), s=36, color='C3', zorder=3,
                       label=f"{v} ({seeds_label(names)})")
        ax.set_xlabel('natural accuracy (%, 10,000 test images)'); ax.set_ylabel(label); ax.grid(alpha=.3)
    axs[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(); fig.savefig(fn, dpi=100); plt.close(fig)


def plot_cams(run_dir, fn, a, n=8):
    "Test images, their GradCAM under the trained PART model, and the budgets of the 'paper' and 'reference' rules."
    import torch, matplotlib
    matplotlib.use('Agg')
    from part_nb.run import run_settings, make_dls, make_model
    from part_nb.cam import class_activation_map, show_cam
    from part_nb.budget import cam_budget
    s = run_settings('part', 'cifar10', **{**train_kw(a, 0), 'n_valid': n, 'n_eval': n})
    dls = make_dls(s, progress=False)
    model = make_model(s['model'], dls.c, 3)
    model.load_state_dict(torch.load(Path(run_dir)/'model.pth', map_location='cpu', weights_only=True))
    x = dls.valid.one_batch()[0][:n].cpu()
    cmap = class_activation_map(model.eval(), x)
    budgets = {"'paper' budget\n(white: 8/255)": cam_budget(model, x, s['eps'], s['eps_low'], mode='paper'),
               "'reference' budget\n(per channel)": cam_budget(model, x, s['eps'], s['eps_low'], mode='reference')}
    fig = show_cam(x, cmap, budgets, n=n)
    fig.savefig(fn, dpi=90, bbox_inches='tight')


def report(jobs, sweep, a, t0=None):
    "Aggregate what has finished; print the tables; write cifar.json and the plots."
    import torch
    results = finished(jobs)
    secs = run_seconds(results, a.burn_in)
    summary, paired = aggregate(results, a)
    vp = variant_pairs(results, a)
    tables = markdown_tables(summary, paired, results, sweep, a, vp)
    print('\n' + tables)
    lines = verdict(paired)
    for l in lines: print(l)
    title = (f"CIFAR-10 (JPEG), SmallVGG, eps 8/255 (PART: eps_low 7/255), PGD-{settings_of('at', 0, a)['steps']}, "
             f"{a.epochs} epochs ({a.burn_in} burn-in), {a.n_train} training images")
    a.out.mkdir(parents=True, exist_ok=True)
    if summary: plot(summary, results, sweep, a.plot, title, a)
    if 'part-seed0' in results: plot_cams(jobs['part-seed0']['dir'], a.cams, a)
    s0 = next(iter(jobs.values()))['settings']
    out = dict(command=' '.join(['.venv/bin/python', 'bench/bench_cifar.py'] + sys.argv[1:]),
               date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'), platform=platform.platform(),
               nproc=os.cpu_count(), torch=torch.__version__, threads_per_run=1, workers=a.workers, quick=a.quick,
               settings={k: s0[k] for k in ('data', 'model', 'eps', 'alpha', 'steps', 'opt', 'lr', 'mom', 'wd', 'bs', 'schedule', 'pad',
                                            'n_train', 'epochs', 'burn_in', 'cam', 'beta', 'attacks', 'n_eval', 'n_aa')},
               eps_low_part=round(PART_RATIO * s0['eps'], 6), methods=a.methods, seeds=a.seeds, sweep_seeds=a.sweep_seeds,
               planned=sorted(jobs), finished=sorted(results), missing=sorted(set(jobs) - set(results)), columns=COLUMNS,
               summary=summary, paired_differences=paired, variant_differences=vp,
               variant_verdict=verdict(vp, conclude=False), control=control_lines(vp), verdict=lines, tables_markdown=tables,
               runs={n: {k: v for k, v in r.items() if k != 'history'} for n, r in results.items()},
               run_seconds=round(sum(v['total'] for v in secs.values()), 1), seconds=secs, plot=os.path.relpath(a.plot, ROOT),
               cams=os.path.relpath(a.cams, ROOT) if 'part-seed0' in results else None, model_timing=_load_timing(a),
               budget_share=budget_share(results, a.burn_in),
               times={m: dict(train=s['time_train_per_epoch']['mean'],
                              total=mean_std([secs[f'{m}-seed{sd}']['total'] for sd in s['seeds']])[0],
                              autoattack=mean_std([secs[f'{m}-seed{sd}']['autoattack'] for sd in s['seeds']])[0],
                              epochs=len(own_epochs(results[f"{m}-seed{s['seeds'][0]}"], a.burn_in)))
                      for m, s in summary.items()},
               core_seconds=round(sum(v['total'] for n, v in secs.items() if n.rsplit('-seed', 1)[0] in ('at', 'part')), 1))
    write_json(a.out/'cifar.json', out)
    if not a.quick: write_section(out)
    print(f"\n{len(results)}/{len(jobs)} runs finished; written to {a.out/'cifar.json'}" + (f" and {a.plot}" if summary else ''))
    return out


# ---------------------------------------------------------------- the section of bench/RESULTS.md

SECTION = '## CIFAR-10 (JPEG) at CPU scale'


def _pct(v): return 'n/a' if v is None else f'{v:.1f}'


def results_section(c, results_md=BENCH/'RESULTS.md'):
    "The Markdown lines of RESULTS.md's CIFAR-10 section, from cifar.json (`c`)."
    rel = lambda p: os.path.relpath(ROOT/p, Path(results_md).resolve().parent)
    st, done, planned = c['settings'], c['finished'], c['planned']
    md = [SECTION, '',
          f"Written by `{c['command']}` on {c['date']} from the runs finished so far: **{len(done)} of {len(planned)}**"
          + (f" (still to run: {', '.join(c['missing'])}; the same command continues the study where it stopped)." if c['missing'] else '.'),
          '', "Data: `../shared/data/cifar10-jpeg.tgz`, the official CIFAR-10 images stored as JPEG of quality 75, so these are "
          "CIFAR-10 (JPEG) figures, close to but not directly comparable with published CIFAR-10 figures. Setting "
          f"(`part_train --preset cpu`): SmallVGG, a class-balanced {st['n_train']:,} training images with flips, PGD-{st['steps']} "
          f"with step {st['alpha'] * 255:g}/255 at eps {st['eps'] * 255:g}/255 (PART: eps_low {c['eps_low_part'] * 255:g}/255), "
          f"{st['epochs']} epochs of which {st['burn_in']} are burn-in, one-cycle SGD at lr {st['lr']:g} (momentum {st['mom']:g}, "
          f"weight decay {st['wd']:g}), batch {st['bs']}, one torch thread per run, {c['workers']} runs at a time on {c['nproc']} cores. "
          f"Evaluation on the same test images for every run: natural accuracy on all 10,000; PGD-20, CW and MMA and their "
          f"per-image worst case on a class-balanced {st['n_eval']:,}; AutoAttack (standard) and the worst case of all four on "
          f"the first {st['n_aa']} of those. PART continues from its baseline's checkpoint at the end of the burn-in.", '']
    t = c.get('model_timing')
    if t:
        base = t['models']['SmallVGG (width 16)']
        md += ['### Choosing the model', '',
               f"One forward-backward pass of a 128-image batch with input gradients, {t['threads']} torch threads, candidates "
               f"alternating, median of {t['rounds']} rounds (and the best), measured on {t['date']} at a load average of "
               f"{t['load_avg'][0]:.1f} (`python bench/bench_cifar.py --time_models`):", '',
               '| model | parameters | s per pass (median) | best | median / SmallVGG |', '|---|---:|---:|---:|---:|']
        md += [f"| {k} | {r['params']:,} | {r['seconds']:.3f} | {r['best']:.3f} | {r['seconds'] / base['seconds']:.1f} |"
               for k, r in t['models'].items()]
        md += ['', "SmallVGG at width 16 is the one network here whose PGD-5 epoch over 10,000 images fits in about a minute per "
               "core, so that 3 seeds of the core (AT and PART) fit in about two hours on two cores. Its accuracy under AT in "
               "this setting is the `at` row below.", '']
    if c['summary']:
        md += ['### Results', '', c['tables_markdown'], '',
               "Accuracies in %, mean ± standard deviation over the seeds; a paired difference is PART minus its baseline "
               "on the same seed, whose burn-in the two runs share. 'worst of 3' is the per-image worst case of PGD-20, CW "
               "and MMA, 'worst of 4' adds AutoAttack on its subset.", '']
        if c['verdict']: md += ['**Verdict** (paired t, two-sided 95%):', ''] + [f'- {l}' for l in c['verdict']] + ['']
        if c.get('variant_verdict'):
            md += ["**PART variants** against PART with the paper's rule and against AT, on the same seeds (paired t, two-sided "
                   "95%; a variant run on one seed has no spread to test against):", ''] + [f'- {l}' for l in c['variant_verdict']] + ['']
        for l in c.get('control') or []: md += [f'**{l.split(":", 1)[0]}**:{l.split(":", 1)[1]}', '']
        share = c.get('budget_share') or {}
        if share:
            groups = {}
            for n, v in share.items(): groups.setdefault(n.rsplit('-seed', 1)[0], []).append((n.rsplit('seed', 1)[1], v))
            md += ["How much budget each PART run handed out, over its reweighted epochs (mean over the training images and "
                   "epochs, then over the seeds): the share of pixels at eps and the mean per-pixel budget, against "
                   f"{st['eps'] * 255:g}/255 for AT.", '', '| PART run | seeds | pixels at eps (%) | mean budget (/255) |', '|---|---|---:|---:|']
            md += [f"| {g} | {' '.join(sd for sd, _ in vs)} | {mean_std([v['px'] for _, v in vs])[0]:.1f} | "
                   f"{mean_std([v['budget'] for _, v in vs])[0]:.2f} |" for g, vs in groups.items()] + ['']
        md += [f"![trade-off]({rel(c['plot'])})", '']
    if c.get('cams'):
        md += [f"![CAMs and budgets of the trained PART model (seed 0)]({rel(c['cams'])})", '',
               "*Test images, their GradCAM under the PART model of seed 0, and the important pixels of the two budget rules: "
               "white where the paper's rule keeps eps; in colour, the channels where the reference code's rule keeps it.*", '']
    times = c.get('times')
    if times:
        md += ['### Time', '', f"Wall time measured per run, one torch thread per run, {c['workers']} runs at a time on "
               f"{c['nproc']} cores, with other jobs on the machine part of the time. A run's time is the sum of its measured "
               "parts: the epochs it trained itself (a PART run starts from its baseline's burn-in checkpoint), the "
               "PGD-20/CW/MMA evaluation, natural accuracy on 10,000 images and AutoAttack (the evaluation is timed in the runs "
               "that were never resumed, and their mean stands in for the others).", '',
               '| method | own epochs | s per training epoch | AutoAttack (min) | run (min) |', '|---|---:|---:|---:|---:|']
        md += [f"| {m} | {v['epochs']} | {v['train']:.0f} | {v['autoattack'] / 60:.0f} | {v['total'] / 60:.0f} |" for m, v in times.items()]
        md += ['', f"The core of the study (AT and PART, {len(c['seeds'])} seeds, evaluated): {c['core_seconds'] / 3600:.1f} run-hours, "
               f"about {c['core_seconds'] / 3600 / c['workers']:.1f} h on {c['nproc']} cores running {c['workers']} at a time. "
               f"All {len(c['finished'])} finished runs: {c['run_seconds'] / 3600:.1f} run-hours, about "
               f"{c['run_seconds'] / 3600 / c['workers']:.1f} h.", '']
    return md


def write_section(c, fn=BENCH/'RESULTS.md'):
    "Replace (or add, before the GPU section) the CIFAR-10 section of RESULTS.md."
    replace_section(fn, SECTION, results_section(c, fn))


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


def _load_timing(a):
    try: return json.loads((a.out/'model_timing.json').read_text())
    except (OSError, ValueError): return None


# ---------------------------------------------------------------- main

def run_jobs(jobs, workers):
    "Run the jobs `workers` at a time (bench_accuracy's runner); on Ctrl-C say how to continue and exit 130."
    print(f"{len(jobs)} runs: {', '.join(sorted(jobs, key=lambda n: (jobs[n]['priority'], n)))}", flush=True)
    try: return BA.run_all(jobs, workers)
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs keep their result.json and unfinished ones their last epoch's checkpoint; "
              "the same command continues from there", flush=True)
        sys.exit(130)


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
    p.add_argument('--budgets', nargs='*', default=['paper', 'reference', 'soft'],
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
    if a.core: a.methods, a.sweep, a.budgets, a.controls = ['at', 'part'], [], ['paper'], []
    if a.quick:
        a.methods, a.seeds, a.epochs, a.burn_in, a.n_train, a.n_eval, a.n_aa = ['at', 'part'], [0], 2, 1, 512, 100, 20
        a.sweep, a.budgets, a.controls = [], ['paper'], []
    a.out = a.out or (BENCH/'out'/'cifar-quick' if a.quick else OUT)
    a.plot = a.out/'tradeoff_cifar.png' if a.quick else BENCH/'tradeoff_cifar.png'
    a.cams = a.out/'cams_cifar.png' if a.quick else BENCH/'cams_cifar.png'
    a.archive = a.archive.resolve() if a.archive else None
    return a


def main(argv=None):
    a = parse(argv)
    warnings.filterwarnings('ignore', category=FutureWarning)
    if a._job: return job_main(a._job)
    _interruptible()
    if a.time_models: return time_models(a)
    if a.archive is None or not a.archive.exists(): sys.exit(f"bench_cifar: no CIFAR-10 archive at {a.archive}: pass --archive path/to/cifar10-jpeg.tgz")
    migrate(a.out, checkpoints=not a.report)
    jobs, sweep = plan(a)
    if a.report: return report(jobs, sweep, a)
    if not a.quick and _load_timing(a) is None: time_models(a)
    results = run_jobs(jobs, a.workers)
    report(jobs, sweep, a)
    if any(r is None for r in results.values()): sys.exit(1)


if __name__ == '__main__': main()
