"""PART on a vision transformer: AT against PART with part_nb's small ViT on CIFAR-10 (JPEG), one seed, at CPU scale.

    .venv/bin/python bench/bench_vit.py --pilot    # first: the cost of one training epoch, ViT and SmallVGG (-> bench/vit.json)
    .venv/bin/python bench/bench_vit.py            # the comparison; resumable: stop it any time, the same command continues

One seed, so the figures are one sample of each method, not a mean: a difference between AT and PART smaller than the
seed spread of the CIFAR-10 study (bench/RESULTS.md) says nothing. Data: `../shared/data/cifar10-jpeg.tgz`
(`--archive`), the official images as JPEG of quality 75, so these are CIFAR-10 (JPEG) figures.

The model is `part_nb.models.ViT` (`part_train --model vit`): torchvision's `VisionTransformer` with 4x4 patches of the
32x32 images, 4 blocks of 64 features, 4 heads, 142,000 parameters, about the cost per image of the SmallVGG of the
CIFAR-10 study. PART takes its maps at the input of the last block's attention (`find_cam_layer`'s choice for a
transformer, and the model's `cam_layer`). Every run is `part_nb.run.compare(('at', 'part'), preset='cpu', model='vit',
...)`: the CPU study's settings (eps 8/255, eps_low 7/255, PGD-5 with step 2.5/255, one-cycle schedule, batch 128,
flips) except the optimiser and the scale, which `SETTINGS` below gives with the reasons. PART continues from AT's
checkpoint at the end of the burn-in (the same weights as training it from scratch). Evaluation: natural, PGD-20, CW and
MMA accuracy and their per-image worst case on the first `n_eval` test images (class-balanced).

The runs go to bench/vit/runs/ (committed with their checkpoints of every epoch, so a stopped study continues, on this machine or another); the figures, the
settings, the times (wall and CPU seconds of this process, one torch thread) and the pilot's measurement go to
bench/vit.json, which is committed.
"""
import argparse, json, os, sys, time
from pathlib import Path
from _common import replace_section, write_json, machine_info

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
from part_nb.testing import cifar10_archive
from part_nb.core import upgrade_keys
ARCHIVE = cifar10_archive() # ../shared/data/cifar10-jpeg.tgz, or None
OUT = BENCH/'vit'/'runs' # committed, like bench/cifar/runs: a later session on another machine continues the study
RESULT = BENCH/'vit.json'
# Sized from the pilot (`--pilot`, in vit.json): a run of one AT epoch on 1,024 images took 16.7 CPU seconds with the
# ViT (8.8 with SmallVGG), data and a small evaluation included, so at most 16 ms per image and epoch. 8,000 images,
# 10 epochs of which 3 burn-in (AT: 10 epochs, PART: 7 more from AT's burn-in checkpoint) are 17 epochs, at most
# 2,200 CPU seconds, and the two evaluations on 1,000 test images about 200 more: about 40 minutes of one core.
# Adam at 1e-3 without weight decay rather than the CPU preset's SGD at 0.05: the usual optimiser for a vision transformer
# trained from scratch.
SETTINGS = dict(preset='cpu', model='vit', opt='adam', lr=1e-3, wd=0., n_train=8000, epochs=10, burn_in=3, n_eval=1000)


def _load():
    try: return os.getloadavg()[0]
    except OSError: return None


def _read():
    return json.loads(RESULT.read_text()) if RESULT.exists() else {}


def pilot(a):
    "CPU seconds of one training epoch of AT (PGD-5) on `--pilot_n` images, ViT against SmallVGG, and per image."
    from part_nb.run import train_one
    out = {}
    for model in ('vit', 'smallvgg'):
        c0, t0 = time.process_time(), time.perf_counter()
        met = train_one('at', 'cifar10', out=OUT/f'pilot-{model}', progress=False, preset='cpu', model=model, opt='adam', lr=1e-3,
                        wd=0., epochs=1, burn_in=0, n_train=a.pilot_n, n_valid=128, n_eval=128, attacks=('natural',), data_path=str(a.archive))
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        rec = met['epochs'][0]
        out[model] = dict(n_train=a.pilot_n, cpu_seconds_run=round(cpu, 1), wall_seconds_run=round(wall, 1),
                          wall_seconds_train=round(rec['time_train'], 1), wall_seconds_epoch=round(rec['time_epoch'], 1))
        print(f"{model}: one epoch of AT on {a.pilot_n} images: {rec['time_train']:.1f} s of training (wall); "
              f"the whole run (data, epoch, a small evaluation) {cpu:.1f} CPU s, {wall:.1f} s wall", flush=True)
    res = _read()
    res['pilot'] = dict(command=' '.join(['python', 'bench/bench_vit.py'] + sys.argv[1:]), load_average_start=a.load0,
                        load_average_end=_load(), **out, **machine_info())
    write_json(RESULT, res)


