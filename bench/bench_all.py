"""Run every benchmark of part_nb and write bench/RESULTS.md from what this run measured.

    .venv/bin/python bench/bench_all.py            # the full study -> bench/RESULTS.md (`make bench`)
    .venv/bin/python bench/bench_all.py --quick    # small settings, a smoke test -> bench/RESULTS-quick.md (`make bench-quick`)

Wall time on this machine's 2 CPU cores: the committed RESULTS.md took bench_epoch 5.6 min, bench_cam 0.5, bench_attack
0.9 and bench_accuracy 89 min for 18 of its 22 runs (the other 4 came from an earlier invocation; `make test` shared the
CPU for 25 of the 89 min). The 22 runs add up to 13,600 run-seconds, two at a time: the whole study takes 1.5-2 hours
here, more than the hour it was planned for (bench_accuracy's docstring has the plan). The quick variant took 11-20 min
while other jobs kept the load average at 3-5; AutoAttack on models that are still at chance dominates it.

Runs bench_epoch.py (time of a training epoch and memory of a step, PART against AT/TRADES/MART), bench_cam.py
(cost of the CAM masks), bench_attack.py (per-pixel against uniform PGD) and bench_accuracy.py (what PART buys on
MNIST-5k: 6 methods x 3 seeds, AutoAttack, eps_low sweep), each as a subprocess whose output is shown and kept in
bench/out/logs/. Every figure of RESULTS.md comes from the JSON files these subprocesses write in this invocation
(bench_accuracy reuses the finished runs of an earlier invocation with the same settings, and RESULTS.md says so).
When a benchmark fails, the others still run, RESULTS.md is left as it was and the exit status is 1.
"""
import argparse, json, math, os, subprocess, sys, time
from pathlib import Path
from _common import hms, cell, paired_verdict, machine_info, write_json

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
GOAL_TIME, GOAL_MEMORY = 1.05, 1.1
CAM_PAPER, CAM_REF_RATIO = "part_nb masks, 'paper'", "per-image reference / part_nb 'paper'" # keys of bench_cam.py's JSON
CAM_TC_RATIO = "torchcam batched / part_nb 'paper'"


def steps(quick, out, workers):
    "(name, script arguments, JSON written) of each benchmark."
    rel = lambda p: str(Path(p).relative_to(ROOT))
    if quick:
        return [('epoch', ['bench/bench_epoch.py', '--quick', '--out', rel(out/'epoch.json')], out/'epoch.json'),
                ('cam', ['bench/bench_cam.py', '--repeats', '1', '--smallcnn-repeats', '2', '--bs', '32', '--out', rel(out/'cam.json')], out/'cam.json'),
                ('attack', ['bench/bench_attack.py', '--repeats', '1', '--resnet-steps', '1', '--mnist-steps', '5', '--bs', '32',
                            '--out', rel(out/'attack.json')], out/'attack.json'),
                ('accuracy', ['bench/bench_accuracy.py', '--quick', '--workers', str(workers), '--out', rel(out)], out/'accuracy.json')]
    return [('epoch', ['bench/bench_epoch.py', '--out', rel(out/'epoch.json')], out/'epoch.json'),
            ('cam', ['bench/bench_cam.py', '--out', rel(out/'cam.json')], out/'cam.json'),
            ('attack', ['bench/bench_attack.py', '--out', rel(out/'attack.json')], out/'attack.json'),
            ('accuracy', ['bench/bench_accuracy.py', '--workers', str(workers), '--out', rel(out)], out/'accuracy.json')]


def run_step(name, args, log):
    "Run one benchmark from the repository root, echoing and logging its output; (return code, seconds)."
    cmd = [sys.executable, *args]
    print(f"\n=== {name}: {' '.join(['.venv/bin/python'] + args)}", flush=True)
    t0 = time.perf_counter()
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore::FutureWarning', 'PYTHONUNBUFFERED': '1'}
    with open(log, 'w') as f, subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as p:
        for line in p.stdout: sys.stdout.write(line); f.write(line); f.flush()
    return p.returncode, time.perf_counter() - t0


