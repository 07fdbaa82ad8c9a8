"""`make gpu-check`: part_nb's GPU paths, exercised and measured in one command of a few minutes -> bench/RESULTS-gpu.md.

    python bench/gpu_check.py --cifar .gpu/cifar10-jpeg.tgz     # on a machine with CUDA (6 minutes: --budget 360)
    python bench/gpu_check.py --device cpu --quick --cifar ../shared/data/cifar10-jpeg.tgz --out /tmp/check.md
                                                                # the same code paths on a CPU, tiny settings (tests/test_gpu_check.py)

Steps, each timed; a step that fails is reported with its error and the others still run (exit status 1):
1. notebooks: `nbdev_test --flags cuda` on the notebooks that have `#| cuda` cells, except 11_tutorial_cifar10, whose
   `#| cuda` cells are the paper's recipe (80 epochs per model: hours) and download CIFAR-10. On a CPU: `nbdev_test`
   of nbs/08a_script.ipynb (seconds) without flags, as a check of the call. Skipped where nbdev is not installed.
2. fp16: PART-T (PARTCallback(loss='trades')) on ResNet-18 under `to_fp16`, with fastai's `Normalize` in the batches:
   every element of every adversarial training batch must stay within its own budget in pixel units, inside [0,1].
3. benchmarks: bench_epoch.py (cost of an epoch and peak memory of a step, PART against AT/TRADES/MART),
   bench_cam.py and bench_attack.py on the device, each with its peak CUDA memory (`torch.cuda.max_memory_allocated`).
4. cifar10: AT against PART, ResNet-18, CIFAR-10 (JPEG) with all 50,000 training images, `part_nb.run.compare` with
   the shared burn-in (1 epoch); a probe of training batches times an epoch first, and the number of epochs is the
   largest that fits the time left of `--budget`.
5. RESULTS-gpu.md: the device, the versions and every figure of steps 1-4, all measured by this run.

Without CUDA, the default `--device cuda` prints that nothing was measured and exits 0 without writing any file.

On a lent GPU machine (the device tool: no registry, no ../shared there), from the repository root here:

    make gpu-wheels                                  # .gpu/wheels: the dev stack's wheels for the device's Python 3.12
    cp ../shared/data/cifar10-jpeg.tgz .gpu/         # .gpu/ is ignored by git, so it travels only when carried
    # device tool: run(command='PYTHONUNBUFFERED=1 python3 bench/gpu_check.py --wheels .gpu/wheels --cifar .gpu/cifar10-jpeg.tgz;
    #                  cp bench/RESULTS-gpu.md bench/out/gpu-check/results.json $OUT/', carry=['.gpu/wheels', '.gpu/cifar10-jpeg.tgz'],
    #                  timeout_s=480)

The wheels (16 MiB) and the archive (20 MB) stay well under the 64 MiB that a call may carry. `--budget` (default 360 s)
bounds the whole check: the CIFAR-10 step gets what the others leave. With the machine's start (a minute or two),
one try takes about 8 of the 15 minutes a lease has; a failed step does not stop the others, so one try is the plan.

That command is what `make gpu-check` runs where there is no .venv (and `make` may not be installed there). It installs the
wheels with `pip --no-index --no-deps --target .gpu/site` and puts that folder and the repository on PYTHONPATH: the
device's own python3 brings torch and torchvision.
"""
import argparse, datetime, json, os, platform, re, shutil, subprocess, sys, time, traceback
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SKIP_NOTEBOOKS = {'11_tutorial_cifar10.ipynb': "its `#| cuda` cells are the paper's recipe (80 epochs per model: hours) "
                                               "and download CIFAR-10"}
CPU_NOTEBOOK = '08a_script.ipynb' # on a CPU the `#| cuda` cells cannot run: this quick notebook checks the call
EPS, EPS_LOW, ALPHA = 8/255, 7/255, 2/255
CIFAR_STATS = ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])

