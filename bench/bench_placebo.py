"""Does the CAM's choice of pixels matter? PART against its placebo controls on CIFAR-10 (JPEG) at CPU scale.

    .venv/bin/python bench/bench_placebo.py               # questions (a) and (b), resumable: the same command continues
    .venv/bin/python bench/bench_placebo.py --report      # tables, verdicts and plot from the runs finished so far

(a) At eps_low/eps = 0.5, where PART's placement has the most room to matter: PART against the same budget placed at
    random (`part-random`) and on the pixels the CAM ranks least important (`part-inverse`), 3 seeds.
(b) At the paper's 7/8: PART against AT at a uniform budget matched to PART's mean budget, image by image
    (`part-uniform`), 3 seeds: is PART only AT at a lower mean budget?

The controls are methods of the library (`part_nb.run.CONTROL_METHODS`, `part_nb.budget.control_budget`). Every run is
a run of bench_cifar.py (its settings, `part_train --preset cpu`; its evaluation: natural on 10,000 test images, the
worst of PGD-20/CW/MMA on 2,000, AutoAttack on 500), in the same folder bench/cifar/runs, so that the runs both studies
share (AT and PART on seeds 0-2, PART at 0.5 on seed 0, the random control at 7/8) are trained once. Each PART-like run
continues from its seed's AT checkpoint at the end of the burn-in. Runs are ordered seed by seed, so that the
questions get their seeds in step; `--workers` runs at a time, one torch thread each.
"""
import argparse, datetime, os, sys, warnings
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import bench_cifar as BC
from cifar_report import budget_share, run_seconds
from _common import write_json, mean_std, paired_diffs, paired_t, cell, replace_section
from _runner import COST, finished, interruptible, run_jobs

ROOT = BENCH.parent
LOW = 0.5 # eps_low/eps of question (a)
SECTION = "## Does the CAM's choice of pixels matter? Placebo controls on CIFAR-10 (JPEG)"
COLUMNS = {'natural': 'natural (10,000)', 'worst3': 'worst of 3 (2,000)', 'aa': 'AutoAttack (500)'}


def arms(network=None):
    "Arm -> (method, eps_low/eps or None for 7/8, run-name prefix, model or None for SmallVGG): the groups of runs compared."
    out = {'AT': ('at', None, 'at', None), 'PART 7/8': ('part', None, 'part', None), 'uniform 7/8': ('part-uniform', None, 'part-uniform', None),
           'random 7/8': ('part-random', None, 'part-random', None), f'PART {LOW:g}': ('part', LOW, f'part-r{LOW:g}', None),
           f'random {LOW:g}': ('part-random', LOW, f'part-random-r{LOW:g}', None),
           f'inverse {LOW:g}': ('part-inverse', LOW, f'part-inverse-r{LOW:g}', None)}
    if network: out.update({f'{k} {network}': (m, None, f'{m}-{network}', network) for k, m in (('AT', 'at'), ('PART', 'part'), ('random', 'part-random'))})
    return out


def questions(network):
    "Question -> (text, [(control arm, PART arm)], the AT arm of the same network)."
    return {
        'a': (f"Does the CAM's placement matter at eps_low/eps = {LOW:g}?", [(f'random {LOW:g}', f'PART {LOW:g}'), (f'inverse {LOW:g}', f'PART {LOW:g}')], 'AT'),
        'b': ("Does AT at PART's mean budget (matched image by image) reproduce PART at 7/8?", [('uniform 7/8', 'PART 7/8')], 'AT'),
        'c': (f"Does the CAM's placement matter on {network}, a network with more faithful maps?", [(f'random {network}', f'PART {network}')], f'AT {network}'),
    }


