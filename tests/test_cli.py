"The console scripts `part_train` and `part_compare` on tiny subsets of MNIST-5k: files, JSON fields, resume, bad arguments."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch, PIL.Image
torch.set_num_threads(1) # the runs in this process: tiny models, and the CPUs may be shared

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

def _sigint_default():
    "In the child: SIGINT as in a terminal. A shell that starts the tests in the background ignores it, and the child would inherit that."
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def start(name, *args):
    return subprocess.Popen(_cmd(name) + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            preexec_fn=_sigint_default)

def _error_line(stderr):
    "The one-line error: no traceback, exactly one line starting with the program's name."
    lines = [l for l in stderr.splitlines() if l.strip() and 'Warning' not in l and not l.startswith('  warnings.warn')]
    assert 'Traceback' not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]

def test_help():
    r = run('part_train', '--help')
    assert r.returncode == 0, r.stderr
    for opt in ('--method', '--data', '--eps_low', '--burn_in', '--resume', '--overwrite', '--autoattack', '--n_eval', '--out', '--keep',
                '--init_from'): assert opt in r.stdout
    assert '--interrupt' not in r.stdout # hidden option for tests
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
        for k in ('train_loss', 'valid_loss', 'accuracy', 'adv_acc', 'share_at_eps', 'time_epoch'): assert k in e, k
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
    (['--cam_method', 'gradcan', '--method', 'at'], "unknown --cam_method 'gradcan'"), # checked before training, for AT too
    (['--attacks', 'natural', 'pgd', 'pgd20'], 'the same attack twice'),
    (['--attacks', 'natural', 'fgsm3'], "unknown attack 'fgsm3'"),
    (['--epochs', '2', '--burn_in', '2'], 'must be smaller than --epochs'),
    (['--n_train', '5000'], 'n_train'),
    (['--size', '32'], '--size resizes the images of a folder'),
    (['--data', ''], '--data is empty'), # not the current folder
    (['--alpha', '0'], '--alpha must be > 0'), # named as the option, not as the callback's argument
    (['--epochs', '2', '--burn_in', '1', '--keep', '5'], '--keep 5: the run has epochs 1 to 2'), # a checkpoint that would never be kept
])
def test_bad_arguments(tmp_path, capsys, args, msg):
    (tmp_path/'a_file').write_text('not a folder'); (tmp_path/'empty').mkdir()
    from part_nb.cli import part_train
    with pytest.raises(SystemExit) as e: cli(part_train, '--out', tmp_path/'run', *TINY, *[a.format(tmp=tmp_path) for a in args])
    assert e.value.code == 2
    line = _error_line(capsys.readouterr().err)
    assert line.startswith('part_train: error: ') and msg in line, line
    assert not (tmp_path/'run').exists() # an early error leaves no empty --out folder

@pytest.mark.parametrize('args, msg', [
    (['--model', 'smallcnn', '--bs', '4'], 'pass --size 28'), # found by a forward pass, not by a traceback in the first batch
    (['--bs', '64'], 'fewer than the batch size 64'), # fastai would drop the only, partial batch and train on nothing
    (['--bs', '4', '--autoattack'], 'at least 4 classes'), # AutoAttack's targeted attacks, which run after training
    (['--bs', '4', '--n_eval', '100'], '--n_eval 100'),
])
def test_bad_folder_arguments(tmp_path, capsys, args, msg):
    "A folder of 2 x 4 images: what cannot work is found before training, and no --out folder is left behind."
    for c in ('cat', 'dog'):
        (tmp_path/'imgs'/c).mkdir(parents=True)
        for i in range(4): PIL.Image.new('RGB', (20, 20), (40 * i, 0, 0)).save(tmp_path/'imgs'/c/f'{i}.png')
    from part_nb.cli import part_train
    with pytest.raises(SystemExit) as e:
        cli(part_train, '--out', tmp_path/'run', '--data', tmp_path/'imgs', '--steps', '1', '--attacks', 'natural', *args)
    assert e.value.code == 2 and msg in _error_line(capsys.readouterr().err)
    assert not (tmp_path/'run').exists()

def test_bad_arguments_console(tmp_path):
    "The installed command: one line on stderr, exit code 2, nothing written."
    r = run('part_train', '--method', 'nope', '--out', tmp_path/'run')
    assert r.returncode == 2 and _error_line(r.stderr) == ("part_train: error: unknown method 'nope': choose one of at, part, trades, "
        "part-t, mart, part-m, or a placebo control of a PART method (part-random, part-inverse, part-uniform, part-t-random, ...)")
    assert not (tmp_path/'run').exists()

