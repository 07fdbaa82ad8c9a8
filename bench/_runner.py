"""The job runner of the studies: each run in a subprocess with one torch thread, `workers` at a time, resumable.

A job is a dict: `name`, `dir` (the run's folder), `script` (the bench whose `--_job` worker trains it), `settings`
(compared with those of an earlier result.json, which is reused when they match), `cost` (for the order and the ETA),
and optionally `priority` (lower first), `keep`, `after` and `init_from` (a PART run waits for its baseline's burn-in
checkpoint and continues from it). A worker writes <run>/result.json when done and its log to <run>/log.txt; on Ctrl-C
every run writes a checkpoint, so that the same command continues where it stopped."""
import json, os, signal, subprocess, sys, time
from part_nb.core import upgrade_keys # settings and records of runs made under older names
from pathlib import Path
from _common import BASELINE, CONTROL_METHODS, hms

COST = {'at': 1., 'part': 1.1, 'trades': 1.25, 'part-t': 1.35, 'mart': 1.25, 'part-m': 1.35} # rough, for the order and ETA
COST.update({k: COST[m] for k, (m, _) in CONTROL_METHODS.items()}) # a placebo control costs what its PART method does
RESULT_VERSION = 1 # bump when result.json changes meaning
LABELS = {'pgd40': 'PGD-40', 'aa': 'AutoAttack'} # of the accuracies in the progress lines


# ---------------------------------------------------------------- in a worker process

def interruptible():
    "SIGINT and SIGTERM raise KeyboardInterrupt, also when started in the background (where the shell ignores SIGINT)."
    for sig in (signal.SIGINT, signal.SIGTERM): signal.signal(sig, signal.default_int_handler)


def job_main(fn, run):
    "Entry point of a run's subprocess: one torch thread, `run` (the study's `run_job`) the job in `fn`; exit status 130 when interrupted."
    import warnings, torch
    interruptible()
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore', category=FutureWarning)
    job = json.loads(Path(fn).read_text())
    try: run(job)
    except KeyboardInterrupt as e:
        print(f"interrupted: {e}", flush=True); sys.exit(130)


def _finished_training(out, s):
    "The metrics of `train_one` in `out` when its settings equal `s` (training and evaluation done), else None."
    try:
        old = upgrade_keys(json.loads((out/'settings.json').read_text())) # a run of an older version: today's names
        if all(old.get(k) == v for k, v in s.items()) and (out/'model.pth').exists():
            return json.loads((out/'metrics.json').read_text())
    except (OSError, ValueError): return None


def train_or_resume(job, data, kw, skip=('n_aa',)):
    """Train the run of `job` on `data` with `train_one`'s `kw`: take it as trained when its folder holds a finished run of
    the same settings (those in `skip` aside), else continue it from its last checkpoint, else train it from the start
    (from its baseline's burn-in checkpoint when the job names one). Returns (metrics, how it resumed, the checkpoint it
    started from)."""
    from part_nb.run import train_one, UsageError
    out, s = Path(job['dir']), job['settings']
    keep, init = tuple(job.get('keep') or ()), job.get('init_from')
    if init and not Path(init).is_file(): init = None # the baseline failed or left no burn-in checkpoint: train it all
    met, resumed = _finished_training(out, {k: v for k, v in s.items() if k not in skip}), None
    if met is None:
        if (out/'checkpoint.pth').exists():
            try: met, resumed = train_one(s['method'], data, out=out, resume=True, progress=False, keep=keep, **kw), 'checkpoint'
            except UsageError: met = None # a checkpoint of other settings: start afresh
        if met is None: met = train_one(s['method'], data, out=out, overwrite=True, progress=False, keep=keep, init_from=init, **kw)
    else: resumed = 'trained'
    return met, resumed, init


# ---------------------------------------------------------------- in the main process

def reusable(job):
    "The result of `job` from an earlier invocation when its settings match, else None."
    try:
        res = json.loads((Path(job['dir'])/'result.json').read_text())
        if res.get('version') == RESULT_VERSION and upgrade_keys(res.get('settings') or {}) == job['settings']: return res
    except (OSError, ValueError): return None


def finished(jobs):
    "name -> result.json of the runs finished with the planned settings."
    return {name: res for name, job in jobs.items() if (res := reusable(job)) is not None}


def share_burn_in(jobs, burn_in, epochs):
    """PART's burn-in is its baseline's training: done once, in the baseline's run of the seed, which keeps its checkpoint
    at the end of the burn-in; the PART runs wait for it and continue from it."""
    for job in jobs.values():
        base = f"{BASELINE.get(job['settings']['method'])}-seed{job['settings']['seed']}"
        if base not in jobs: continue
        jobs[base]['keep'] = [burn_in]
        job.update(after=base, init_from=str(Path(jobs[base]['dir'])/f'checkpoint-epoch{burn_in}.pth'),
                   cost=COST[job['settings']['method']] * (epochs - burn_in))