# What the device's image already holds (the device tool's KINDS.md, read 2026-11-17): never carried, so that a wheel
# cannot shadow a package its torch needs. `spacy` is fastai's, for fastai.text only; part_nb imports fastai.vision.
DEVICE_HAS = set('''absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio
iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader
lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson
ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba
numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13
nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers
toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp'''.split())
NOT_CARRIED = {'spacy'}
DEVICE_PYTHON = '3.12'
PLATFORMS = ['manylinux_2_' + str(n) + '_x86_64' for n in (39, 35, 34, 31, 28, 27, 24, 17)] + ['manylinux2014_x86_64', 'manylinux1_x86_64']


def _norm(name): return re.sub(r'[-_.]+', '-', name).lower()


# ---------------------------------------------------------------- wheels for a machine without a registry

def wheel_pins(extras=('dev',)):
    "name==version of every package part_nb (with `extras`) needs here that the device lacks, read from this environment."
    from importlib.metadata import distribution, PackageNotFoundError
    from packaging.requirements import Requirement
    env = dict(python_version=DEVICE_PYTHON, python_full_version=DEVICE_PYTHON + '.3', sys_platform='linux',
               platform_system='Linux', platform_machine='x86_64', os_name='posix', implementation_name='cpython',
               platform_python_implementation='CPython')
    pins, todo, seen = {}, [('part_nb', extras)], set()
    while todo:
        name, ext = todo.pop()
        key = (_norm(name), tuple(ext))
        if key in seen: continue
        seen.add(key)
        try: dist = distribution(name)
        except PackageNotFoundError: sys.exit(f"gpu_check: {name} is not installed here: run `make install` first")
        if _norm(name) != 'part-nb': pins[_norm(name)] = dist.version
        for r in map(Requirement, dist.requires or []):
            if r.marker is not None and not any(r.marker.evaluate({**env, 'extra': e}) for e in (*ext, '')): continue
            if _norm(r.name) in DEVICE_HAS or _norm(r.name) in NOT_CARRIED: continue
            todo.append((r.name, sorted(r.extras)))
    return pins


SLIM = {'pyautoattack': 'pyautoattack/examples/'} # a 45 MB example model that part_nb never loads: left out of the wheel

def slim_wheel(fn, prefix):
    "Rewrite the wheel `fn` without its members under `prefix` (and their lines in RECORD)."
    import zipfile
    tmp = fn.with_suffix('.tmp')
    with zipfile.ZipFile(fn) as src, zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename.startswith(prefix): continue
            data = src.read(item.filename)
            if item.filename.endswith('.dist-info/RECORD'):
                data = b''.join(l for l in data.splitlines(keepends=True) if not l.startswith(prefix.encode()))
            dst.writestr(item, data)
    tmp.replace(fn)

def download_wheels(dest):
    "Fill `dest` with the wheels of `wheel_pins()` for the device (CPython 3.12, x86-64 Linux), with `pip download`."
    pins = wheel_pins()
    dest = Path(dest)
    if dest.exists(): shutil.rmtree(dest)
    dest.mkdir(parents=True)
    cmd = [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps', '--only-binary=:all:', '--python-version', DEVICE_PYTHON,
           '--implementation', 'cp', *[a for p in PLATFORMS for a in ('--platform', p)], '-d', str(dest),
           *[f'{k}=={v}' for k, v in sorted(pins.items())]]
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob('*.whl'))
    for w in wheels:
        if w.name.split('-')[0] in SLIM: slim_wheel(w, SLIM[w.name.split('-')[0]])
    mib = sum(w.stat().st_size for w in wheels) / 2**20
    print(f"gpu_check: {len(wheels)} wheels ({mib:.1f} MiB) in {dest}: {', '.join(f'{k} {v}' for k, v in sorted(pins.items()))}")


