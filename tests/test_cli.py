"The console scripts `part_train` and `part_compare` on tiny subsets of MNIST-5k: files, JSON fields, resume, bad arguments."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch

TINY = ['--n_train', '64', '--n_valid', '32', '--steps', '2', '--attacks', 'natural', 'pgd20']

def _cmd(name):
    "The installed console script, or the same function through `python -c` when the package is not installed."
    exe = Path(sys.executable).with_name(name)
    if exe.exists(): return [str(exe)]
    return [sys.executable, '-c', f"import sys; sys.argv[0] = {name!r}; from part_nb.cli import {name}; {name}()"]

def _env():
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'}

def run(name, *args, timeout=300):
    return subprocess.run(_cmd(name) + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=_env())

def start(name, *args):
    return subprocess.Popen(_cmd(name) + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())

def _error_line(stderr):
    "The one-line error: no traceback, exactly one line starting with the program's name."
    lines = [l for l in stderr.splitlines() if l.strip() and 'Warning' not in l and not l.startswith('  warnings.warn')]
    assert 'Traceback' not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]

def test_help():
    r = run('part_train', '--help')
    assert r.returncode == 0, r.stderr
    for opt in ('--method', '--data', '--eps_low', '--burn_in', '--resume', '--autoattack', '--n_eval', '--out', '--keep', '--init_from'): assert opt in r.stdout
    assert 'stop_after' not in r.stdout # hidden option for tests
    r = run('part_compare', '--help')
    assert r.returncode == 0 and '--methods' in r.stdout and '--seeds' in r.stdout

def test_train_writes_files(tmp_path):
    out = tmp_path/'run'
    r = run('part_train', '--method', 'part', '--epochs', '2', '--burn_in', '1', '--out', out, *TINY)
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith('part_train: part on mnist5k') and str(out) in last and 'PGD-20' in last
    for f in ('model.pth', 'settings.json', 'metrics.json', 'robustness.md', 'robustness.json', 'curves.png', 'cams.png', 'checkpoint.pth'):
        assert (out/f).stat().st_size > 0, f
    s = json.loads((out/'settings.json').read_text())
    assert (s['method'], s['callback'], s['loss'], s['eps'], s['epochs'], s['burn_in'], s['model']) == ('part', 'part', 'ce', 0.2, 2, 1, 'smallcnn')
    assert abs(s['eps_low'] - 0.2*7/8) < 1e-12 and s['n_train'] == 64 and s['opt'] == 'adam'
    m = json.loads((out/'metrics.json').read_text())
    assert [e['epoch'] for e in m['epochs']] == [0, 1]
    for e in m['epochs']:
        for k in ('train_loss', 'valid_loss', 'accuracy', 'adv_acc', 'important_px', 'time_epoch'): assert k in e, k
    assert set(m['robustness']) == {'natural', 'pgd20', 'worst-case'}
    assert 0 <= m['robustness']['pgd20'] <= m['robustness']['natural'] <= 100 and m['time_per_epoch'] > 0
    rob = json.loads((out/'robustness.json').read_text())
    assert rob['clean_acc'] == pytest.approx(m['robustness']['natural'], abs=0.01) and rob['eps'] in (0.2, '0.2')
    from part_nb.models import SmallCNN
    SmallCNN().load_state_dict(torch.load(out/'model.pth', weights_only=True))

def cli(fn, *args):
    "Parse `args` with the console script's own parser and call it in this process (no start-up cost)."
    from part_nb.script import anno_parser
    ns = vars(anno_parser(fn.__wrapped__).parse_args([str(a) for a in args]))
    for k in ('pdb', 'xtra'): ns.pop(k, None)
    return fn(**ns)