def test_resume_after_interrupt(tmp_path):
    "SIGINT after the first epoch's checkpoint (sent by the run itself), then --resume continues at epoch 2 across the burn-in."
    out, args = tmp_path/'run', ['--method', 'part', '--epochs', '3', '--burn_in', '2', '--out', tmp_path/'run', *TINY]
    r = run('part_train', *args, '--interrupt', 'epoch1')
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
    def epochs_done():
        try: return torch.load(ck, weights_only=True)['epoch']
        except (OSError, RuntimeError, EOFError): return 0 # not written yet (it is written whole, by a rename)
    try:
        while epochs_done() < 1 and time.time() - t0 < 180 and p.poll() is None: time.sleep(0.2)
        assert epochs_done() >= 1, p.communicate()[1]
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=240) # generous for a loaded machine
    finally: p.kill() # a run of 1000 epochs never outlives a failed test
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
    from part_nb.run import compare, train_one
    m = train_one('trades', out=tmp_path/'t', epochs=1, n_train=32, n_valid=16, steps=1, attacks=('natural',), progress=False)
    assert m['method'] == 'trades' and set(m['robustness']) == {'natural', 'worst-case'}
    df = compare(('at',), (0,), out=tmp_path/'c', epochs=1, n_train=32, n_valid=16, steps=1, attacks=('natural', 'pgd20'), progress=False)
    assert list(df.index) == ['at'] and ('pgd20', 'mean') in df.columns and len(df.attrs['runs']) == 1

def test_init_from_baseline_burn_in(tmp_path):
    "PART started from AT's checkpoint at the end of the burn-in ends with exactly the weights of PART trained from scratch."
    from part_nb.run import train_one, compare, UsageError
    kw = dict(epochs=3, burn_in=1, n_train=128, n_valid=32, steps=2, attacks=('natural',), progress=False)
    train_one('part', out=tmp_path/'scratch', **kw)
    train_one('at', out=tmp_path/'at', keep=(1,), **kw)
    assert sorted(f.name for f in (tmp_path/'at').glob('checkpoint*.pth')) == ['checkpoint-epoch1.pth', 'checkpoint.pth']
    m = train_one('part', out=tmp_path/'fork', init_from=tmp_path/'at'/'checkpoint-epoch1.pth', **kw)
    w0, w1, wa = (torch.load(tmp_path/d/'model.pth', weights_only=True) for d in ('scratch', 'fork', 'at'))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert not all(torch.equal(w0[k], wa[k]) for k in w0) # PART did reweight after the burn-in
    assert [r['epoch'] for r in m['epochs']] == [0, 1, 2] and m['epochs'][1]['share_at_eps'] < 1
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

# --- interruptions: SIGINT, SIGTERM and SIGKILL in an epoch, in the evaluation and while the report is written, each
# followed by the documented resume, end with the history, weights and numbers of the uninterrupted run

RUN = ['--method', 'part', '--epochs', '2', '--burn_in', '1', '--bs', '16', '--n_train', '32', '--n_valid', '16', '--steps', '1',
       '--attacks', 'natural', 'pgd2'] # 2 batches an epoch

def _history(out):
    "Per-epoch records without the wall times, the robustness table, and the weights of a finished run."
    m = json.loads((out/'metrics.json').read_text())
    hist = [{k: v for k, v in r.items() if not k.startswith('time')} for r in m['epochs']]
    return hist, m['robustness'], torch.load(out/'model.pth', weights_only=True)

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "The uninterrupted run, in this process."
    from part_nb.cli import part_train
    out = tmp_path_factory.mktemp('ref')/'run'
    cli(part_train, '--out', out, *RUN)
    return _history(out)

def _same_run(out, reference, tol=0.):
    hist, rob, w = _history(out)
    ref_hist, ref_rob, ref_w = reference
    assert [r['epoch'] for r in hist] == [0, 1]
    for a, b in zip(hist, ref_hist):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= tol for k in a), (a, b)
    assert rob == pytest.approx(ref_rob, abs=100 * tol + 1e-9)
    assert all(torch.allclose(w[k].float(), ref_w[k].float(), atol=tol, rtol=0) for k in w)
    assert not [f.name for f in out.iterdir() if f.name.endswith('.tmp')]

