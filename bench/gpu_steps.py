"""The checks of the GPU check, one function a step: the `#| cuda` notebook tests, PART-T under to_fp16 within its
budgets, the benchmarks with their peak CUDA memory, and a short CIFAR-10 AT/PART comparison that fills the time left.
Each step takes (args, work folder, deadline) and returns its record, or raises `Skipped` or any error (a failure)."""
import json, re, subprocess, sys, time
from pathlib import Path
from gpu_wheels import child_env

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SKIP_NOTEBOOKS = {'11_tutorial_cifar10.ipynb': "its `#| cuda` cells are the paper's recipe (80 epochs per model: hours) "
                                               "and download CIFAR-10"}
CPU_NOTEBOOK = '08a_script.ipynb' # on a CPU the `#| cuda` cells cannot run: this quick notebook checks the call
EPS, EPS_LOW, ALPHA = 8/255, 7/255, 2/255
CIFAR_STATS = ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])


class Skipped(Exception):
    "A step that cannot run in this environment; the reason goes into the results."


def step_notebooks(a, work, deadline):
    import importlib.util
    if importlib.util.find_spec('nbdev') is None: raise Skipped('nbdev is not installed in this environment')
    if a.device == 'cuda':
        nbs = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if '#| cuda' in p.read_text() and p.name not in SKIP_NOTEBOOKS)
        flags = 'cuda'
    else: nbs, flags = [CPU_NOTEBOOK], ''
    file_re = '^(' + '|'.join(re.escape(n) for n in nbs) + ')$'
    code = f"from nbdev.test import nbdev_test; nbdev_test(path='nbs', flags={flags!r}, file_re={file_re!r}, n_workers=0, timing=True)"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                       timeout=max(60, deadline - time.time()))
    (work/'notebooks.log').write_text(r.stdout + r.stderr)
    if r.returncode != 0 or 'Success.' not in r.stdout:
        raise RuntimeError(f"nbdev_test failed (exit status {r.returncode}):\n" + (r.stdout + r.stderr)[-3000:])
    return dict(notebooks=nbs, flags=flags or '(none)', seconds_nbdev_test=round(time.perf_counter() - t0, 1),
                skipped={k: v for k, v in SKIP_NOTEBOOKS.items()} if a.device == 'cuda' else {})


def _fp16_data(a, dev):
    "(DataLoaders, model, what) for the fp16 step: CIFAR-10 images on ResNet-18 when the archive is given."
    from part_nb.models import ResNet18
    from part_nb.testing import TinyCNN, quadrant_dls
    n_train, n_valid, bs = (64, 32, 16) if a.quick else (4096, 512, 128)
    if a.cifar:
        from part_nb.data import cifar10_dls
        dls = cifar10_dls(path=a.cifar, n_train=n_train, n_valid=n_valid, bs=bs, device=dev)
        data = f'{n_train} CIFAR-10 (JPEG) training images'
    else:
        dls = quadrant_dls(n_train=n_train, n_valid=n_valid, bs=bs, size=32, device=dev)
        data = f'{n_train} synthetic quadrant images'
    model, name = (TinyCNN(dls.c), 'TinyCNN') if a.quick else (ResNet18(dls.c), 'ResNet-18')
    return dls, model, f'{name} on {data}'