def _start(job):
    "Start `job` in a subprocess of its script with one torch thread; its output goes to <run>/log.txt."
    out = Path(job['dir']); out.mkdir(parents=True, exist_ok=True)
    (out/'job.json').write_text(json.dumps(job, indent=1) + '\n')
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore::FutureWarning'}
    log = open(out/'log.txt', 'w')
    proc = subprocess.Popen([sys.executable, job['script'], '--_job', str(out/'job.json')], stdout=log, stderr=subprocess.STDOUT, env=env)
    return proc, log, time.perf_counter()


def _ready(job, pending):
    "A PART run can start once its baseline has written the burn-in checkpoint, or is no longer pending (then from scratch)."
    return not job.get('after') or Path(job['init_from']).is_file() or job['after'] not in pending


def _stop(running):
    "After Ctrl-C: give the runs time to write their checkpoint (the terminal's Ctrl-C reached them too), then interrupt them."
    deadline = time.perf_counter() + 10
    while any(proc.poll() is None for _, proc, _, _ in running.values()) and time.perf_counter() < deadline: time.sleep(.5)
    for job, proc, log, ts in running.values():
        if proc.poll() is None: proc.send_signal(signal.SIGINT)
    for job, proc, log, ts in running.values():
        try: proc.wait(timeout=30)
        except subprocess.TimeoutExpired: proc.kill()
        log.close()


def run_all(jobs, workers):
    "Run the jobs that have no reusable result, `workers` subprocesses at a time; name -> result (None for failed runs)."
    results, todo = {}, []
    for name, job in jobs.items():
        res = reusable(job)
        if res is not None:
            res['reused'] = True; results[name] = res
            print(f"reused {name} (finished {res['finished']})", flush=True)
        else: todo.append(job)
    todo.sort(key=lambda j: (j.get('priority', 0), -j['cost'])) # by priority, then longest first: the workers finish closer together
    if not todo: return results
    print(f"{len(todo)} run(s) to do, {workers} at a time, one process and one torch thread each; logs in <run>/log.txt", flush=True)
    t0, total, cost_done, k, running, queue = time.perf_counter(), sum(j['cost'] for j in todo), 0., 0, {}, list(todo)
    try:
        while queue or running:
            while len(running) < workers:
                pending = {j['name'] for j in queue} | set(running)
                job = next((j for j in queue if _ready(j, pending)), None)
                if job is None: break
                queue.remove(job); running[job['name']] = (job, *_start(job))
            time.sleep(1)
            for name, (job, proc, log, ts) in list(running.items()):
                if proc.poll() is None: continue
                log.close(); del running[name]; k += 1
                el = time.perf_counter() - t0
                res = reusable(job) if proc.returncode == 0 else None
                if res is None:
                    results[name] = None
                    print(f"[{k}/{len(todo)}] {name} FAILED (exit status {proc.returncode}); see {Path(job['dir'])/'log.txt'}", flush=True)
                    continue
                res['reused'] = False; results[name] = res
                cost_done += job['cost']
                eta = (total - cost_done) / cost_done * el
                acc = res['accuracy']
                accs = ', '.join(f"{LABELS.get(c, c)} {acc[c]:.1f}%" for c in ('natural', 'pgd40', 'pgd20', 'aa') if c in acc)
                print(f"[{k}/{len(todo)}] {name}: {accs} "
                      f"| run {res['seconds']['total']:.0f} s ({res['time_train_per_epoch']:.0f} s/epoch training, "
                      f"AA {res['seconds']['autoattack']:.0f} s) | elapsed {hms(el)}, ETA {hms(eta)}", flush=True)
    except KeyboardInterrupt: # each run writes a checkpoint on SIGINT, then exits
        _stop(running)
        raise
    failed = [n for n, r in results.items() if r is None]
    if failed: print(f"failed: {', '.join(failed)}", flush=True)
    return results


def run_jobs(jobs, workers):
    "List the jobs, then `run_all`; on Ctrl-C say how to continue and exit 130."
    print(f"{len(jobs)} runs: {', '.join(sorted(jobs, key=lambda n: (jobs[n].get('priority', 0), n)))}", flush=True)
    try: return run_all(jobs, workers)
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs keep their result.json and unfinished ones their last epoch's checkpoint; "
              "the same command continues from there", flush=True)
        sys.exit(130)