@pytest.mark.parametrize('where, code', [('epoch1.batch1', 130), ('epoch0.batch1:TERM', 143), ('eval', 130), ('report:TERM', 143)])
def test_interrupt_then_resume_is_the_uninterrupted_run(tmp_path, capsys, reference, where, code):
    from part_nb.cli import part_train
    out = tmp_path/'run'
    with pytest.raises(SystemExit) as e: cli(part_train, '--out', out, *RUN, '--interrupt', where)
    assert e.value.code == code
    line = _error_line(capsys.readouterr().err)
    assert ('terminated (SIGTERM)' if code == 143 else 'interrupted') in line and '--resume' in line, line
    if where in ('eval', 'report:TERM'): assert 'evaluate again' in line and (out/'model.pth').exists()
    assert not (out/'metrics.json').exists() # no finished-looking run with old or missing numbers
    assert torch.load(out/'checkpoint.pth', weights_only=True)['epoch'] == {'epoch1.batch1': 1, 'epoch0.batch1:TERM': 0}.get(where, 2)
    cli(part_train, '--out', out, *RUN, '--resume')
    _same_run(out, reference)

@pytest.mark.parametrize('where', ['epoch1.batch1', 'report'])
def test_sigkill_then_resume(tmp_path, reference, where):
    "A kill leaves the last checkpoint whole (and perhaps a temporary file, removed on resume); the resumed run matches."
    out = tmp_path/'run'
    r = run('part_train', '--out', out, *RUN, '--interrupt', f'{where}:KILL')
    assert r.returncode == -9, r.stderr
    (out/'.checkpoint.pthx1y2.tmp').write_bytes(b'half a checkpoint') # what a kill during a save leaves
    assert torch.load(out/'checkpoint.pth', weights_only=True)['epoch'] == (1 if where.startswith('epoch') else 2)
    assert not (out/'metrics.json').exists()
    r = run('part_train', '--out', out, *RUN, '--resume')
    assert r.returncode == 0, r.stderr
    _same_run(out, reference, tol=1e-4) # another process with one thread: the same run up to float rounding

def test_resume_refuses_fewer_epochs_and_other_runs(tmp_path, capsys):
    from part_nb.cli import part_train
    out = tmp_path/'run'
    cli(part_train, '--out', out, '--method', 'at', '--epochs', '2', *TINY)
    for args, msg in ((['--epochs', '1', '--resume'], 'holds 2 trained epochs, more than --epochs 1'),
                      (['--epochs', '3'], 'already holds a run'), # a fresh run never mixes with an old one
                      (['--epochs', '3', '--resume', '--overwrite'], 'pass one of them')):
        with pytest.raises(SystemExit) as e: cli(part_train, '--out', out, '--method', 'at', *TINY, *args)
        assert e.value.code == 2 and msg in _error_line(capsys.readouterr().err)
    old = json.loads((out/'metrics.json').read_text())
    cli(part_train, '--out', out, '--method', 'at', '--epochs', '1', *TINY, '--overwrite') # replaced whole
    m = json.loads((out/'metrics.json').read_text())
    assert len(m['epochs']) == 1 and m['settings']['epochs'] == 1 and len(old['epochs']) == 2
    assert sorted(f.name for f in out.iterdir()) == sorted(['checkpoint.pth', 'model.pth', 'settings.json', 'metrics.json', 'robustness.md',
                                                          'robustness.json', 'curves.png', 'cams.png'])

@pytest.mark.parametrize('content', [b'', b'not a checkpoint', b'PK\x03\x04broken zip', 'dict', 'pickle'])
def test_corrupt_checkpoint(tmp_path, capsys, content):
    from part_nb.cli import part_train
    out = tmp_path/'run'; out.mkdir()
    if content == 'dict': torch.save({'model': {}}, out/'checkpoint.pth') # a file torch reads, but no part_nb checkpoint
    elif content == 'pickle':
        import pickle
        (out/'checkpoint.pth').write_bytes(pickle.dumps(os.getcwd)) # weights_only refuses to unpickle code
    else: (out/'checkpoint.pth').write_bytes(content)
    for opt in ('--resume', '--init_from'):
        args = ['--resume'] if opt == '--resume' else ['--init_from', out/'checkpoint.pth', '--out', tmp_path/'other']
        with pytest.raises(SystemExit) as e: cli(part_train, '--out', out, '--method', 'part', *TINY, *args)
        line = _error_line(capsys.readouterr().err)
        assert e.value.code == 2 and 'cannot read the checkpoint' in line, line

def test_compare_resume_never_reports_an_older_run(tmp_path, capsys):
    "The issue's case: a finished run in --out, then other settings, interrupted, then --resume: the new run's numbers."
    from part_nb.cli import part_compare
    out, base = tmp_path/'cmp', ['--methods', 'at', '--n_train', '64', '--n_valid', '32', '--attacks', 'natural']
    cli(part_compare, '--out', out, *base, '--epochs', '1', '--steps', '1')
    new = [*base, '--epochs', '2', '--steps', '2', '--bs', '16']
    with pytest.raises(SystemExit) as e: cli(part_compare, '--out', out, *new)
    assert e.value.code == 2 and 'already holds a comparison' in _error_line(capsys.readouterr().err)
    with pytest.raises(SystemExit) as e: cli(part_compare, '--out', out, *new, '--overwrite', '--interrupt', 'epoch0.batch2')
    assert e.value.code == 130 and '--resume' in _error_line(capsys.readouterr().err)
    cli(part_compare, '--out', out, *new, '--resume')
    m = json.loads((out/'at-seed0'/'metrics.json').read_text())
    assert [r['epoch'] for r in m['epochs']] == [0, 1] and m['settings']['steps'] == 2 and m['settings']['bs'] == 16

