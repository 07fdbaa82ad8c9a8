"""Packaging for the GPU check: the wheels part_nb's dev stack needs on a lent GPU machine that reaches no registry,
downloaded here (`make gpu-wheels`) and installed there into .gpu/site (`gpu_check.py --wheels`). bench/GPU.md has the runbook."""
import os, re, shutil, subprocess, sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

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