def step_fp16(a, work, deadline):
    import torch
    from fastai.vision.all import Learner, Normalize, CrossEntropyLossFlat, Callback
    from part_nb.core import find_normalize
    from part_nb.callback import PARTCallback
    from part_nb.core import seed_everything
    seed_everything(0)
    dls, model, what = _fp16_data(a, a.device)
    dls.add_tfms([Normalize.from_stats(*CIFAR_STATS)], 'after_batch')
    rec = dict(batches=0, reweighted_batches=0, max_excess=-1., min_pixel=1., max_pixel=0., attack_dtypes=set(),
               pred_dtypes=set(), budget_values=set(), share_at_eps=[])
    clean = {}
    class Clean(Callback):
        order = PARTCallback.order - 1
        def before_batch(self):
            if self.training: clean['x'] = self.xb[0]
    class Check(Callback):
        "After PART's attack, before MixedPrecision: the adversarial batch (TRADES keeps it for the regulariser) in pixels."
        order = PARTCallback.order + 1
        def before_batch(self):
            cb = self.learn.part
            if not self.training or cb._other is None: return
            mean, std = (s.to(self.xb[0].device) for s in find_normalize(self.dls))
            x_adv = cb._other.as_subclass(torch.Tensor).float() * std + mean # pixel space, not clamped
            x = clean['x'].as_subclass(torch.Tensor).float() * std + mean
            budget = torch.as_tensor(cb.budget, device=x.device, dtype=torch.float32).expand_as(x)
            rec['batches'] += 1
            rec['max_excess'] = max(rec['max_excess'], ((x_adv - x).abs() - budget).max().item())
            rec['min_pixel'], rec['max_pixel'] = min(rec['min_pixel'], x_adv.min().item()), max(rec['max_pixel'], x_adv.max().item())
            rec['attack_dtypes'].add(str(cb._other.dtype))
            if isinstance(cb.budget, torch.Tensor):
                rec['reweighted_batches'] += 1
                rec['budget_values'] |= set(cb.budget.unique().tolist())
                rec['share_at_eps'].append((cb.budget >= EPS - 1e-6).float().mean().item())
        def after_pred(self):
            if self.training: rec['pred_dtypes'].add(str(self.pred.dtype))
    steps = 2 if a.quick else 10
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(),
                    cbs=[PARTCallback(EPS, EPS_LOW, ALPHA, steps, burn_in=1, loss='trades'), Clean(), Check()]).to_fp16()
    if a.device == 'cuda': torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 0.01)
    if a.device == 'cuda': torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    allowed = set(torch.tensor([EPS, EPS_LOW]).tolist()) # float32 values
    ok = dict(within_budget=rec['max_excess'] <= 1e-5, in_unit_range=rec['min_pixel'] >= -1e-5 and rec['max_pixel'] <= 1 + 1e-5,
              budgets_are_eps_or_eps_low=rec['budget_values'] <= allowed and len(rec['budget_values']) > 0,
              both_phases=rec['reweighted_batches'] > 0 and rec['batches'] > rec['reweighted_batches'],
              attack_in_float32=rec['attack_dtypes'] == {'torch.float32'},
              mixed_precision_forward=(rec['pred_dtypes'] == {'torch.float16'}) if a.device == 'cuda' else True)
    res = dict(setting=f"{what}, batch {dls.train.bs}, PART-T (TRADES beta 6), eps 8/255, eps_low 7/255, step 2/255, "
                       f"PGD-{steps}, 2 epochs (burn-in 1), to_fp16, fastai Normalize with the CIFAR-10 statistics",
               seconds_fit=round(seconds, 2), batches_checked=rec['batches'], reweighted_batches=rec['reweighted_batches'],
               max_excess_over_budget=rec['max_excess'], pixel_range=[rec['min_pixel'], rec['max_pixel']],
               budget_values=sorted(rec['budget_values']), attack_dtypes=sorted(rec['attack_dtypes']),
               forward_dtypes_in_training=sorted(rec['pred_dtypes']),
               share_of_pixels_at_eps=round(sum(rec['share_at_eps']) / len(rec['share_at_eps']), 4) if rec['share_at_eps'] else None,
               checks=ok, history=learn.part.history)
    if a.device == 'cuda': res['cuda_peak_mib'] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if not all(ok.values()): raise RuntimeError(f"fp16 checks failed: {[k for k, v in ok.items() if not v]}: {res}")
    return res