def use_wheels(wheels):
    "Install the wheels in `wheels` into .gpu/site (once per set of wheels) and put that folder first on the import path."
    files = sorted(Path(wheels).glob('*.whl'))
    if not files: sys.exit(f"gpu_check: no wheels in {wheels}: run `make gpu-wheels` where a registry can be reached")
    site = ROOT/'.gpu'/'site'
    stamp, names = site/'.wheels', '\n'.join(f.name for f in files)
    if not (stamp.exists() and stamp.read_text() == names):
        if site.exists(): shutil.rmtree(site)
        subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-compile',
                        '--disable-pip-version-check', '--target', str(site), *map(str, files)], check=True)
        stamp.write_text(names)
    sys.path.insert(0, str(site))
    os.environ['PYTHONPATH'] = os.pathsep.join([str(site)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])


def child_env():
    "The environment of the subprocesses: the repository (and .gpu/site, if used) importable, unbuffered output."
    paths = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    return {**os.environ, 'PYTHONPATH': os.pathsep.join(paths + [str(ROOT)]), 'PYTHONUNBUFFERED': '1',
            'PYTHONWARNINGS': 'ignore'}


# ---------------------------------------------------------------- steps

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
                             epochs=[{k: e.get(k) for k in ('epoch', 'train_loss', 'valid_loss', 'accuracy', 'adv_acc', 'important_px', 'time_epoch')}
                                     for e in r['epochs']]) for m, r in runs.items()},
               report=str(work/'cifar10'/'REPORT.md'))
    if a.device == 'cuda': res['cuda_peak_mib'] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return res


STEPS = (('notebooks', step_notebooks), ('fp16', step_fp16), ('benchmarks', step_benchmarks), ('cifar10', step_cifar10))


# ---------------------------------------------------------------- report

def machine(a):
    import torch
    from importlib.metadata import version, PackageNotFoundError
    def v(p):
        try: return version(p)
        except PackageNotFoundError: return None
    info = dict(date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'), platform=platform.platform(),
                python=platform.python_version(), cpus=os.cpu_count(), device=a.device,
                versions={p: v(p) for p in ('torch', 'torchvision', 'fastai', 'fastcore', 'fasttransform', 'plum-dispatch', 'nbdev',
                                            'execnb', 'pyautoattack', 'mlxtend', 'numpy')})
    if a.device == 'cuda':
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=torch.cuda.get_device_name(0), gpu_memory_gib=round(p.total_memory / 2**30, 1),
                    multiprocessors=p.multi_processor_count, cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    tf32_convolutions=torch.backends.cudnn.allow_tf32, tf32_matmul=torch.backends.cuda.matmul.allow_tf32)
        try: info['driver'] = subprocess.run(['nvidia-smi', '--query-gpu=driver_version', '--format=csv,noheader'],
                                             capture_output=True, text=True, timeout=30).stdout.strip() or None
        except (OSError, subprocess.SubprocessError): info['driver'] = None
    return info


def _f(v, d=3): return 'n/a' if v is None else f'{v:.{d}f}'