# ---------------------------------------------------------------- sections of RESULTS.md

def cost_section(ep, cam, atk):
    md = ['## What PART costs', '',
          f"**One training epoch** ({ep['settings']['n_train']} MNIST-5k digits = {next(iter(ep['epoch'].values()))['batches']} "
          f"batches of {ep['settings']['bs']}, SmallCNN, PGD-10, PART past burn-in from the first batch, "
          f"{ep['threads']} torch threads; the two contenders of a pair alternate, best of {ep['settings']['repeats']} timed "
          f"epoch(s) each after a warm-up batch; validation not timed; device: {ep.get('device', 'cpu')}). The last column is "
          "the share of pixels PART gave the full budget eps in its last timed epoch (100% for the baselines). "
          f"Goal of the issue: PART/baseline at most {GOAL_TIME}.", '',
          '| contender | epoch (s) | s/batch | all epochs (s) | share of pixels at eps |', '|---|---:|---:|---|---:|']
    for m, r in ep['epoch'].items():
        px = r['share_at_eps_last_epoch']
        md.append(f"| {m} | {r['seconds_best']:.2f} | {r['seconds_per_batch']:.3f} | {', '.join(f'{t:.2f}' for t in r['seconds_all'])} | "
                  f"{'' if px is None else f'{100 * px:.1f}%'} |")
    load = ep['loadavg_start'][0]
    if load > 0.5:
        md += ['', f"Note: the 1-minute load average was {load:.2f} on {ep['nproc']} cores when this timing started, so other "
               "processes competed for the CPU; alternating the contenders spreads that over both, but with few repeats the "
               "ratios below can be off by more than the effect they measure."]
    med = ep['ratios_median_of_rounds']
    md += ['', "Ratios: the best epoch of the PART variant over the best epoch of its baseline (the headline), and, as a check "
           "on the noise, the median over the rounds of the ratio of the two epochs of a round, which run back to back.", '',
           '| ratio | best / best | median of rounds | goal | within goal |', '|---|---:|---:|---:|---|']
    for k, v in ep['ratios'].items():
        md.append(f"| {k} | {v:.3f} | {med[k]:.3f} | ≤ {GOAL_TIME} | {'yes' if v <= GOAL_TIME else 'no'} |")
    mem = ep['memory']
    mib = lambda b: f'{b / 2**20:.1f}'
    md += ['', f"**Peak memory of a training step** (a fresh process per measurement, {ep['settings']['mem_repeats']} per method, "
           f"median; baseline = resident set after setup and one warm-up step, read from /proc/self/statm; peak = the "
           f"high-water mark VmHWM of /proc/self/status, reset at the baseline, after {ep['settings']['mem_steps']} more "
           f"steps). Goal: PART/AT at most {GOAL_MEMORY}.", '',
           '| method | baseline (MiB) | peak (MiB) | peak increase (MiB) |', '|---|---:|---:|---:|']
    for m in ('at', 'part'):
        md.append(f"| {m} | {mib(mem[m]['baseline_median'])} | {mib(mem[m]['peak_total_median'])} | {mib(mem[m]['peak_increase_median'])} |")
    ri, rt = mem['ratio_increase'], mem['ratio_total']
    md += [f"| part/at | | {rt:.3f} (goal ≤ {GOAL_MEMORY}: {'yes' if rt <= GOAL_MEMORY else 'no'}) | "
           + ('n/a (AT showed no increase)' if ri is None else f"{ri:.3f} (goal ≤ {GOAL_MEMORY}: {'yes' if ri <= GOAL_MEMORY else 'no'})") + ' |']
    if 'ratio_cuda_peak' in mem:
        md.append(f"| part/at, `torch.cuda.max_memory_allocated` | | {mem['ratio_cuda_peak']:.3f} | |")
    if ri is not None and mem['at']['peak_increase_median'] < 4 * 2**20:
        md += ['', "The increases are a few MiB, the size of the allocator's noise, so their ratio says little; the totals are the safer figure."]
    tc = cam.get('torchcam')
    md += ['', f"**CAM masks against a forward pass** (bench_cam.py, {cam['threads']} threads, best of the rounds, random "
           "weights): part_nb's batched masks, the 'reference' budget rule, a per-image pipeline like the paper's public code "
           + (f"(single-image GradCAM from torchcam {tc}, as that code does), and torchcam's batched GradCAM followed by the "
              "same budget rule as part_nb's." if tc else "(torchcam is not installed: the single-image GradCAM is computed "
              "directly, and torchcam's batched maps are not timed)."), '',
           '| model, batch | forward (s) | masks, paper rule (s) | masks / forward | per-image reference / part_nb | torchcam batched / part_nb | per-image reference = part_nb `reference` (16 images) |',
           '|---|---:|---:|---:|---:|---:|---:|']
    for key in ('resnet18_cifar', 'smallcnn_mnist'):
        r = cam[key]; s = r['seconds']
        t = r['ratios'].get(CAM_TC_RATIO)
        md.append(f"| {key}, {tuple(r['shape'])} | {s['forward (no grad)']:.3f} | {s[CAM_PAPER]:.3f} | "
                  f"{r['ratios']['paper masks / forward']:.2f} | {r['ratios'][CAM_REF_RATIO]:.1f} | {'n/a' if t is None else f'{t:.2f}'} | "
                  f"{100 * r['reference_mode_agreement_first16']:.2f}% of the values |")
    if tc:
        md += ['', 'Largest |part_nb − torchcam| over the layer-resolution maps (in [0,1]) of the first 16 images: '
               + '; '.join(f"{key}: " + ', '.join(f'{m} {v:.1e}' for m, v in cam[key]['max_abs_diff_vs_torchcam'].items())
                           for key in ('resnet18_cifar', 'smallcnn_mnist')) + '.']
    ta = atk.get('torchattacks')
    md += ['', f"**PGD with per-pixel budgets against a uniform budget** (bench_attack.py, {atk['threads']} threads, best of the "
           "repeats, random weights" + (f"; torchattacks {ta}'s PGD with the uniform budget as a third contender" if ta else
                                        "; torchattacks is not installed, so its PGD is not timed") + "):", '',
           '| setting | batch | steps | uniform (s) | per-pixel (s) | torchattacks (s) | per-pixel / uniform | per-pixel / torchattacks |',
           '|---|---|---:|---:|---:|---:|---:|---:|']
    for r in atk['results']:
        s = r['seconds_best']
        t, rt = s.get('torchattacks'), r.get('ratio_per_pixel_vs_torchattacks')
        md.append(f"| {r['setting']} | {tuple(r['batch'])} | {r['steps']} | {s['uniform']:.3f} | {s['per-pixel']:.3f} | "
                  f"{'n/a' if t is None else f'{t:.3f}'} | {r['ratio_per_pixel_vs_uniform']:.3f} | {'n/a' if rt is None else f'{rt:.3f}'} |")
    return md


