"""The CIFAR-10 study's report: from the finished runs of bench_cifar.py's plan, the tables, the verdict, the controls'
readings, bench/cifar/cifar.json, the plots and bench/RESULTS.md's CIFAR-10 section (`bench_cifar.py --report`)."""
import os, re, sys
from part_nb.core import upgrade_keys
from pathlib import Path
from _common import PAIRS, PAIR_COLOURS, BASELINE, write_json, mean_std, paired_diffs, paired_verdict, cell, replace_section, machine_info
from _runner import finished
from bench_cifar import BENCH, ROOT, COLUMNS, PART_RATIO, settings_of, train_kw, load_timing


# ---------------------------------------------------------------- time and budget of a run

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
        es = [e for e in map(upgrade_keys, own_epochs(r, burn_in)) if 'share_at_eps' in e] # runs of older versions say important_px
        if r['method'].startswith('part') and es:
            out[n] = dict(px=100 * sum(e['share_at_eps'] for e in es) / len(es), budget=255 * sum(e['mean_budget'] for e in es) / len(es))
    return out


# ---------------------------------------------------------------- statistics and report

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
    """The verdict on the paper's claim by `paired_verdict`, the rule of every verdict of bench/RESULTS.md: one line per
    pair, then (`conclude`) the conclusion about PART."""
    v = paired_verdict(paired)
    lines = [f"{k}: natural {t['natural'][0]}; worst of PGD-20/CW/MMA {t['worst3'][0]}; AutoAttack {t['aa'][0]} "
             f"(points, {paired[k]['natural']['n']} seed(s))" for k, t in v['rows'].items()]
    if v['outcome'] == 'none paired' or not conclude: return lines
    helped, hurt = ', '.join(v['helped']) or 'no pair', ', '.join(v['hurt']) or 'no pair'
    return lines + [{
        'one seed': "With one seed there is no seed-to-seed spread to compare with: no conclusion either way yet.",
        'helped': f"PART helped at this scale for {helped}: natural accuracy rose beyond the seed spread and robustness did not fall beyond it.",
        'hurt': f"PART did not help at this scale: for {hurt} at least one accuracy fell beyond the seed spread, and no pair gained natural accuracy beyond it.",
        'mixed': f"Mixed: PART helped beyond the seed spread for {helped} and did worse for {hurt}.",
        'no difference': "PART made no measurable difference at this scale: no difference clears the seed-to-seed spread, in either direction.",
    }[v['outcome']]]


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
    extra += [(f"budget '{b}' ({seeds_label(runs[f'part-{b}'])})", runs[f'part-{b}']) for b in a.rules if f'part-{b}' in runs]
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
                        mfc=PAIR_COLOURS[m] if part else 'white', color=PAIR_COLOURS[m], capsize=3, label=f"{m} ({len(s['seeds'])} seeds)", ms=6)
            for sd in s['seeds']:
                r = results[f'{m}-seed{sd}']['accuracy']
                ax.scatter(r['natural'], r[rob], s=10, alpha=.4, color=PAIR_COLOURS[m])
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
    budgets = {"'paper' budget\n(white: 8/255)": cam_budget(model, x, s['eps'], s['eps_low'], rule='paper'),
               "'reference' budget\n(per channel)": cam_budget(model, x, s['eps'], s['eps_low'], rule='reference')}
    fig = show_cam(x, cmap, budgets, n=n)
    fig.savefig(fn, dpi=90, bbox_inches='tight')


def report(jobs, sweep, a, t0=None):
    "Aggregate what has finished; print the tables; write cifar.json and the plots."
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
               **machine_info(), threads_per_run=1, workers=a.workers, quick=a.quick,
               settings={k: s0[k] for k in ('data', 'model', 'eps', 'alpha', 'steps', 'opt', 'lr', 'mom', 'wd', 'bs', 'schedule', 'pad',
                                            'n_train', 'epochs', 'burn_in', 'cam_method', 'beta', 'attacks', 'n_eval', 'n_aa')},
               eps_low_part=round(PART_RATIO * s0['eps'], 6), methods=a.methods, seeds=a.seeds, sweep_seeds=a.sweep_seeds,
               planned=sorted(jobs), finished=sorted(results), missing=sorted(set(jobs) - set(results)), columns=COLUMNS,
               summary=summary, paired_differences=paired, variant_differences=vp,
               variant_verdict=verdict(vp, conclude=False), control=control_lines(vp), verdict=lines, tables_markdown=tables,
               runs={n: {k: v for k, v in r.items() if k != 'history'} for n, r in results.items()},
               run_seconds=round(sum(v['total'] for v in secs.values()), 1), seconds=secs, plot=os.path.relpath(a.plot, ROOT),
               cams=os.path.relpath(a.cams, ROOT) if 'part-seed0' in results else None, model_timing=load_timing(a),
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