def report(a, info, results, total):
    gpu = a.device == 'cuda'
    title = 'part_nb on a GPU' if gpu else f"part_nb GPU check, run on the {a.device}{' with --quick (tiny settings: a test of the code paths, not results)' if a.quick else ''}"
    md = [f'# {title}', '', f"Written by `python bench/gpu_check.py {' '.join(sys.argv[1:])}` on {info['date']}; every figure below "
          f"was measured by that run (wall time {total:.0f} s, time budget {a.budget:.0f} s).", '', '## Machine', '']
    if gpu:
        md.append(f"- GPU: {info['gpu']} ({info['gpu_memory_gib']} GiB, {info['multiprocessors']} multiprocessors), driver "
                  f"{info.get('driver') or 'unknown'}, CUDA {info['cuda']}, cuDNN {info['cudnn']}; TF32 convolutions "
                  f"{'on' if info['tf32_convolutions'] else 'off'}, TF32 matmul {'on' if info['tf32_matmul'] else 'off'} (torch's defaults)")
    md += [f"- {info['platform']}, {info['cpus']} CPUs, Python {info['python']}",
           '- ' + ', '.join(f'{k} {v}' for k, v in info['versions'].items() if v), '', '## Steps', '',
           '| step | result | seconds |', '|---|---|---:|']
    for name, r in results.items():
        md.append(f"| {name} | {r['status']}{': ' + r['reason'] if r['status'] == 'skipped' else ''} | {r['seconds']:.0f} |")
    nb = results.get('notebooks', {})
    if nb.get('status') == 'passed':
        md += ['', '## Notebooks', '', f"`nbdev_test` with flags {nb['flags']} passed on {', '.join(nb['notebooks'])} "
               f"({nb['seconds_nbdev_test']:.0f} s)."]
        md += [f"Not run: {k}: {v}." for k, v in nb['skipped'].items()]
    fp = results.get('fp16', {})
    if fp.get('status') == 'passed':
        md += ['', '## PART-T under to_fp16: budgets in pixel units', '', f"{fp['setting']}.", '',
               f"- {fp['batches_checked']} adversarial training batches checked, {fp['reweighted_batches']} of them with CAM budgets; "
               f"largest |x_adv - x| - budget, in pixel units: {fp['max_excess_over_budget']:.2e} (must be <= 1e-5); adversarial "
               f"pixels in [{fp['pixel_range'][0]:.4f}, {fp['pixel_range'][1]:.4f}]",
               f"- budget values: {', '.join(f'{v:.6f}' for v in fp['budget_values'])} (8/255 = {EPS:.6f}, 7/255 = {EPS_LOW:.6f}); "
               f"share of pixels at eps after the burn-in: {_f(fp['share_of_pixels_at_eps'])}",
               f"- attack batches in {', '.join(fp['attack_dtypes'])}; training forward passes in {', '.join(fp['forward_dtypes_in_training'])}",
               f"- fit: {fp['seconds_fit']:.1f} s" + (f"; peak CUDA memory {fp['cuda_peak_mib']:.0f} MiB" if 'cuda_peak_mib' in fp else '')]
    bm = results.get('benchmarks', {})
    if bm.get('status') == 'passed': md += ['', *bench_section(bm)]
    cf = results.get('cifar10', {})
    if cf.get('status') == 'passed': md += ['', *cifar_section(cf)]
    failed = [(n, r) for n, r in results.items() if r['status'] == 'failed']
    if failed:
        md += ['', '## Failures', '']
        for n, r in failed: md += [f'**{n}**', '', '```', r['error'][-2500:], '```', '']
    return '\n'.join(md) + '\n'


def bench_section(bm):
    ep, cam, atk = (bm[k]['json'] for k in ('epoch', 'cam', 'attack'))
    md = ['## Benchmarks on the device', '', '| script | seconds | peak CUDA memory of the process (MiB) |', '|---|---:|---:|']
    md += [f"| `{bm[k]['command']}` | {bm[k]['seconds']:.0f} | {_f(bm[k]['cuda_peak_mib'], 0)} |" for k in ('epoch', 'cam', 'attack')]
    md += ['', f"**One training epoch** ({ep['settings']['n_train']} MNIST-5k digits, SmallCNN, batch {ep['settings']['bs']}, PGD-10, "
           f"burn-in 0, best of {ep['settings']['repeats']}; device {ep.get('device')}):", '',
           '| contender | epoch (s) | s/batch |', '|---|---:|---:|']
    md += [f"| {m} | {r['seconds_best']:.3f} | {r['seconds_per_batch']:.4f} |" for m, r in ep['epoch'].items()]
    md += ['', '| ratio | best / best | median of rounds |', '|---|---:|---:|']
    md += [f"| {k} | {v:.3f} | {ep['ratios_median_of_rounds'][k]:.3f} |" for k, v in ep['ratios'].items()]
    mem = ep['memory']
    if 'ratio_cuda_peak' in mem:
        md += ['', f"Peak CUDA memory of a training step (`torch.cuda.max_memory_allocated`, reset after a warm-up step, "
               f"{ep['settings']['mem_steps']} steps, a fresh process per method): AT {mem['at']['cuda_peak_median'] / 2**20:.1f} MiB, "
               f"PART {mem['part']['cuda_peak_median'] / 2**20:.1f} MiB, PART/AT {mem['ratio_cuda_peak']:.3f}."]
    md += ['', f"**CAM masks** (bench_cam.py, random weights, best of the rounds, device {cam.get('device', '?')}):", '',
           '| model, batch | forward (s) | masks (s) | masks / forward | per-image reference / part_nb |', '|---|---:|---:|---:|---:|']
    for key in ('resnet18_cifar', 'smallcnn_mnist'):
        r = cam[key]
        md.append(f"| {key}, {tuple(r['shape'])} | {r['seconds']['forward (no grad)']:.4f} | {r['seconds'][next(k for k in r['seconds'] if 'paper' in k and 'part_nb' in k)]:.4f} | "
                  f"{r['ratios']['paper masks / forward']:.2f} | {r['ratios'][next(k for k in r['ratios'] if k.startswith('per-image reference'))]:.1f} |")
    md += ['', f"**Per-pixel against uniform PGD** (bench_attack.py, random weights, best of the repeats, device {atk.get('device')}):", '',
           '| setting | batch | steps | uniform (s) | per-pixel (s) | per-pixel / uniform |', '|---|---|---:|---:|---:|---:|']
    md += [f"| {r['setting']} | {tuple(r['batch'])} | {r['steps']} | {r['seconds_best']['uniform']:.4f} | {r['seconds_best']['per-pixel']:.4f} | "
           f"{r['ratio_per_pixel_vs_uniform']:.3f} |" for r in atk['results']]
    return md