def accuracy_section(acc, plot_rel):
    cols, s = acc['columns'], acc['settings']
    md = ['## What PART buys: accuracy on MNIST-5k', '',
          f"Accuracy (%) on validation digits, mean ± standard deviation over seeds {', '.join(map(str, acc['seeds']))} "
          f"(one run per method and seed; a method and its PART variant share the seed and the burn-in: "
          f"the PART run continues from its baseline's checkpoint at the end of the burn-in, which gives the same weights as "
          f"training it from scratch). natural, PGD-40, CW, MMA and their worst case (digit by digit) on the first "
          f"{s['n_eval']} validation digits; AutoAttack (standard) and the worst case of all four attacks on the first "
          f"{s['n_aa']}. Last column: training seconds per epoch (1 torch thread, {acc['workers']} runs sharing the CPU, so "
          "not a cost comparison: that is bench_epoch's table above).", '',
          '| method | ' + ' | '.join(cols.values()) + ' | s/epoch |', '|---|' + '---:|' * (len(cols) + 1)]
    for m, r in acc['summary'].items():
        md.append(f'| {m} | ' + ' | '.join(cell(r[c]) for c in cols) + f" | {cell(r['time_train_per_epoch'], 0)} |")
    if acc['paired_differences']:
        md += ['', 'Paired differences PART variant − baseline (percentage points), mean ± standard deviation of the per-seed '
               'differences:', '', '| difference | ' + ' | '.join(cols.values()) + ' |', '|---|' + '---:|' * len(cols)]
        for k, d in acc['paired_differences'].items(): md.append(f'| {k} | ' + ' | '.join(cell(d[c]) for c in cols) + ' |')
    md += ['', f'![natural against AutoAttack accuracy (left) and against the worst of PGD-40, CW and MMA (right)]({plot_rel})', '']
    if acc['sweep']:
        md += [f"### Sweep of PART's eps_low/eps (loss 'ce', seed(s) {', '.join(map(str, acc['sweep_seeds']))})", '',
               f"eps = {s['eps']:g}. Ratio 1.0 is exactly AT: nbs/05_callback tests that `PARTCallback(eps_low=eps)` trains "
               "weight for weight like `ATCallback`, so the AT run of the same seed stands for it; ratio 0.875 (7/8, "
               "the paper's 7/255 : 8/255) is the main PART run. Same columns as above.", '',
               '| eps_low/eps | eps_low | ' + ' | '.join(cols.values()) + ' | run |', '|---:|---:|' + '---:|' * len(cols) + '---|']
        for r in acc['sweep']:
            md.append(f"| {r['ratio']:g} | {r['eps_low']:.4g} | " + ' | '.join('n/a' if r[c] is None else f'{r[c]:.1f}' for c in cols)
                      + f" | {', '.join(r['runs'])} |")
    return md


