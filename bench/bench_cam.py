"""How much PART's per-pixel budgets cost: part_nb's batched masks (the 'paper', 'reference' and 'soft' rules) vs a
per-image pipeline like the reference code's vs one no-grad forward pass of the same batch.

    .venv/bin/python bench/bench_cam.py            # ResNet-18 on 128x3x32x32 (the paper's CIFAR shapes) and SmallCNN on 128x1x28x28
    .venv/bin/python bench/bench_cam.py --repeats 2 --smallcnn-repeats 5
    python bench/bench_cam.py --device cuda        # on a GPU (the default when one is there); the clock synchronises CUDA

Contenders run in alternating order within each round; each figure is the best of the rounds. Results (seconds and the
ratios masks/forward and reference/part_nb) are printed and written to bench/cam.json. When torchcam is installed (a
bench-only dependency that `make bench` installs: `pip install --no-deps torchcam==0.5.0`), the per-image pipeline
takes its single-image GradCAM from torchcam, as the reference code does, torchcam's batched GradCAM is timed as a
contender, and the maxima of |part_nb - torchcam| over the layer-resolution maps of 16 images are recorded for
GradCAM, XGradCAM and LayerCAM. Nothing here asserts a time.
"""
import argparse, time
from pathlib import Path

import torch, torch.nn.functional as F

from part_nb.cam import class_activation_map, resolve_cam_layer
from part_nb.budget import cam_budget, pixel_budget, reference_budget_loop
from part_nb.models import ResNet18, SmallCNN
from _common import machine_info, write_json

EPS, EPS_LOW = 8 / 255, 7 / 255

try:
    import torchcam
    from torchcam.methods import GradCAM as TorchcamGradCAM, XGradCAM as TorchcamXGradCAM, LayerCAM as TorchcamLayerCAM
except ImportError: torchcam = None


def parse(argv=None):
    "The benchmark's options."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=3, help='rounds for ResNet-18 (a forward of 128 CIFAR images takes seconds)')
    p.add_argument('--smallcnn-repeats', type=int, default=7, help='rounds for SmallCNN')
    p.add_argument('--bs', type=int, default=128)
    p.add_argument('--out', default=str(Path(__file__).with_name('cam.json')))
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    return p.parse_args(argv)


def single_image_gradcam(model, layer, x1):
    "GradCAM of one image as the reference code gets it from torchcam: forward with the full graph, grad at the layer."
    if torchcam is not None:
        with TorchcamGradCAM(model, layer) as extractor:
            out = model(x1)
            return extractor(out.argmax().item(), out)[0][0]
    acts = []
    h = layer.register_forward_hook(lambda m, i, o: acts.append(o))
    try: out = model(x1)
    finally: h.remove()
    g, = torch.autograd.grad(out[0, out.argmax()], acts[0])
    cam = F.relu((g.mean((2, 3), keepdim=True) * acts[0]).sum(1))[0].detach()
    cam = cam - cam.min()
    return cam / (cam.max() + 1e-8)


def reference_masks(model, x, layer):
    "The reference code's loop: per image CAM (torchcam's when installed), then the budget on the CPU with PIL, matplotlib and NumPy."
    size = tuple(x.shape[-2:])
    return torch.cat([reference_budget_loop(single_image_gradcam(model, layer, x[i:i+1])[None, None], size, EPS, EPS_LOW)
                      for i in range(len(x))]).to(x.device)


def torchcam_batched(model, x, layer):
    "torchcam's GradCAM for the whole batch, then the paper's rule on device."
    with TorchcamGradCAM(model, layer) as extractor:
        out = model(x)
        cam = extractor(out.argmax(1).tolist(), out)[0][:, None]
    return pixel_budget(cam, EPS, EPS_LOW, size=tuple(x.shape[-2:]))


def forward(model, x):
    with torch.no_grad(): return model(x)


def _sync():
    if torch.cuda.is_available(): torch.cuda.synchronize() # GPU work is asynchronous: wait for it before reading the clock