def cifar_section(cf):
    s, p = cf['settings'], cf['plan']
    md = [f"## CIFAR-10 (JPEG): AT against PART, {s['model']}", '',
          f"`part_nb.run.compare(('at', 'part'), seeds=(0,), data='cifar10', epochs={cf['epochs']}, burn_in={cf['burn_in']}, ...)`: "
          f"{'all' if s['n_train'] is None else s['n_train']} training images, validation on "
          f"{'all 10,000' if s['n_valid'] is None else s['n_valid']} test images, robustness on the first {s['n_eval']}; "
          f"{s['model']}, eps {s['eps']:.4f}, eps_low {s['eps_low']:.4f}, step {s['alpha']:.4f}, PGD-{s['steps']}, {s['opt']} lr {s['lr']} "
          f"(momentum {s['mom']}, wd {s['wd']}), batch {s['bs']}. PART continues from AT's checkpoint at the end of the shared "
          f"burn-in, so it trained {cf['epochs'] - cf['burn_in']} epoch(s) of its own with CAM budgets.", '',
          f"Epochs chosen to fit the time budget: a probe timed {p['probe_seconds_per_batch']:.4f} s per AT training batch "
          f"({p['batches_per_epoch']} batches an epoch; loading the data took {p['data_load_seconds']:.0f} s), so about "
          f"{p['estimated_epoch_seconds']:.0f} s per epoch with validation and the maps; {p['seconds_left_at_plan']:.0f} s were "
          f"left, and {p['epochs_that_fit']} epochs fitted (capped at {cf.get('max_epochs', '?')}). "
          f"The whole comparison took {cf['seconds']:.0f} s" + (f", peak CUDA memory {cf['cuda_peak_mib']:.0f} MiB." if 'cuda_peak_mib' in cf else '.'),
          '', 'Accuracy (%) on the evaluated test images and training seconds per epoch:', '', cf['table'], '',
          'Per epoch (accuracy: natural, on the validation images; adv_acc: on the adversarial training batches; important_px: '
          'share of pixels at eps):', '', '| method | epoch | train loss | valid loss | accuracy | adv_acc | important_px | seconds |',
          '|---|---:|---:|---:|---:|---:|---:|---:|']
    for m, r in cf['runs'].items():
        for e in r['epochs']:
            md.append(f"| {m} | {e['epoch']} | {_f(e['train_loss'])} | {_f(e['valid_loss'])} | {_f(e['accuracy'])} | {_f(e['adv_acc'])} | "
                      f"{_f(e['important_px'])} | {_f(e['time_epoch'], 1)} |")
    md += ['', f"With {cf['epochs']} epochs instead of the paper's 80, these accuracies say that the CIFAR-10 path runs on this device "
           "and what an epoch costs there, not whether PART beats AT: the paper's protocol is in RESULTS.md."]
    return md