def conclusion(acc, ep):
    "The paragraph on whether PART helped, computed from the paired differences."
    pd_, n_aa = acc['paired_differences'], acc['settings']['n_aa']
    md = ['## Did PART help at this scale?', '']
    if not pd_: return md + ['No baseline/PART pair was run, so there is nothing to compare.']
    v = paired_verdict(pd_)
    lines = [f"- {k}: natural {t['natural'][0]}; worst of PGD-40/CW/MMA {t['worst3'][0]}; AutoAttack {t['aa'][0]} "
             f"(points, over {pd_[k]['natural']['n']} seed(s))." for k, t in v['rows'].items()]
    helped, hurt = v['helped'], v['hurt']
    md += ["The paper's claim is higher natural accuracy at equal robustness. Each PART variant against its baseline, "
           "paired by seed (mean ± standard deviation of the per-seed differences); a difference counts as real only "
           "when the paired t statistic clears the two-sided 95% threshold for the number of seeds. Robustness is read "
           f"from the worst case of PGD-40, CW and MMA on {acc['settings']['n_eval']} digits and from AutoAttack on "
           f"{n_aa}:", ''] + lines + ['']
    se = 100 * math.sqrt(0.25 / n_aa)
    md.append({
        'one seed': "With one seed there is no measure of the seed-to-seed spread, so this run supports no conclusion either way.",
        'helped': f"At this scale PART helped for {', '.join(helped)}: natural accuracy rose beyond the seed spread while "
                  "worst-case and AutoAttack accuracy did not fall beyond it.",
        'hurt': f"At this scale PART did not help: for {', '.join(hurt)} at least one accuracy fell beyond the seed spread, "
                "and no pair shows a natural-accuracy gain that clears it.",
        'mixed': f"Mixed: PART helped beyond the seed spread for {', '.join(helped) or 'no pair'} and did worse for "
                 f"{', '.join(hurt) or 'no pair'}; the remaining differences are within the spread.",
        'no difference': "At this scale PART did not help measurably: no difference between a PART variant and its baseline clears "
                         "the seed-to-seed spread, in either direction."}[v['outcome']])
    md += ['', f"Two limits of these figures: AutoAttack ran on {n_aa} digits, where the sampling error of one accuracy "
           f"near 50% is about ±{se:.0f} points (the same digits for every run, so part of it cancels in the paired "
           f"differences); and {acc['settings']['epochs']} epochs with {acc['settings']['burn_in']} of burn-in give PART "
           f"{acc['settings']['epochs'] - acc['settings']['burn_in']} reweighted epoch(s), against 60 of 80 in the paper."]
    sw = [r for r in acc['sweep'] if r['natural'] is not None]
    if len(sw) >= 2:
        best_nat = max(sw, key=lambda r: r['natural']); best_aa = max(sw, key=lambda r: r['aa'] if r['aa'] is not None else -1)
        hi, lo = max(sw, key=lambda r: r['ratio']), min(sw, key=lambda r: r['ratio'])
        md += ['', f"What the sweep found (seed(s) {', '.join(map(str, acc['sweep_seeds']))}, so without a spread): from "
               f"eps_low/eps = {hi['ratio']:g} to {lo['ratio']:g}, natural accuracy went from {hi['natural']:.1f}% to "
               f"{lo['natural']:.1f}% and AutoAttack accuracy from {hi['aa']:.1f}% to {lo['aa']:.1f}%. The highest natural "
               f"accuracy was at {best_nat['ratio']:g} ({best_nat['natural']:.1f}%), the highest AutoAttack accuracy at "
               f"{best_aa['ratio']:g} ({best_aa['aa']:.1f}%)."]
    px = [r['share_at_eps_last_epoch'] for m, r in ep['epoch'].items() if m.startswith('part')] # PART variants' share at eps
    if hurt and px:
        md += ['', f"A hypothesis, not tested here: an MNIST digit covers a small part of its image, and the map marks only part "
               f"of the digit (PART kept eps on {100 * min(px):.0f}-{100 * max(px):.0f}% of the pixels in bench_epoch's table), so "
               "lowering the budget everywhere else makes PART's training attacks clearly weaker than its baseline's, while "
               "natural accuracy, already high after a few epochs, has little to gain. The paper's setting differs in both "
               "respects: CIFAR-10 objects fill much of the image, and PART reweights for 60 epochs. The CIFAR-10 commands "
               "below test the claim where it was made."]
    return md