def best_times(contenders, repeats):
    "Best wall time of each contender over `repeats` rounds, the order rotating from round to round (after one warm-up run)."
    for f in contenders.values(): f()
    _sync()
    times = {k: float('inf') for k in contenders}
    names = list(contenders)
    for r in range(repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter(); contenders[k](); _sync(); times[k] = min(times[k], time.perf_counter() - t0)
    return times


def agreement(model, x, layer):
    "Max |difference| between part_nb's and torchcam's layer-resolution maps (GradCAM, XGradCAM, LayerCAM)."
    res = {}
    for name, cls in [('gradcam', TorchcamGradCAM), ('xgradcam', TorchcamXGradCAM), ('layercam', TorchcamLayerCAM)]:
        ours = class_activation_map(model, x, name, upsample=False)[:, 0]
        with cls(model, layer) as extractor:
            out = model(x)
            theirs = extractor(out.argmax(1).tolist(), out)[0]
        res[name] = float((ours - theirs).abs().max())
    return res


def bench(name, model, x, repeats):
    model.eval()
    layer = resolve_cam_layer(model)
    contenders = {
        'forward (no grad)': lambda: forward(model, x),
        "part_nb masks, 'paper'": lambda: cam_budget(model, x, EPS, EPS_LOW),
        "part_nb masks, 'reference'": lambda: cam_budget(model, x, EPS, EPS_LOW, rule='reference'),
        "part_nb budgets, 'soft'": lambda: cam_budget(model, x, EPS, EPS_LOW, rule='soft'),
        'per-image reference pipeline': lambda: reference_masks(model, x, layer),
    }
    if torchcam is not None: contenders["torchcam batched GradCAM + 'paper'"] = lambda: torchcam_batched(model, x, layer)
    times = best_times(contenders, repeats)
    fwd = times['forward (no grad)']
    # the per-image pipeline computes exactly what part_nb's 'reference' mode computes in one batch
    same = (reference_masks(model, x[:16], layer) == cam_budget(model, x[:16], EPS, EPS_LOW, rule='reference')).float().mean()
    res = dict(shape=list(x.shape), repeats=repeats, seconds=times,
               ratios={'paper masks / forward': times["part_nb masks, 'paper'"] / fwd,
                       'reference-mode masks / forward': times["part_nb masks, 'reference'"] / fwd,
                       'soft budgets / forward': times["part_nb budgets, 'soft'"] / fwd,
                       "soft / paper": times["part_nb budgets, 'soft'"] / times["part_nb masks, 'paper'"],
                       'per-image reference / forward': times['per-image reference pipeline'] / fwd,
                       "per-image reference / part_nb 'paper'": times['per-image reference pipeline'] / times["part_nb masks, 'paper'"],
                       "per-image reference / part_nb 'reference'": times['per-image reference pipeline'] / times["part_nb masks, 'reference'"]},
               reference_mode_agreement_first16=float(same))
    if torchcam is not None:
        res['ratios']["torchcam batched / part_nb 'paper'"] = times["torchcam batched GradCAM + 'paper'"] / times["part_nb masks, 'paper'"]
        res['max_abs_diff_vs_torchcam'] = agreement(model, x[:16], layer)
    print(f"\n{name}: batch {tuple(x.shape)}, best of {repeats}")
    for k, v in times.items(): print(f"  {k:38s} {v:8.3f} s")
    for k, v in res['ratios'].items(): print(f"  {k:38s} {v:8.2f}x")
    print(f"  per-image reference == part_nb 'reference' on 16 images: {float(same):.4f} of the values")
    if 'max_abs_diff_vs_torchcam' in res: print(f"  max |part_nb - torchcam| of the maps: {res['max_abs_diff_vs_torchcam']}")
    return res


def main():
    a = parse()
    torch.manual_seed(0)
    dev = torch.device(a.device)
    results = {**machine_info(), 'device': str(dev), 'torchcam': getattr(torchcam, '__version__', None), 'method': 'gradcam',
               'eps': EPS, 'eps_low': EPS_LOW}
    results['resnet18_cifar'] = bench('ResNet-18, CIFAR-10 shapes', ResNet18(10).to(dev), torch.rand(a.bs, 3, 32, 32, device=dev), a.repeats)
    results['smallcnn_mnist'] = bench('SmallCNN, MNIST shapes', SmallCNN(10).to(dev), torch.rand(a.bs, 1, 28, 28, device=dev), a.smallcnn_repeats)
    write_json(a.out, results)
    print(f"\nwritten to {a.out}")


if __name__ == '__main__': main()
