"""Bit-level fingerprint of training with ATCallback/PARTCallback (float32, CPU, one thread) and of the evaluation attacks.

    .venv/bin/python bench/fingerprint.py

Two epochs of AT, PART and PART-T on SmallVGG with random images, then natural/PGD-20/CW/MMA accuracy: prints a hash of
the weights of each. Then four small runs of `train_one` on MNIST-5k (settings, data, model registry, learner,
checkpoint and evaluation of a run): PART, the placebo PART-T-random, AT on PreAct ResNet-20, PART on SmallVGG-32.
Run it before and after a refactoring on the same machine: equal hashes mean training is unchanged bit for bit. The hashes depend on the machine and the torch version, so they are compared, never stored."""
import warnings; warnings.filterwarnings('ignore')
import hashlib, torch
torch.set_num_threads(1)
from fastai.vision.all import *
from part_nb.models import SmallVGG
from part_nb.callback import ATCallback, PARTCallback
from part_nb.evaluate import evaluate_robustness

def dls():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(96, 3, 32, 32, generator=g); y = torch.randint(0, 10, (96,), generator=g)
    ds = [(TensorImage(x[i]), TensorCategory(y[i])) for i in range(96)]
    return DataLoaders.from_dsets(ds[:64], ds[64:], bs=32, shuffle=False, num_workers=0)
out = {}
for name, cb in [('at', lambda: ATCallback(steps=3, alpha=2.5/255)), ('part', lambda: PARTCallback(steps=3, alpha=2.5/255, burn_in=1)),
                 ('part-t', lambda: PARTCallback(steps=3, alpha=2.5/255, burn_in=1, loss='trades'))]:
    torch.manual_seed(0); d = dls()
    learn = Learner(d, SmallVGG(), loss_func=CrossEntropyLossFlat(), opt_func=SGD, lr=0.05, cbs=cb())
    with learn.no_bar(), learn.no_logging(): learn.fit(2)
    out[name] = hashlib.sha256(b''.join(p.detach().numpy().tobytes() for p in learn.model.state_dict().values())).hexdigest()[:16]
    t = evaluate_robustness(learn.model, d.valid, 8/255, attacks=('natural', 'pgd20', 'cw', 'mma'), progress=False)
    out[name + '-eval'] = t['accuracy'].round(4).tolist()

import tempfile
from pathlib import Path
from part_nb.run import train_one
kw = dict(epochs=2, burn_in=1, n_train=64, n_valid=32, bs=32, steps=2, attacks=('natural', 'pgd20'), progress=False)
for m, extra in [('part', {}), ('part-t-random', {}), ('at', dict(model='preactresnet20')), ('part', dict(model='smallvgg32', eps=0.1))]:
    with tempfile.TemporaryDirectory() as d:
        met = train_one(m, out=Path(d)/'run', **kw, **extra)
        sd = torch.load(Path(d)/'run'/'model.pth', weights_only=True)
    name = '-'.join([m, *map(str, extra.values())])
    out[f'run:{name}'] = hashlib.sha256(b''.join(v.numpy().tobytes() for v in sd.values())).hexdigest()[:16]
    out[f'run:{name}-eval'] = [round(v, 4) for v in met['robustness'].values()]
print(out)