def gpu_sections(ep, atk):
    ratios = ', '.join(f"{k} {v:.3f}" for k, v in ep['ratios'].items())
    pgd_ratios = ', '.join(f"{x['setting']} {x['ratio_per_pixel_vs_uniform']:.3f}" for x in atk['results'])
    return ['## What a GPU would change', '',
            f"The epoch ratios above ({ratios}) were measured on {ep['nproc']} CPU cores. Per batch, PART adds one class "
            "activation map of the clean batch (a forward pass, a backward pass down to the CAM layer only, an upsampling "
            "and a threshold) to what its baseline already does: ten forward-backward passes of PGD-10 and the "
            "forward-backward pass of the training step (TRADES and MART pass a second batch through it). That count of passes does not "
            "depend on the device. What does is the share of fixed costs (Python, kernel launches, small tensors such as "
            "the (B,1,H,W) budget): negligible on a CPU, where every pass is compute-bound, but visible on a GPU for a model "
            "as small as SmallCNN, and again negligible for ResNet-18 or WRN-34-10 at batch 128. The per-pixel budget "
            f"itself costs an elementwise clamp against a tensor instead of a number (per-pixel/uniform PGD measured here: "
            f"{pgd_ratios}).", '',
            "The same measurements on a GPU (each script uses the GPU when there is one and synchronises CUDA before reading "
            "the clock; `bench_epoch.py` through fastai, the other two with `--device`, default `cuda` when available):", '',
            '```sh', 'python bench/bench_epoch.py --out bench/out/epoch-gpu.json',
            'python bench/bench_cam.py --out bench/out/cam-gpu.json',
            'python bench/bench_attack.py --resnet-steps 10 --out bench/out/attack-gpu.json', '```', '',
            "On a GPU the memory processes of `bench_epoch.py` also record `torch.cuda.max_memory_allocated()` over the timed "
            "steps, with the peak statistics reset after the warm-up step: that, not the resident set, is the memory figure "
            "to compare on a GPU. The CAM holds one layer's activations and gradient for the batch and releases them "
            "before PGD starts, so the peak is expected to stay PGD's; that expectation is what the measurement checks.", '']


