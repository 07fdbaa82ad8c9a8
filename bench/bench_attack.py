"""Speed of per-pixel PGD against uniform PGD (and torchattacks' PGD when installed).

Usage: .venv/bin/python bench/bench_attack.py [--repeats 3] [--resnet-steps 2] [--mnist-steps 10] [--out bench/attack.json]
       python bench/bench_attack.py --device cuda --resnet-steps 10   # on a GPU (the default when one is there)

Contenders take turns in each repeat, the order rotating; the best time of the repeats is kept. `torchattacks` is a
bench-only, optional dependency, which `make bench` installs (`pip install --no-deps torchattacks==3.5.1`: its pin
`requests~=2.25` would downgrade requests); it is not a requirement of part_nb.
"""
import argparse, sys, time
from pathlib import Path
import torch
from part_nb.attack import pgd
from part_nb.models import ResNet18, SmallCNN
from _common import machine_info, write_json

EPS, EPS_LOW, ALPHA = 8/255, 7/255, 2/255

def contenders(model, x, y, steps):
    "name -> zero-argument function running one attack."
    g = torch.Generator().manual_seed(0)
    eps_map = torch.where(torch.rand(x.shape[0], 1, *x.shape[2:], generator=g) < 0.5, EPS, EPS_LOW).to(x.device) # PART's (B,1,H,W) budget
    c = {'uniform': lambda: pgd(model, x, y, EPS, ALPHA, steps),
         'per-pixel': lambda: pgd(model, x, y, eps_map, ALPHA, steps)}
    try:
        import torchattacks
        atk = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=steps, random_start=True)
        c['torchattacks'] = lambda: atk(x, y)
    except ImportError: print('torchattacks not installed: skipped (pip install --no-deps torchattacks)')
    return c

def sync():
    if torch.cuda.is_available(): torch.cuda.synchronize() # GPU work is asynchronous: wait for it before reading the clock

def bench(name, model, x, y, steps, repeats):
    model.eval()
    fns = contenders(model, x, y, steps)
    for f in fns.values(): f() if x.shape[1] == 1 or x.is_cuda else None # warm-up (skipped for ResNet on a CPU: 4 s a pass)
    sync()
    times = {k: [] for k in fns}
    names = list(fns)
    for r in range(repeats): # the contenders take turns, the order rotating from round to round, so that load changes hit all
        for k in names[r % len(names):] + names[:r % len(names)]:
            t = time.perf_counter(); fns[k](); sync(); times[k].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    res = dict(setting=name, batch=tuple(x.shape), steps=steps, repeats=repeats,
               seconds_best={k: round(v, 4) for k, v in best.items()},
               seconds_all={k: [round(t, 4) for t in v] for k, v in times.items()},
               per_step_seconds={k: round(v / steps, 4) for k, v in best.items()},
               ratio_per_pixel_vs_uniform=round(best['per-pixel'] / best['uniform'], 4))
    if 'torchattacks' in best: res['ratio_per_pixel_vs_torchattacks'] = round(best['per-pixel'] / best['torchattacks'], 4)
    print(f"{name}: " + ', '.join(f"{k} {v:.3f}s" for k, v in best.items())
          + f" | per-pixel/uniform {res['ratio_per_pixel_vs_uniform']:.3f}"
          + (f" | per-pixel/torchattacks {res['ratio_per_pixel_vs_torchattacks']:.3f}" if 'torchattacks' in best else ''), flush=True)
    return res

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--resnet-steps', type=int, default=2)
    p.add_argument('--mnist-steps', type=int, default=10)
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--out', default=str(Path(__file__).parent / 'attack.json'))
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = p.parse_args()
    torch.manual_seed(0)
    d = torch.device(a.device)
    results = [bench('SmallCNN MNIST', SmallCNN(10, 1).to(d), torch.rand(a.bs, 1, 28, 28, device=d), torch.randint(0, 10, (a.bs,), device=d),
                     a.mnist_steps, max(a.repeats, 5)),
               bench('ResNet18 CIFAR-10', ResNet18(10).to(d), torch.rand(a.bs, 3, 32, 32, device=d), torch.randint(0, 10, (a.bs,), device=d),
                     a.resnet_steps, a.repeats)]
    try: import torchattacks; ta = torchattacks.__version__
    except ImportError: ta = None
    out = {'command': ' '.join(['.venv/bin/python', 'bench/bench_attack.py'] + sys.argv[1:]), **machine_info(), 'device': str(d),
           'torchattacks': ta, 'eps': EPS, 'eps_low': EPS_LOW, 'alpha': ALPHA, 'results': results}
    write_json(a.out, out)
    print('wrote', a.out)

if __name__ == '__main__': main()