def test_done_trusts_metrics_not_settings(tmp_path):
    "A run folder whose settings.json matches but whose metrics.json was made with other settings is not a finished run."
    from part_nb.run import _done, run_settings
    s = run_settings('at', epochs=2)
    (tmp_path/'model.pth').write_bytes(b'x')
    (tmp_path/'settings.json').write_text(json.dumps(s))
    (tmp_path/'metrics.json').write_text(json.dumps({'settings': {**s, 'epochs': 1}, 'robustness': {}}))
    assert _done(tmp_path, s) is None
    (tmp_path/'metrics.json').write_text(json.dumps({'settings': s, 'robustness': {}}))
    assert _done(tmp_path, s) is not None

def test_no_futurewarning():
    "fastai's use of the deprecated torch.jit.script does not print a warning on every run."
    r = subprocess.run(_cmd('part_train') + ['--help'], capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k != 'PYTHONWARNINGS'})
    assert r.returncode == 0 and 'Warning' not in r.stderr, r.stderr


def _wait_for_epoch(p, ck, k=1, limit=180):
    "Wait until the run `p` has checkpointed `k` epochs in `ck`; the epochs done."
    t0 = time.time()
    def done():
        try: return torch.load(ck, weights_only=True)['epoch']
        except (OSError, RuntimeError, EOFError): return 0
    while done() < k and time.time() - t0 < limit and p.poll() is None: time.sleep(0.2)
    return done()

def test_second_writer_refused(tmp_path):
    "Two runs into one --out: the second is refused while the first holds it, whatever its flags; a killed run leaves no stuck lock."
    out = tmp_path/'run'
    p = start('part_train', '--method', 'at', '--epochs', '1000', '--out', out, *TINY)
    try:
        assert _wait_for_epoch(p, out/'checkpoint.pth') >= 1, p.communicate()[1]
        for flags in (['--overwrite'], ['--resume']): # either would rewrite the files of the run in progress
            r = run('part_train', '--method', 'at', '--epochs', '1000', '--out', out, *flags, *TINY)
            assert r.returncode == 2 and 'is in use by another run (process ' in _error_line(r.stderr), r.stderr
        assert p.poll() is None # the first run goes on, its folder untouched
        p.send_signal(signal.SIGKILL); p.wait(timeout=60)
    finally: p.kill()
    k = torch.load(out/'checkpoint.pth', weights_only=True)['epoch']
    r = run('part_train', '--method', 'at', '--epochs', k + 1, '--out', out, '--resume', *TINY) # the lock died with its process
    assert r.returncode == 0, r.stderr
    assert json.loads((out/'metrics.json').read_text())['epochs'][-1]['epoch'] == k

def test_started_together(tmp_path):
    "Two runs started at the same moment into one --out: one trains, the other is refused; neither loses anything."
    out = tmp_path/'run'
    ps = [start('part_train', '--method', 'at', '--epochs', '2', '--burn_in', '1', '--out', out, *TINY) for _ in range(2)]
    try: res = [p.communicate(timeout=300) for p in ps]
    finally:
        for p in ps: p.kill()
    codes = sorted(p.returncode for p in ps)
    assert codes == [0, 2], res
    err = next(e for p, (_, e) in zip(ps, res) if p.returncode == 2)
    assert 'is in use by another run' in err or 'already holds a run' in err, err
    m = json.loads((out/'metrics.json').read_text())
    assert [e['epoch'] for e in m['epochs']] == [0, 1] and (out/'model.pth').exists()

def test_diverged_run_is_not_a_result(tmp_path):
    "A run whose weights become NaN stops with one line and exit code 1; no model, metrics or report is written."
    out = tmp_path/'run'
    r = run('part_train', '--method', 'part', '--epochs', '2', '--burn_in', '1', '--lr', 'inf', '--out', out, *TINY)
    assert r.returncode == 1, r.stderr
    line = _error_line(r.stderr)
    assert line.startswith('part_train: error: training diverged: ') and 'lower --lr' in line, line
    for f in ('model.pth', 'metrics.json', 'robustness.md'): assert not (out/f).exists(), f