def cifar_section():
    cmds = [f".venv/bin/part_compare --methods at part trades part-t mart part-m --data cifar10 --model {m} --seeds 0 1 2 "
            f"--autoattack --out runs/cifar10-{m} --resume" for m in ('resnet18', 'wrn34-10')]
    md = ['## CIFAR-10 on a GPU (not run here)', '',
          "Not run on this machine, so there are no figures for it here. The paper's protocol (ResNet-18 and WRN-34-10; eps 8/255, eps_low 7/255, step 2/255, PGD-10, 80 epochs with "
          "20 of burn-in, SGD lr 0.01, momentum 0.9, weight decay 2e-4: the command line's CIFAR-10 defaults), evaluated "
          "on the 10,000 test images with natural, PGD-20, CW, MMA and AutoAttack:", '', '```sh', *cmds, '```', '',
          "`--out` keeps the two models' runs apart (the run folders are named by method and seed); `--resume` continues "
          "after an interruption. Each writes REPORT.md with the table mean ± std over the seeds.", '']
    return md


def cifar_cpu_section(fn):
    "RESULTS.md's section of the CIFAR-10 study at CPU scale (bench_cifar.py, cifar_report.py), from its committed record, if any."
    rec = BENCH/'cifar'/'cifar.json'
    if not rec.exists(): return []
    import cifar_report
    return cifar_report.results_section(json.loads(rec.read_text()), fn) + ['']


def vit_section():
    "RESULTS.md's section of the ViT comparison (bench_vit.py), from its committed record, if any."
    rec = BENCH/'vit.json'
    if not rec.exists(): return []
    import bench_vit
    return bench_vit.results_section(json.loads(rec.read_text())) + ['']