PEAK = ("import os, runpy, sys, torch\nsys.argv = sys.argv[1:]\nsys.path.insert(0, os.path.dirname(sys.argv[0])) # as `python script.py` would: bench/_common\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "if torch.cuda.is_available(): print('GPU_CHECK_CUDA_PEAK', torch.cuda.max_memory_allocated(), flush=True)")

def _bench_args(a, out):
    "(name, script, arguments, JSON) of each benchmark, with the device's settings or tiny ones for --quick."
    if a.quick:
        return [('epoch', 'bench_epoch.py', ['--pairs', 'at/part', '--n_train', '32', '--bs', '16', '--repeats', '1', '--mem_steps', '1',
                                       '--mem_repeats', '1'], out/'epoch.json'),
                ('cam', 'bench_cam.py', ['--device', a.device, '--repeats', '1', '--smallcnn-repeats', '1', '--bs', '8'], out/'cam.json'),
                ('attack', 'bench_attack.py', ['--device', a.device, '--repeats', '1', '--resnet-steps', '1', '--mnist-steps', '2',
                                               '--bs', '8'], out/'attack.json')]
    return [('epoch', 'bench_epoch.py', ['--mem_repeats', '1'], out/'epoch.json'),
            ('cam', 'bench_cam.py', ['--device', a.device], out/'cam.json'),
            ('attack', 'bench_attack.py', ['--device', a.device, '--resnet-steps', '10'], out/'attack.json')]


def step_benchmarks(a, work, deadline):
    res = {}
    for name, script, args, js in _bench_args(a, work):
        cmd = [sys.executable, '-c', PEAK, str(BENCH/script), *args, '--out', str(js)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=max(60, deadline - time.time()))
        (work/f'bench_{name}.log').write_text(r.stdout + r.stderr)
        if r.returncode != 0 or not js.exists():
            raise RuntimeError(f"{script} failed (exit status {r.returncode}):\n" + (r.stdout + r.stderr)[-3000:])
        peak = [int(l.split()[1]) for l in r.stdout.splitlines() if l.startswith('GPU_CHECK_CUDA_PEAK')]
        res[name] = dict(command=' '.join(['python', f'bench/{script}', *args]), seconds=round(time.perf_counter() - t0, 1),
                         cuda_peak_mib=round(peak[0] / 2**20, 1) if peak else None, json=json.loads(js.read_text()))
    return res


def _probe_epoch(a, s):
    "Seconds per training batch of AT with the run's settings, on the first batches (validation not run)."
    import torch
    from fastai.callback.core import Callback, CancelFitException, CancelValidException
    from part_nb.run import make_dls, make_model, make_learner
    from part_nb.core import seed_everything
    sync = torch.cuda.synchronize if a.device == 'cuda' else (lambda: None)
    n = 3 if a.quick else 25 # batches timed after 2 untimed ones (cudnn autotuning, first allocations)
    times = []
    class Clock(Callback):
        order = 100
        def before_batch(self):
            if self.training: sync(); self.t0 = time.perf_counter()
        def after_batch(self):
            if not self.training: return
            sync(); times.append(time.perf_counter() - self.t0)
            if len(times) >= n + 2: raise CancelFitException()
        def before_validate(self): raise CancelValidException()
    t0 = time.perf_counter()
    dls = make_dls(s)
    t_data = time.perf_counter() - t0
    seed_everything(0)
    learn = make_learner(s, dls, make_model(s['model'], dls.c, 3), cbs=[Clock()])
    with learn.no_bar(), learn.no_logging(): learn.fit(1)
    timed = times[2:] or times
    return sum(timed) / len(timed), len(dls.train), len(dls.valid), t_data


def step_cifar10(a, work, deadline):
    if not a.cifar: raise Skipped('no CIFAR-10 archive given (--cifar)')
    import torch
    from part_nb.run import compare, run_settings
    from part_nb.report import summary_markdown
    common = dict(data_path=str(a.cifar), download=False)
    if a.quick: common.update(model='smallvgg', n_train=128, n_valid=64, bs=32, steps=1, n_eval=32, attacks=('natural', 'pgd20'))
    else: common.update(n_eval=1000, attacks=('natural', 'pgd20', 'cw', 'mma'))
    burn_in = 1
    s = run_settings('at', 'cifar10', epochs=2, burn_in=burn_in, **common)
    per_batch, n_batches, n_valid_batches, t_data = _probe_epoch(a, s)
    # an epoch: its training batches, plus validation (one forward pass of each batch: about 1/30 of a PGD-10 step)
    # and 10% for PART's maps; the evaluation of the two models: PGD-20, CW-30 and MMA-20 over n_eval images
    t_epoch = per_batch * (n_batches * 1.1 + n_valid_batches / 30)
    steps_eval = sum(dict(natural=0, pgd20=20, cw=30, mma=20)[k] for k in common['attacks'])
    t_eval = 2 * per_batch * (common['n_eval'] / s['bs']) * steps_eval / 11
    left = deadline - time.time() - 2 * t_data - t_eval - 15
    fit = int((left / t_epoch + burn_in) // 2) # AT trains E epochs, PART the E - burn_in after the shared burn-in
    epochs = 2 if a.quick else min(max(fit, 0), a.max_epochs)
    plan = dict(probe_seconds_per_batch=round(per_batch, 4), batches_per_epoch=n_batches, data_load_seconds=round(t_data, 1),
                estimated_epoch_seconds=round(t_epoch, 1), estimated_eval_seconds=round(t_eval, 1),
                seconds_left_at_plan=round(deadline - time.time(), 1), epochs_that_fit=fit)
    if epochs < burn_in + 1:
        raise Skipped(f"not even {burn_in + 1} epochs fit in the time left ({plan})")
    if a.device == 'cuda': torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    df = compare(('at', 'part'), (0,), data='cifar10', out=work/'cifar10', progress=False, epochs=epochs, burn_in=burn_in, **common)
    runs = {m: json.loads((work/'cifar10'/f'{m}-seed0'/'metrics.json').read_text()) for m in ('at', 'part')}
    res = dict(plan=plan, epochs=epochs, burn_in=burn_in, seconds=round(time.perf_counter() - t0, 1), table=summary_markdown(df),
               settings={k: (list(v) if isinstance(v, tuple) else v) for k, v in run_settings('part', 'cifar10', epochs=epochs, burn_in=burn_in, **common).items()
                         if k in ('model', 'eps', 'eps_low', 'alpha', 'steps', 'opt', 'lr', 'mom', 'wd', 'bs', 'n_train', 'n_valid', 'n_eval', 'attacks')},
               runs={m: dict(robustness=r['robustness'], time_per_epoch=r['time_per_epoch'],
                             epochs=[{k: e.get(k) for k in ('epoch', 'train_loss', 'valid_loss', 'accuracy', 'adv_acc', 'share_at_eps', 'time_epoch')}
                                     for e in r['epochs']]) for m, r in runs.items()},
               report=str(work/'cifar10'/'REPORT.md'))
    if a.device == 'cuda': res['cuda_peak_mib'] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return res


STEPS = (('notebooks', step_notebooks), ('fp16', step_fp16), ('benchmarks', step_benchmarks), ('cifar10', step_cifar10))