def plan(a, base):
    "Jobs (name -> job of bench_cifar's kind) of the questions asked, and arm -> run names."
    jobs, groups = {}, {}
    eps = BC.settings_of('part', 0, base)['eps']
    script = str(BENCH/'bench_cifar.py') # the runs are bench_cifar's: its worker trains and evaluates them
    def add(arm, method, ratio, prefix, model, seed, priority):
        name = f'{prefix}-seed{seed}'
        eps_low = None if ratio is None else ratio * eps
        job = dict(name=name, ratio=(ratio or BC.PART_RATIO) if method != 'at' else None, dir=str(Path(base.out)/'runs'/name),
                   script=script, priority=priority, settings=BC.settings_of(method, seed, base, eps_low, model=model),
                   train_kw=BC.train_kw(base, seed, eps_low, model=model), cost=COST[method] * base.epochs, keep=[base.burn_in] if method == 'at' else [])
        if method != 'at' and base.burn_in > 0: # continue from the seed's AT run of the same network at the end of the burn-in
            at = jobs[f"{'at' if model is None else f'at-{model}'}-seed{seed}"]
            job.update(after=at['name'], init_from=str(Path(at['dir'])/f'checkpoint-epoch{base.burn_in}.pth'),
                       cost=COST[method] * (base.epochs - base.burn_in))
        jobs[name] = job
        groups.setdefault(arm, []).append(name)
    qs = questions(a.network)
    wanted = {'AT', 'random 7/8'} | {arm for q in a.questions for pair in qs[q][1] + [(qs[q][2],)] for arm in pair}
    for sd in a.seeds:
        for arm, (method, ratio, prefix, model) in arms(a.network).items():
            if arm in wanted: add(arm, method, ratio, prefix, model, sd, priority=sd + (10 if model else 0)) # (c) after (a) and (b)
    return jobs, groups


def answer(results, groups, q, network=None):
    "The paired differences of question `q` and its verdict lines."
    text, pairs, at = questions(network)[q]
    lines, diffs, mattered = [], {}, []
    for ctl, part in pairs + [(c, at) for c, _ in pairs] + [(p, at) for p in {p for _, p in pairs}]:
        pre = lambda arm: groups[arm][0].rsplit('-seed', 1)[0]
        seeds = sorted(int(n.rsplit('seed', 1)[1]) for n in groups.get(ctl, []) if n in results
                       and f"{pre(part)}-seed{n.rsplit('seed', 1)[1]}" in results)
        if not seeds: continue
        d = paired_diffs(results, pre(ctl), pre(part), seeds, COLUMNS)
        diffs[f'{ctl} - {part}'] = d
    for ctl, part in pairs:
        d = diffs.get(f'{ctl} - {part}')
        if d is None: continue
        parts = {c: paired_t(d[c], d[c]['n']) for c in COLUMNS}
        lines.append(f"{ctl} − {part}: " + '; '.join(f"{COLUMNS[c].split(' (')[0]} {t}" for c, (t, _) in parts.items())
                     + f" (points, {d['natural']['n']} seed(s))")
        if any(sign for _, sign in parts.values()): mattered.append((ctl, {c: sign for c, (_, sign) in parts.items() if sign}))
    n = min((diffs[f'{c} - {p}']['natural']['n'] for c, p in pairs if f'{c} - {p}' in diffs), default=0)
    if n < len(BC_SEEDS): verdict = f"Not answered yet: {n} of {len(BC_SEEDS)} seeds."
    elif q in ('a', 'c'):
        where = f"at eps_low/eps {LOW:g}" if q == 'a' else f"on {network}"
        verdict = ("Yes: " + '; '.join(f"{ctl} differs from PART beyond the seed spread in " +
                                      ', '.join(f"{COLUMNS[c].split(' (')[0]} ({'higher' if s > 0 else 'lower'})" for c, s in signs.items())
                                      for ctl, signs in mattered) + '.') if mattered else \
                  (f"No: {where}, no control placement differs from PART's beyond the seed spread in natural accuracy, worst of "
                   "3 or AutoAttack: the CAM's choice of pixels made no difference that shows.")
        verdict += _reading(pairs, diffs, mattered)
    else:
        verdict = (f"No: the matched uniform budget differs from PART beyond the seed spread in " +
                   ', '.join(f"{COLUMNS[c].split(' (')[0]} ({'higher' if s > 0 else 'lower'})" for c, s in mattered[0][1].items())
                   + ".") if mattered else \
                  ("Yes: AT at PART's mean budget, matched image by image, is within the seed spread of PART in natural accuracy, "
                   "worst of 3 and AutoAttack: at this scale PART's gain over AT is what its lower mean budget gives.")
    return dict(question=text, lines=lines, verdict=verdict, differences=diffs)


BC_SEEDS = (0, 1, 2)


