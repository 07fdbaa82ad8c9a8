"""Map faithfulness of the networks of the CIFAR-10 (JPEG) studies: do their GradCAM maps point at what they use?

    .venv/bin/python bench/bench_faithfulness.py          # -> bench/cifar/faithfulness.json, RESULTS.md's section

For each network, before training (fresh weights of each seed), at the end of AT's burn-in (the weights PART starts
reweighting with) and after training (AT, PART), `part_nb.faithfulness.map_faithfulness` on the first 500 of the
class-balanced test images: the area under the deletion curve (16 slices, removed pixels set to the image's mean
colour) in random order minus in map order, per image, then its mean and standard error. Above zero: the map ranks first
the pixels the network relies on. A network whose gap is no larger than its spread cannot make PART's placement matter.
Candidates for a network with more faithful maps (`--candidates`) are measured the same way, fresh and at the end of
the burn-in of an AT run with the cpu preset's settings (trained here to that point; `bench_placebo.py --questions c`
continues the same run).
"""
import argparse, datetime, json, sys, time, warnings
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from _common import write_json, mean_std, replace_section, machine_info
from part_nb.testing import cifar10_archive

ROOT = BENCH.parent
RUNS = BENCH/'cifar'/'runs'
SECTION = '## Map faithfulness: do the maps point at what the network uses?'


def test_images(a):
    "The first `a.n` class-balanced CIFAR-10 (JPEG) test images, in pixel space, on the CPU."
    from part_nb.run import run_settings, make_dls
    s = run_settings('at', 'cifar10', preset='cpu', data_path=str(a.archive), n_valid=a.n, n_eval=a.n)
    dls = make_dls(s, progress=False)
    return torch_cat([b[0] for b in dls.valid]).cpu()[:a.n]


def torch_cat(xs):
    import torch
    return torch.cat([x.as_subclass(torch.Tensor) for x in xs])


NAMES = {'smallvgg': 'SmallVGG', 'smallvgg32': 'SmallVGG-32', 'preactresnet20': 'PreAct ResNet-20'}


def network(name='smallvgg', fn=None, seed=0):
    "The network `name` (a `part_train --model` name): with the weights in `fn` (a model.pth or a checkpoint), or fresh from `seed`."
    import torch
    from part_nb.run import make_model
    torch.manual_seed(seed)
    m = make_model(name)
    if fn is not None:
        st = torch.load(fn, map_location='cpu', weights_only=True)
        m.load_state_dict(st['model'] if 'model' in st and 'epoch' in st else st)
    return m.eval()


def networks(a):
    "name -> (stage, seed, thunk giving the model) of every network measured: SmallVGG's, then the candidates'."
    out = {}
    for sd in a.seeds:
        out[f'fresh-seed{sd}'] = ('SmallVGG, fresh weights', sd, lambda sd=sd: network(seed=sd))
        ck = RUNS/f'at-seed{sd}'/'checkpoint-epoch3.pth'
        if ck.exists(): out[f'burn-in-seed{sd}'] = ('SmallVGG, end of AT burn-in (3 epochs)', sd, lambda ck=ck: network(fn=ck))
        for m, stage in (('at', 'SmallVGG, AT (12 epochs)'), ('part', 'SmallVGG, PART (12 epochs)')):
            fn = RUNS/f'{m}-seed{sd}'/'model.pth'
            if fn.exists(): out[f'{m}-seed{sd}'] = (stage, sd, lambda fn=fn: network(fn=fn))
    for c in a.candidates:
        for sd in a.candidate_seeds:
            out[f'fresh-{c}-seed{sd}'] = (f'{NAMES.get(c, c)}, fresh weights', sd, lambda c=c, sd=sd: network(c, seed=sd))
            ck = RUNS/f'at-{c}-seed{sd}'/'checkpoint-epoch3.pth'
            if ck.exists(): out[f'burn-in-{c}-seed{sd}'] = (f'{NAMES.get(c, c)}, end of AT burn-in (3 epochs)', sd, lambda c=c, ck=ck: network(c, fn=ck))
    return out


def train_burn_in(model, seed, a):
    """The AT run of `model` as the placebo study's question (c) plans it (bench/cifar/runs/at-<model>-seed<seed>), trained
    to the end of its burn-in and stopped there: its checkpoint-epoch3.pth is measured here, and `bench_placebo.py
    --questions c --network <model>` continues the same run (same settings, same schedule) from its checkpoint."""
    import bench_cifar as BC
    from part_nb.run import train_one, TrainingInterrupted
    from part_nb.testing import Interrupt # stops the run right after the burn-in's checkpoint, as Ctrl-C would
    base = BC.parse(['--archive', str(a.archive)])
    out = RUNS/f'at-{model}-seed{seed}'
    if (out/f'checkpoint-epoch{base.burn_in}.pth').exists(): return
    t = time.perf_counter()
    try: train_one('at', 'cifar10', out=out, overwrite=True, progress=False, keep=(base.burn_in,), cbs=[Interrupt(f'epoch{base.burn_in}')],
                   **BC.train_kw(base, seed, model=model))
    except TrainingInterrupted: pass # stopped, as asked, after the burn-in's checkpoint
    print(f"at-{model}-seed{seed}: {base.burn_in} epochs of AT in {time.perf_counter() - t:.0f} s", flush=True)