@pytest.mark.parametrize('args, msg', [
    (['--method', 'pgd'], "unknown method 'pgd'"),
    (['--data', 'mnist'], "unknown data set 'mnist'"),
    (['--eps', '0.1', '--eps_low', '0.2'], 'must not exceed --eps'),
    (['--eps', '8', '--eps_low', '7'], 'did you mean 8/255'),
    (['--data', '/nonexistent/images/'], 'cannot read the folder'),
    (['--data', '{tmp}/empty/'], 'need images in at least 2'),
    (['--model', 'vgg16'], "unknown model 'vgg16'"),
    (['--data', 'cifar10', '--data_path', '{tmp}/nowhere', '--no-download'], 'CIFAR-10 not found'),
    (['--out', '{tmp}/a_file/run'], 'cannot write to the output folder'),
    (['--eps', 'x'], "--eps: not a number: 'x'"),
    (['--epochs', '0'], '--epochs must be >= 1'),
    (['--resume'], 'no checkpoint'),
])
def test_bad_arguments(tmp_path, capsys, args, msg):
    (tmp_path/'a_file').write_text('not a folder'); (tmp_path/'empty').mkdir()
    from part_nb.cli import part_train
    with pytest.raises(SystemExit) as e: cli(part_train, '--out', tmp_path/'run', *[a.format(tmp=tmp_path) for a in args], *TINY)
    assert e.value.code == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith('part_train: error: ') and msg in line, line

def test_bad_arguments_console(tmp_path):
    "The installed command: one line on stderr, exit code 2, nothing written."
    r = run('part_train', '--method', 'nope', '--out', tmp_path/'run')
    assert r.returncode == 2 and _error_line(r.stderr) == "part_train: error: unknown method 'nope': choose one of at, part, trades, part-t, mart, part-m"
    assert not (tmp_path/'run').exists()

def test_resume_after_interrupt(tmp_path):
    "SIGINT after the first epoch's checkpoint (sent by the run itself), then --resume continues at epoch 2 across the burn-in."
    out, args = tmp_path/'run', ['--method', 'part', '--epochs', '3', '--burn_in', '2', '--out', tmp_path/'run', *TINY]
    r = run('part_train', *args, '--stop_after', '1')
    assert r.returncode == 130, r.stderr
    assert 'interrupted' in _error_line(r.stderr) and '--resume' in r.stderr
    ck = torch.load(out/'checkpoint.pth', weights_only=True)
    assert ck['epoch'] == 1 and not ck['partial'] and [e['epoch'] for e in ck['history']] == [0]
    assert ck['callback']['burn_in'] == 2 and not (out/'model.pth').exists()
    r = run('part_train', *args, '--resume')
    assert r.returncode == 0, r.stderr
    m = json.loads((out/'metrics.json').read_text())
    assert [e['epoch'] for e in m['epochs']] == [0, 1, 2]
    assert json.loads((out/'settings.json').read_text())['resumed_at_epoch'] == 1
    assert torch.load(out/'checkpoint.pth', weights_only=True)['epoch'] == 3
    r = run('part_train', *args, '--resume', '--bs', '16') # other settings: refused
    assert r.returncode != 0 and 'other settings' in _error_line(r.stderr)

def test_ctrl_c_from_outside(tmp_path):
    "A real SIGINT from another process during training leaves a checkpoint that --resume continues from."
    out = tmp_path/'run'
    p = start('part_train', '--method', 'at', '--epochs', '1000', '--out', out, *TINY)
    ck = out/'checkpoint.pth'
    t0 = time.time()
    while not ck.exists() and time.time() - t0 < 120 and p.poll() is None: time.sleep(0.2)
    assert ck.exists(), p.communicate()[1]
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=240) # generous for a loaded machine
    assert p.returncode == 130, err
    assert 'interrupted' in _error_line(err)
    k = torch.load(ck, weights_only=True)['epoch']
    assert 1 <= k < 1000
    r = run('part_train', '--method', 'at', '--epochs', k + 1, '--out', out, '--resume', *TINY)
    assert r.returncode == 0, r.stderr
    m = json.loads((out/'metrics.json').read_text())
    assert m['epochs'][-1]['epoch'] == k and len(m['epochs']) >= k

