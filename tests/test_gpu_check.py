"""bench/gpu_check.py (`make gpu-check`): without CUDA it measures nothing and writes nothing; with `--device cpu --quick`
every step runs its code path with tiny settings, and the report holds what the run measured. The CIFAR-10 step uses
../shared/data/cifar10-jpeg.tgz when it is there (developers and CI have it) and is reported as skipped otherwise."""
import importlib.util, json, os, subprocess, sys
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT/'bench'/'gpu_check.py'
from part_nb.testing import cifar10_archive
CIFAR = cifar10_archive() or ROOT/'no-cifar10-archive'
HAS_NBDEV = importlib.util.find_spec('nbdev') is not None

def run(*args, timeout=1500):
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)

@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA: the check would run')
def test_without_cuda_nothing_is_measured(tmp_path):
    r = run('--out', tmp_path/'RESULTS-gpu.md', '--work', tmp_path/'work')
    assert r.returncode == 0, r.stderr
    assert 'nothing was measured and no file was written' in r.stdout
    assert not (tmp_path/'RESULTS-gpu.md').exists() and not (tmp_path/'work').exists()

def test_cpu_quick(tmp_path):
    out, work = tmp_path/'check.md', tmp_path/'work'
    args = ['--device', 'cpu', '--quick', '--out', out, '--work', work, '--time_limit', '1200']
    if CIFAR.exists(): args += ['--cifar', CIFAR]
    r = run(*args)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    res = json.loads((work/'results.json').read_text())['results']
    assert res['notebooks']['status'] == ('passed' if HAS_NBDEV else 'skipped'), res['notebooks']
    fp = res['fp16']
    assert fp['status'] == 'passed' and all(fp['checks'].values()), fp
    assert fp['max_excess_over_budget'] <= 1e-5 and fp['reweighted_batches'] > 0
    assert set(fp['budget_values']) == set(torch.tensor([8/255, 7/255]).tolist())
    bm = res['benchmarks']
    assert bm['status'] == 'passed', bm
    assert bm['epoch']['json']['ratios']['part/at'] > 0 and bm['cam']['json']['resnet18_cifar']['seconds']
    assert all(b['cuda_peak_mib'] is None for b in (bm['epoch'], bm['cam'], bm['attack'])) # no CUDA: no memory figure
    md = out.read_text()
    for s in ('with --quick (tiny settings', '## PART-T under to_fp16', '## Benchmarks on the device', 'per-pixel / uniform'):
        assert s in md, s
    cf = res['cifar10']
    if CIFAR.exists():
        assert cf['status'] == 'passed', cf
        assert cf['epochs'] == 2 and set(cf['runs']) == {'at', 'part'} and cf['plan']['probe_seconds_per_batch'] > 0
        part = cf['runs']['part']['epochs'] # PART continued from AT's checkpoint at the end of the burn-in
        assert [e['epoch'] for e in part] == [0, 1] and part[0]['share_at_eps'] == 1 and part[1]['share_at_eps'] < 1
        assert 'CIFAR-10 (JPEG): AT against PART' in md and (work/'cifar10'/'REPORT.md').exists()
    else: assert cf['status'] == 'skipped'
    assert 'placeholder' not in md and 'TODO' not in md

@pytest.mark.skipif(not HAS_NBDEV, reason='the wheels are those of the dev stack')
def test_wheels_for_the_device():
    "The packages carried to the GPU machine: part_nb's needs with the dev extras, minus what its image holds."
    sys.path.insert(0, str(ROOT/'bench'))
    try: import gpu_wheels
    finally: sys.path.remove(str(ROOT/'bench'))
    pins = gpu_wheels.wheel_pins()
    for p in ('fastai', 'fastcore', 'fasttransform', 'plum-dispatch', 'nbdev', 'execnb', 'ipython', 'pyautoattack', 'mlxtend', 'fastprogress', 'fastdownload'):
        assert p in pins, p
    for p in ('torch', 'torchvision', 'numpy', 'pandas', 'typing-extensions', 'spacy', 'accelerate', 'pytest', 'part-nb'):
        assert p not in pins, p
    from importlib.metadata import version
    assert pins['fastai'] == version('fastai') and pins['nbdev'] == version('nbdev')