def study(a):
    "AT and PART on the ViT, one seed; a stopped study continues."
    from part_nb.run import compare
    c0, t0 = time.process_time(), time.perf_counter()
    summary = compare(('at', 'part'), seeds=(a.seed,), data='cifar10', out=OUT, resume=True, progress=False,
                      data_path=str(a.archive), **SETTINGS)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    runs = {}
    for m in ('at', 'part'):
        met = json.loads((OUT/f'{m}-seed{a.seed}'/'metrics.json').read_text())
        settings = json.loads((OUT/f'{m}-seed{a.seed}'/'settings.json').read_text())
        runs[m] = dict(robustness=met['robustness'], time_per_epoch_wall=met['time_per_epoch'],
                       epochs=[{k: r.get(k) for k in ('epoch', 'accuracy', 'adv_acc', 'share_at_eps', 'mean_budget', 'time_train')}
                               for r in met['epochs']],
                       resumed_at_epoch=settings.get('resumed_at_epoch'), init_from=settings.get('init_from'))
    res = _read()
    prev = res.get('study', {})
    sessions = prev.get('sessions', []) + [dict(cpu_seconds=round(cpu, 1), wall_seconds=round(wall, 1), load_average_start=a.load0,
                                                 load_average_end=_load())]
    res['study'] = dict(command='python bench/bench_vit.py', seed=a.seed, one_seed=True, settings=SETTINGS,
                        data='CIFAR-10 (JPEG), ' + str(a.archive.name), runs=runs, sessions=sessions,
                        cpu_seconds_total=round(sum(s['cpu_seconds'] for s in sessions), 1),
                        wall_seconds_total=round(sum(s['wall_seconds'] for s in sessions), 1), **machine_info())
    write_json(RESULT, res)
    write_section(res)
    print(summary.to_string())
    print(f"written to {RESULT} and bench/RESULTS.md: {cpu:.0f} CPU s, {wall:.0f} s wall in this session")


SECTION = '## PART on a vision transformer: CIFAR-10 (JPEG), one seed'


def results_section(res):
    "RESULTS.md's ViT section from vit.json (`res`): what ran, the figures, and what one seed can and cannot say."
    st = res.get('study')
    if not st or any('robustness' not in (st['runs'].get(m) or {}) for m in ('at', 'part')): return []
    s, runs = st['settings'], st['runs']
    cols = ('natural', 'pgd20', 'cw', 'mma', 'worst-case')
    md = [SECTION, '', f"Written by `.venv/bin/python bench/bench_vit.py` (the record: bench/vit.json; the runs: bench/vit/runs/). "
          f"**One seed ({st['seed']}): each figure is one sample, not a mean.** A difference smaller than the seed-to-seed spread of "
          "the CIFAR-10 study above (a few tenths of a point for SmallVGG) says nothing.", '',
          f"Model: `part_nb.models.ViT` (4x4 patches of the 32x32 images, 4 blocks of 64 features, 4 heads); PART takes its maps at "
          f"the input of the last block's attention (`find_cam_layer`'s choice). Setting: the CPU study's (`--preset cpu`: eps 8/255, "
          f"eps_low 7/255, PGD-5 with step 2.5/255, one-cycle schedule, batch 128, flips) but Adam at lr {s['lr']:g} without weight "
          f"decay, {s['n_train']:,} class-balanced training images, {s['epochs']} epochs of which {s['burn_in']} are burn-in (PART "
          f"continues from AT's burn-in checkpoint); natural, PGD-20, CW and MMA accuracy and their per-image worst case on "
          f"{s['n_eval']:,} class-balanced test images.", '',
          '| method | ' + ' | '.join(('natural', 'PGD-20', 'CW', 'MMA', 'worst of 3')) + ' | s per training epoch |',
          '|---|' + '---:|' * 6]
    for m in ('at', 'part'):
        r = runs[m]
        md.append(f"| {m} | " + ' | '.join(f"{r['robustness'][c]:.1f}" for c in cols) + f" | {r['time_per_epoch_wall']:.0f} |")
    d = {c: runs['part']['robustness'][c] - runs['at']['robustness'][c] for c in cols}
    md += ['', "PART minus AT (points, one seed): " + ', '.join(f"{c} {v:+.1f}" for c, v in d.items()) + '.', '']
    px = [e['share_at_eps'] for e in map(upgrade_keys, runs['part']['epochs']) if e['epoch'] >= s['burn_in'] and e.get('share_at_eps') is not None]
    if px: md += [f"PART kept eps on {100 * sum(px) / len(px):.0f}% of the pixels (mean over its reweighted epochs).", '']
    md += [f"Time: {st['wall_seconds_total'] / 60:.0f} min wall and {st['cpu_seconds_total'] / 60:.0f} CPU min for the two runs "
           f"and their evaluation (one torch thread, {st.get('nproc', st.get('cpus'))} cores shared with other jobs; load average "
           + ', '.join(f"{x['load_average_start']:.1f} at the start" for x in st['sessions'][:1]) + ').', '']
    return md


def write_section(res, fn=BENCH/'RESULTS.md'):
    "Replace (or add, before the GPU sections) the ViT section of RESULTS.md."
    md = results_section(res)
    if md: replace_section(fn, SECTION, md)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--pilot', action='store_true', help='measure the cost of one epoch (ViT and SmallVGG) instead of the study')
    p.add_argument('--pilot_n', type=int, default=1024, help='training images of the pilot epoch')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--archive', type=Path, default=ARCHIVE)
    p.add_argument('--report', action='store_true', help="only rewrite RESULTS.md's ViT section from bench/vit.json")
    a = p.parse_args()
    if a.report: return write_section(_read())
    if a.archive is None or not a.archive.exists(): sys.exit(f"bench_vit: no CIFAR-10 archive at {a.archive}: pass --archive")
    import torch
    torch.set_num_threads(1) # one core, as the figures say
    a.load0 = _load()
    pilot(a) if a.pilot else study(a)


if __name__ == '__main__': main()