def _reading(pairs, diffs, mattered):
    """What a placement verdict says of PART's claim (more natural accuracy at equal robustness): when every control beats
    PART in natural accuracy beyond the spread, the map's placement costs natural accuracy; the robustness differences follow."""
    if len(mattered) < len(pairs) or not all(signs.get('natural', 0) > 0 for _, signs in mattered): return ''
    rob = '; '.join(f"{ctl}: worst of 3 {diffs[f'{ctl} - {part}']['worst3']['mean']:+.1f}, AutoAttack {diffs[f'{ctl} - {part}']['aa']['mean']:+.1f}"
                    for ctl, part in pairs)
    cleared = any(signs.get(c, 0) < 0 for _, signs in mattered for c in ('worst3', 'aa'))
    return (f" Every control is more accurate on clean images than PART: placing the budget by the map costs natural accuracy, the "
            f"opposite of what PART expects of it. Robustness, if anything, moves the other way ({rob} points against PART; "
            f"{'some of it beyond' if cleared else 'none of it beyond'} the seed spread): here the map moves PART along the "
            "trade-off towards robustness rather than giving natural accuracy at equal robustness.")


def table(results, groups):
    "Markdown: accuracy of each arm (mean ± std over its finished seeds) and the budget it handed out in training."
    share = budget_share(results, BC.parse([]).burn_in)
    md = ['| arm | runs | seeds | ' + ' | '.join(COLUMNS.values()) + ' | pixels at eps (%) | mean budget (/255) |',
          '|---|---|---|' + '---:|' * (len(COLUMNS) + 2)]
    for arm, names in groups.items():
        done = [n for n in names if n in results]
        if not done: continue
        sh = [share[n] for n in done if n in share]
        md.append(f"| {arm} | `{done[0].rsplit('-seed', 1)[0]}` | {' '.join(n.rsplit('seed', 1)[1] for n in done)} | "
                  + ' | '.join(cell(mean_std([results[n]['accuracy'][c] for n in done])) for c in COLUMNS)
                  + (f" | {mean_std([v['px'] for v in sh])[0]:.1f} | {mean_std([v['budget'] for v in sh])[0]:.2f} |" if sh else f" | 100 | {255 * results[done[0]]['settings']['eps']:.2f} |"))
    return md


def plot(results, groups, fn, network=None):
    "Natural accuracy against AutoAttack and against the worst of 3: one marker per arm (mean over seeds), dots for the runs."
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    style = {'AT': ('s', 'C0'), 'PART 7/8': ('o', 'C0'), 'uniform 7/8': ('D', 'C1'), 'random 7/8': ('v', 'C1'),
             f'PART {LOW:g}': ('o', 'C3'), f'random {LOW:g}': ('v', 'C2'), f'inverse {LOW:g}': ('<', 'C2'),
             **{f'{k} {network}': (mk, 'C4') for k, mk in (('AT', 's'), ('PART', 'o'), ('random', 'v'))}}
    fig, axs = plt.subplots(1, 2, figsize=(9.6, 3.9))
    for ax, rob, label in ((axs[0], 'aa', 'AutoAttack accuracy (%, 500 images)'), (axs[1], 'worst3', 'worst of PGD-20, CW, MMA (%, 2,000 images)')):
        for arm, names in groups.items():
            done = [n for n in names if n in results]
            if not done: continue
            mk, col = style.get(arm, ('x', 'k'))
            xs, ys = [results[n]['accuracy']['natural'] for n in done], [results[n]['accuracy'][rob] for n in done]
            (mx, sx), (my, sy) = mean_std(xs), mean_std(ys)
            ax.errorbar(mx, my, xerr=sx, yerr=sy, fmt=mk, color=col, mfc='white' if arm.startswith(('PART', 'AT')) else col,
                        capsize=3, ms=6, label=f"{arm} ({len(done)} seed{'s' if len(done) > 1 else ''})")
            ax.scatter(xs, ys, s=10, alpha=.4, color=col)
        ax.set_xlabel('natural accuracy (%, 10,000 test images)'); ax.set_ylabel(label); ax.grid(alpha=.3)
    axs[0].legend(fontsize=7)
    fig.suptitle("PART and its placebo controls, CIFAR-10 (JPEG), SmallVGG, eps 8/255, eps_low/eps 7/8 and 0.5", fontsize=9)
    fig.tight_layout(); fig.savefig(fn, dpi=100); plt.close(fig)