def test_compare(tmp_path):
    out = tmp_path/'cmp'
    r = run('part_compare', '--methods', 'at', 'part', '--seeds', '0', '1', '--epochs', '1', '--burn_in', '0', '--out', out, *TINY)
    assert r.returncode == 0, r.stderr
    assert '±' in r.stdout and f"{out/'REPORT.md'}" in r.stdout.splitlines()[-1]
    for m in ('at', 'part'):
        for sd in (0, 1): assert (out/f'{m}-seed{sd}'/'metrics.json').exists()
    rep = (out/'REPORT.md').read_text()
    for s in ('| method |', '| at |', '| part |', 'tradeoff.png', 'PGD-20', 'time', 'Settings', 'at-seed1/'): assert s in rep, s
    assert (out/'tradeoff.png').stat().st_size > 0

def test_compare_bad_method(tmp_path, capsys):
    from part_nb.cli import part_compare
    with pytest.raises(SystemExit) as e: cli(part_compare, '--methods', 'at', 'nope', '--out', tmp_path/'cmp', *TINY)
    assert e.value.code == 2 and "unknown method 'nope'" in _error_line(capsys.readouterr().err)
    assert not (tmp_path/'cmp'/'at-seed0').exists() # checked before anything is trained

def test_python_api(tmp_path):
    from part_nb.cli import compare, train_one
    m = train_one('trades', out=tmp_path/'t', epochs=1, n_train=32, n_valid=16, steps=1, attacks=('natural',), progress=False)
    assert m['method'] == 'trades' and set(m['robustness']) == {'natural', 'worst-case'}
    df = compare(('at',), (0,), out=tmp_path/'c', epochs=1, n_train=32, n_valid=16, steps=1, attacks=('natural', 'pgd20'), progress=False)
    assert list(df.index) == ['at'] and ('pgd20', 'mean') in df.columns and len(df.attrs['runs']) == 1

def test_init_from_baseline_burn_in(tmp_path):
    "PART started from AT's checkpoint at the end of the burn-in ends with exactly the weights of PART trained from scratch."
    from part_nb.cli import train_one, compare, UsageError
    kw = dict(epochs=3, burn_in=1, n_train=128, n_valid=32, steps=2, attacks=('natural',), progress=False)
    train_one('part', out=tmp_path/'scratch', **kw)
    train_one('at', out=tmp_path/'at', keep=(1,), **kw)
    assert sorted(f.name for f in (tmp_path/'at').glob('checkpoint*.pth')) == ['checkpoint-epoch1.pth', 'checkpoint.pth']
    m = train_one('part', out=tmp_path/'fork', init_from=tmp_path/'at'/'checkpoint-epoch1.pth', **kw)
    w0, w1, wa = (torch.load(tmp_path/d/'model.pth', weights_only=True) for d in ('scratch', 'fork', 'at'))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert not all(torch.equal(w0[k], wa[k]) for k in w0) # PART did reweight after the burn-in
    assert [r['epoch'] for r in m['epochs']] == [0, 1, 2] and m['epochs'][1]['important_px'] < 1
    assert json.loads((tmp_path/'fork'/'settings.json').read_text())['init_from'].endswith('checkpoint-epoch1.pth')
    for meth, ck, extra, msg in (('part-t', 'checkpoint-epoch1.pth', {}, 'trains like trades'),
                                 ('part', 'checkpoint.pth', {}, 'ends after epoch 1'),
                                 ('part', 'checkpoint-epoch1.pth', {'bs': 16}, r'other settings \(bs=128\)'),
                                 ('part', 'checkpoint-epoch1.pth', {'epochs': 4}, 'other settings'),
                                 ('at', 'checkpoint-epoch1.pth', {}, 'only part'),
                                 ('part', 'nope.pth', {}, 'no checkpoint')):
        with pytest.raises(UsageError, match=msg): train_one(meth, out=tmp_path/'x', init_from=tmp_path/'at'/ck, **{**kw, **extra})
    compare(('part', 'at'), (0,), out=tmp_path/'c', **kw) # the baseline is trained first, and PART continues from its burn-in
    s = json.loads((tmp_path/'c'/'part-seed0'/'settings.json').read_text())
    assert s['init_from'] == str(tmp_path/'c'/'at-seed0'/'checkpoint-epoch1.pth')
    wc = torch.load(tmp_path/'c'/'part-seed0'/'model.pth', weights_only=True)
    assert all(torch.equal(w0[k], wc[k]) for k in w0)