def write_results(fn, quick, commands, jsons, t_total, info, workers):
    ep, cam, atk, acc = (json.loads(Path(jsons[k]).read_text()) for k in ('epoch', 'cam', 'attack', 'accuracy'))
    plot_rel = os.path.relpath(acc['plot'] if os.path.isabs(acc['plot']) else ROOT/acc['plot'], fn.parent)
    s = acc['settings']
    md = [f"# part_nb benchmarks{' (quick run: small settings, a smoke test, not results)' if quick else ''}", '',
          f"Written by `.venv/bin/python bench/bench_all.py{' --quick' if quick else ''}` on {info['date']}; "
          f"every figure below was measured by that run (total wall time {hms(t_total)})"
          + (", except the accuracy runs it reused (see Settings)." if acc['reused'] else "."), '',
          '## Machine', '',
          f"- platform: {info['platform']} ({info['machine']}), {info['nproc']} CPU cores (nproc), no GPU used",
          f"- Python {info['python']}, torch {ep['torch']}, fastai {info['fastai']}, part_nb {info['part_nb']}; "
          f"bench-only: torchcam {cam.get('torchcam') or 'not installed'}, torchattacks {atk.get('torchattacks') or 'not installed'}",
          f"- torch threads: {ep['threads']} in bench_epoch, {cam['threads']} in bench_cam, {atk['threads']} in bench_attack; "
          f"1 per run in bench_accuracy, {workers} runs at a time",
          f"- load average (1 min) at the start: {info.get('loadavg_start', info.get('loadavg'))[0]:.2f}; at the end: {info['loadavg_end'][0]:.2f} "
          "(other jobs on the machine slow every contender alike, since contenders alternate)", '',
          '## Commands', '', '```sh'] + [f"{c}    # {hms(t)}" for c, t in commands] + ['```', '',
          '## Settings and why', '',
          f"- Cost (bench_epoch): SmallCNN on MNIST-5k, batch {ep['settings']['bs']}, PGD-10 with the MNIST-5k settings of "
          f"`part_nb.run.run_settings` and burn-in 0, so that every timed batch pays for PART's CAM; "
          f"{ep['settings']['n_train']} training digits an epoch, best of {ep['settings']['repeats']} epoch(s) per contender"
          + (": several batches per timed epoch so that per-batch jitter averages out, few enough to repeat the epoch." if not quick
             else " (quick settings)."),
          f"- Accuracy (bench_accuracy): `part_nb.run.DEFAULTS['mnist5k']`: SmallCNN, eps {s['eps']:g}, eps_low "
          f"{acc['eps_low_part']:.4g} (7/8 of eps), step {s['alpha']:g}, PGD-{s['steps']}, {s['opt']} lr {s['lr']:g}, "
          f"batch {s['bs']}, {'all 4,000' if s['n_train'] is None else s['n_train']} training digits; "
          f"{acc['why']}. Methods {', '.join(acc['methods'])}; seeds {', '.join(map(str, acc['seeds']))}.",
          f"- {len(acc['reused'])} of {len(acc['runs'])} accuracy runs were reused from an earlier invocation of bench_accuracy.py "
          "with the same settings" + (f", which measured them (the wall time above does not include theirs): {', '.join(acc['reused'])}."
                                      if acc['reused'] else "."), '']
    md += cost_section(ep, cam, atk) + [''] + accuracy_section(acc, plot_rel) + [''] + conclusion(acc, ep) + ['']
    md += cifar_cpu_section(fn) + vit_section() + gpu_sections(ep, atk) + [''] + cifar_section()
    fn.write_text('\n'.join(md) + '\n')


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='small settings, a few minutes; writes bench/RESULTS-quick.md')
    p.add_argument('--workers', type=int, default=2, help='parallel runs of bench_accuracy')
    p.add_argument('--report', action='store_true',
                   help="only write RESULTS.md again from the last complete run's record (bench/out/run.json), measuring nothing")
    a = p.parse_args()
    out = BENCH/'out'/('quick' if a.quick else '')
    out = out.resolve(); (out/'logs').mkdir(parents=True, exist_ok=True)
    fn = BENCH/('RESULTS-quick.md' if a.quick else 'RESULTS.md')
    if a.report:
        if not (out/'run.json').exists(): sys.exit(f"--report: no record of a complete run in {out/'run.json'}; run without --report")
        r = json.loads((out/'run.json').read_text())
        write_results(fn, r['quick'], r['commands'], r['jsons'], r['seconds'], r['info'], r['workers'])
        print(f"written {fn} from {out/'run.json'} (the run of {r['info']['date']})"); return
    info = machine_info()
    t0, commands, jsons, failed = time.perf_counter(), [], {}, []
    for name, args, js in steps(a.quick, out, a.workers):
        started = time.time()
        rc, t = run_step(name, args, out/'logs'/f'{name}.log')
        commands.append((' '.join(['.venv/bin/python'] + args), t))
        if rc != 0 or not js.exists() or js.stat().st_mtime < started:
            failed.append(name); print(f"=== {name} FAILED (exit status {rc}); log in {out/'logs'/f'{name}.log'}", flush=True)
        else: jsons[name] = js
    if failed:
        print(f"\nfailed: {', '.join(failed)}; RESULTS not written", flush=True); sys.exit(1)
    info['loadavg_end'] = os.getloadavg() # kept in the record: `--report` must not read the load of its own moment
    record = dict(quick=a.quick, commands=commands, jsons={k: str(v) for k, v in jsons.items()},
                  seconds=time.perf_counter() - t0, info=info, workers=a.workers)
    write_json(out/'run.json', record)
    write_results(fn, a.quick, commands, jsons, record['seconds'], info, a.workers)
    print(f"\nwritten {fn} in {hms(time.perf_counter() - t0)}")


if __name__ == '__main__': main()