def report(jobs, groups, a):
    "Aggregate the finished runs; write placebo.json, the plot and the section of RESULTS.md."
    results = finished(jobs)
    answers = {q: answer(results, groups, q, a.network) for q in a.questions}
    md = table(results, groups)
    print('\n'.join(md))
    for q, ans in answers.items():
        print(f"\n({q}) {ans['question']}"); [print('  ' + l) for l in ans['lines']]; print('  => ' + ans['verdict'])
    if results: plot(results, groups, a.plot, a.network)
    secs = run_seconds(results, BC.parse([]).burn_in)
    out = dict(command=' '.join(['.venv/bin/python', 'bench/bench_placebo.py'] + sys.argv[1:]),
               date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'), questions=a.questions, seeds=a.seeds,
               planned=sorted(jobs), finished=sorted(results), missing=sorted(set(jobs) - set(results)),
               groups=groups, answers=answers, table_markdown=md, run_seconds=secs,
               run_hours_new=round(sum(v['total'] for n, v in secs.items() if n not in _SHARED) / 3600, 2),
               plot=os.path.relpath(a.plot, ROOT))
    a.out.mkdir(parents=True, exist_ok=True)
    write_json(a.out/'placebo.json', out)
    if not a.no_results: replace_section(BENCH/'RESULTS.md', SECTION, section(out))
    print(f"\n{len(results)}/{len(jobs)} runs finished; written to {a.out/'placebo.json'}")
    return out


# runs of bench_cifar's study that this one reuses (their time is counted there)
_SHARED = {f'{p}-seed{sd}' for p in ('at', 'part', 'part-random') for sd in BC_SEEDS} | {'part-r0.5-seed0'}


def section(c):
    "The lines of RESULTS.md's placebo section, from placebo.json (`c`)."
    rel = lambda p: os.path.relpath(ROOT/p, BENCH)
    done, planned = c['finished'], c['planned']
    md = [SECTION, '',
          f"Written by `{c['command']}` on {c['date']} from the runs finished so far: **{len(done)} of {len(planned)}**"
          + (f" (still to run: {', '.join(c['missing'])}; the same command continues the study where it stopped)." if c['missing'] else '.'),
          '', "The setting and the evaluation are those of the CIFAR-10 (JPEG) section above (SmallVGG, 10,000 training images, "
          "PGD-5, 12 epochs of which 3 burn-in; natural accuracy on 10,000 test images, the worst of PGD-20/CW/MMA on 2,000, "
          "AutoAttack on 500). The controls are the library's methods `part-random`, `part-inverse` and `part-uniform` "
          "(`part_nb.budget.control_budget`): each takes the budget PART's CAM gives each image and places it at random, on "
          "the pixels the CAM ranks least important, or evenly at its mean. The table's last two columns are measured in "
          "training (mean over the reweighted epochs): the random and inverse controls hand out exactly PART's share of pixels "
          "at eps and the uniform control exactly its mean budget.", '']
    md += c['table_markdown'] + ['']
    for q, ans in c['answers'].items():
        md += [f"**({q}) {ans['question']}** {ans['verdict']}", ''] + [f'- {l}' for l in ans['lines']] + ['']
    md += ["Paired t over seeds, two-sided 95% (threshold 4.30 for 3 seeds): a difference counts only when it clears the "
           "seed-to-seed spread.", '', f"![PART and its placebo controls]({rel(c['plot'])})", '',
           f"Run time of the runs this study added: {c['run_hours_new']:.1f} run-hours (sum of the measured parts of each "
           "run, as in the CIFAR-10 section's 'Time').", '']
    return md


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--questions', nargs='+', default=['a', 'b'], choices=['a', 'b', 'c'])
    p.add_argument('--network', default='preactresnet20', help="question (c)'s network, a `part_train --model` name")
    p.add_argument('--seeds', nargs='+', type=int, default=list(BC_SEEDS))
    p.add_argument('--workers', type=int, default=2, help='runs in parallel, one process and one torch thread each')
    p.add_argument('--report', action='store_true', help='only aggregate the finished runs')
    p.add_argument('--no_results', action='store_true', help="do not rewrite bench/RESULTS.md's section")
    p.add_argument('--archive', type=Path, default=BC.ARCHIVE)
    a = p.parse_args(argv)
    a.out, a.plot = BC.OUT, BENCH/'placebo_cifar.png'
    return a


def main(argv=None):
    a = parse(argv)
    warnings.filterwarnings('ignore', category=FutureWarning)
    base = BC.parse(['--archive', str(a.archive)] if a.archive else []) # bench_cifar's settings, so that shared runs are the same runs
    if base.archive is None or not base.archive.exists(): sys.exit(f"bench_placebo: no CIFAR-10 archive at {base.archive}: pass --archive path/to/cifar10-jpeg.tgz")
    interruptible()
    jobs, groups = plan(a, base)
    if a.report: return report(jobs, groups, a)
    results = run_jobs(jobs, a.workers)
    report(jobs, groups, a)
    if any(r is None for r in results.values()): sys.exit(1)


if __name__ == '__main__': main()