def measure(a):
    import torch
    from part_nb.faithfulness import map_faithfulness
    torch.set_num_threads(a.threads)
    for c in a.candidates:
        for sd in a.candidate_seeds: train_burn_in(c, sd, a)
    x = test_images(a)
    rows = {}
    for name, (stage, sd, make) in networks(a).items():
        t = time.perf_counter()
        r = map_faithfulness(make(), x, 'gradcam', steps=a.steps, seed=sd)
        r.pop('per_image')
        rows[name] = dict(stage=stage, seed=sd, **{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()},
                          seconds=round(time.perf_counter() - t, 1))
        print(f"{name}: gap {r['gap']:+.3f} ± {r['gap_se']:.3f} (AUC map {r['auc_map']:.3f}, random {r['auc_random']:.3f})", flush=True)
    return rows


def summarise(rows):
    "stage -> mean over seeds of the gap, its seed-to-seed spread, the mean per-network standard error, and the AUCs."
    out = {}
    for r in rows.values(): out.setdefault(r['stage'], []).append(r)
    return {st: dict(seeds=[r['seed'] for r in rs], gap=mean_std([r['gap'] for r in rs]), gap_se=mean_std([r['gap_se'] for r in rs])[0],
                     auc_map=mean_std([r['auc_map'] for r in rs])[0], auc_random=mean_std([r['auc_random'] for r in rs])[0])
            for st, rs in out.items()}


def reading(c):
    """What the measurements say: do the maps beat chance, and which network's maps at the end of the burn-in (where PART
    starts using them) are the most faithful, beyond SmallVGG's seed-to-seed range: the network of the placebo study's (c)."""
    burn = {st.split(',')[0]: s for st, s in c['summary'].items() if 'burn-in' in st}
    if not burn: return []
    rel = lambda s: 100 * s['gap'][0] / s['auc_random']
    vgg = [r['gap'] for r in c['networks'].values() if r['stage'].startswith('SmallVGG, end of AT burn-in')]
    best = max(burn, key=lambda k: burn[k]['gap'][0])
    out = [f"At the end of the burn-in, where PART starts to use them, every network's maps beat random order, each by more than "
           f"{min(s['gap'][0] / s['gap_se'] for s in burn.values()):.0f} standard errors, but by little: map order lowers the area "
           "under the deletion curve by " + ', '.join(f"{rel(s):.0f}% ({k})" for k, s in burn.items()) + '. Untrained networks have '
           "no gap: their class probabilities do not move whichever pixels go."]
    if best != 'SmallVGG' and vgg and burn[best]['gap'][0] > max(vgg):
        out.append(f"{best}'s maps are the most faithful of the candidates: its gap ({burn[best]['gap'][0]:.3f}) is above SmallVGG's on "
                   f"each of its {len(vgg)} seeds ({min(vgg):.3f} to {max(vgg):.3f}). It is the network of the placebo study's question (c).")
    return out


def section(c):
    md = [SECTION, '', f"Written by `{c['command']}` on {c['date']}.", '',
          f"`part_nb.faithfulness.map_faithfulness` on the first {c['n']} class-balanced CIFAR-10 (JPEG) test images: the area "
          f"under the deletion curve ({c['steps']} slices; removed pixels take the image's mean colour; the probability of "
          "the predicted class) in random order minus in the order of the network's GradCAM, per image. 0 means the map ranks "
          "pixels no better than chance; the largest possible value is 1. 'spread' is the standard deviation over the seeds; "
          "'s.e.' the standard error over the images of one network, averaged over the seeds.", '',
          '| network | seeds | gap (random − map) | spread over seeds | s.e. (images) | AUC, map order | AUC, random order |',
          '|---|---|---:|---:|---:|---:|---:|']
    for st, s in c['summary'].items():
        m, sd = s['gap']
        md.append(f"| {st} | {' '.join(map(str, s['seeds']))} | {m:+.3f} | {'n/a' if sd is None else f'{sd:.3f}'} | {s['gap_se']:.3f} | "
                  f"{s['auc_map']:.3f} | {s['auc_random']:.3f} |")
    md += [''] + [x for l in reading(c) for x in (l, '')]
    return md


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--archive', type=Path, default=cifar10_archive())
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--n', type=int, default=500, help='test images')
    p.add_argument('--steps', type=int, default=16, help='slices of the deletion curves')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--candidates', nargs='*', default=['smallvgg32', 'preactresnet20'],
                   help="networks that might have more faithful maps than SmallVGG: each is trained (AT) to the end of its burn-in")
    p.add_argument('--candidate_seeds', nargs='*', type=int, default=[0])
    p.add_argument('--no_results', action='store_true', help="do not rewrite bench/RESULTS.md's section")
    p.add_argument('--report', action='store_true', help="only rewrite RESULTS.md's section from bench/cifar/faithfulness.json")
    a = p.parse_args(argv)
    warnings.filterwarnings('ignore', category=FutureWarning)
    if a.report: # the section again from the last measurement, e.g. one copied from a study's worktree
        c = json.loads((BENCH/'cifar'/'faithfulness.json').read_text())
        replace_section(BENCH/'RESULTS.md', SECTION, section(c))
        return c
    if a.archive is None or not a.archive.exists(): sys.exit(f"bench_faithfulness: no CIFAR-10 archive at {a.archive}: pass --archive")
    rows = measure(a)
    c = dict(command=' '.join(['.venv/bin/python', 'bench/bench_faithfulness.py'] + (argv if argv is not None else sys.argv[1:])),
             date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'), machine=machine_info(), n=a.n, steps=a.steps,
             networks=rows, summary=summarise(rows))
    write_json(BENCH/'cifar'/'faithfulness.json', c)
    for st, s in c['summary'].items(): print(f"{st}: gap {s['gap'][0]:+.3f} (spread {s['gap'][1]}), s.e. {s['gap_se']:.3f}")
    if not a.no_results: replace_section(BENCH/'RESULTS.md', SECTION, section(c))
    return c


if __name__ == '__main__': main()