# ---------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cuda', choices=('cuda', 'cpu'), help='cuda (the check) or cpu (its code paths, for tests)')
    p.add_argument('--quick', action='store_true', help='tiny settings: seconds per step, figures of no interest')
    p.add_argument('--cifar', default=None, help='CIFAR-10 JPEG archive (cifar10-jpeg.tgz); without it the CIFAR step is skipped')
    p.add_argument('--wheels', default=None, help='folder of wheels to install into .gpu/site first (a machine without a registry)')
    p.add_argument('--out', default=None, help='the Markdown report [bench/RESULTS-gpu.md on CUDA, else bench/out/gpu-check-<device>.md]')
    p.add_argument('--work', default=None, help='JSON, logs and CIFAR runs [bench/out/gpu-check]')
    p.add_argument('--budget', type=float, default=360, help='seconds for the whole check; the CIFAR epochs fill what is left')
    p.add_argument('--max_epochs', type=int, default=10, help='at most this many CIFAR-10 epochs')
    p.add_argument('--steps', nargs='+', default=[n for n, _ in STEPS], choices=[n for n, _ in STEPS], help='steps to run')
    p.add_argument('--download-wheels', default=None, metavar='DIR',
                   help="fill DIR with the wheels the device needs (run where a registry can be reached), then stop")
    a = p.parse_args(argv)
    if a.download_wheels: return download_wheels(a.download_wheels)
    t_start = time.time()
    import torch
    if a.device == 'cuda' and not torch.cuda.is_available():
        print('gpu_check: no CUDA device on this machine: nothing was measured and no file was written.')
        return 0
    if a.wheels: use_wheels(a.wheels)
    if str(ROOT) not in sys.path: sys.path.insert(1, str(ROOT)) # part_nb from this checkout, installed or not
    if a.cifar: a.cifar = str(Path(a.cifar).resolve())
    if a.device == 'cpu':
        from fastai.torch_core import default_device
        default_device(False) # fastai's batches on the CPU, also where CUDA is there
    out = Path(a.out) if a.out else BENCH/'RESULTS-gpu.md' if a.device == 'cuda' else BENCH/'out'/f"gpu-check-{a.device}{'-quick' if a.quick else ''}.md"
    work = Path(a.work) if a.work else BENCH/'out'/'gpu-check'
    if work.exists(): shutil.rmtree(work)
    work.mkdir(parents=True)
    deadline = t_start + a.budget
    info = machine(a)
    results = {}
    for name, fn in STEPS:
        if name not in a.steps: continue
        print(f"gpu_check: {name} ...", flush=True)
        t0 = time.perf_counter()
        try: r = dict(status='passed', **fn(a, work, deadline))
        except Skipped as e: r = dict(status='skipped', reason=str(e))
        except Exception: r = dict(status='failed', error=traceback.format_exc())
        r['seconds'] = time.perf_counter() - t0
        if name == 'cifar10': r['max_epochs'] = a.max_epochs
        results[name] = r
        print(f"gpu_check: {name} {r['status']} in {r['seconds']:.0f} s" + (f": {r.get('reason', '')}" if r['status'] == 'skipped' else ''), flush=True)
        if r['status'] == 'failed': print(r['error'][-3000:], flush=True)
    (work/'results.json').write_text(json.dumps(dict(info=info, results=results), indent=1, default=list) + '\n')
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(a, info, results, time.time() - t_start))
    print(f"gpu_check: wrote {out} in {time.time() - t_start:.0f} s")
    return 1 if any(r['status'] == 'failed' for r in results.values()) else 0


if __name__ == '__main__': sys.exit(main())
