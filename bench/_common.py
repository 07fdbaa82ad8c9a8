"""What the benchmarks share: the method pairs, the one verdict rule (paired t by seed), the machine record, JSON written
atomically, the 'mean ± std' cell and the sections of bench/RESULTS.md."""
import datetime, json, math, os, platform
from pathlib import Path
from part_nb.run import METHODS as _ALL_METHODS, BASELINE, CONTROL_METHODS

METHODS = {m: v for m, v in _ALL_METHODS.items() if m not in CONTROL_METHODS} # the methods a study compares; controls by name
PAIRS = tuple((base, part) for part, base in BASELINE.items() if part not in CONTROL_METHODS) # at/part, trades/part-t, mart/part-m
PAIR_COLOURS = {'at': 'C0', 'part': 'C0', 'trades': 'C1', 'part-t': 'C1', 'mart': 'C2', 'part-m': 'C2'} # a pair shares a colour
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26} # two-sided 95% t, by degrees of freedom


def as_json(obj):
    "`obj` as JSON would give it back (tuples become lists, paths and other objects strings): what a result file stores."
    return json.loads(json.dumps(obj, default=str))


def write_json(fn, obj, default=str):
    "Write `obj` as JSON through a temporary file, so that an interruption never leaves half a file."
    tmp = Path(fn).with_suffix('.tmp')
    tmp.write_text(json.dumps(obj, indent=1, default=default) + '\n')
    os.replace(tmp, fn)


def mean_std(v):
    "Mean and sample standard deviation of the values that are not None; (None, None) for none, std None for one."
    v = [x for x in v if x is not None]
    if not v: return None, None
    m = sum(v) / len(v)
    return m, (math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None)


def paired_diffs(results, run, base, seeds, columns):
    """The paired differences `run` - `base` (runs named `<method>-seed<seed>` in `results`) of each column of `columns` over
    `seeds`: the per-seed differences, their mean, standard deviation, count and standard error."""
    d = {}
    for c in columns:
        diffs = [results[f'{run}-seed{sd}']['accuracy'][c] - results[f'{base}-seed{sd}']['accuracy'][c] for sd in seeds]
        m, sdv = mean_std(diffs)
        d[c] = dict(diffs=diffs, mean=m, std=sdv, n=len(diffs), se=sdv / math.sqrt(len(diffs)) if sdv is not None else None)
    return dict(seeds=list(seeds), **d)


def replace_section(fn, heading, md, before=('## What a GPU would change', '## CIFAR-10 on a GPU')):
    "Replace the section of Markdown file `fn` that starts with the line `heading` by the lines `md` (or add it before `before`)."
    fn = Path(fn)
    lines = fn.read_text().splitlines() if fn.exists() else ['# part_nb benchmarks', '']
    if heading in lines:
        i = lines.index(heading)
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith('## ')), len(lines))
    else: i = j = next((k for k, l in enumerate(lines) if l.startswith(before)), len(lines))
    fn.write_text('\n'.join(lines[:i] + md + lines[j:]) + '\n')


def paired_t(d, n):
    """(text, sign) of one paired difference `d` (its 'mean' and 'std' over `n` seeds): sign +1/-1 when the paired t
    statistic clears the two-sided 95% threshold, 0 otherwise."""
    m, sd = d['mean'], d['std']
    if m is None: return 'n/a', 0
    if n < 2 or sd is None: return f'{m:+.1f} (one seed: no spread to compare with)', 0
    if sd == 0: return f'{m:+.1f} (identical on every seed)', (0 if m == 0 else (1 if m > 0 else -1))
    t, crit = m / (sd / math.sqrt(n)), T95.get(n - 1, 2.0)
    return f'{m:+.1f} ± {sd:.1f} (t = {t:.1f}, threshold {crit:.2f})', ((1 if m > 0 else -1) if abs(t) > crit else 0)


def paired_verdict(paired, columns=('natural', 'worst3', 'aa')):
    """The verdict on the paper's claim (higher natural accuracy at equal robustness) from the paired differences PART -
    baseline (`paired_diffs` by pair): a difference counts only when its paired t clears the two-sided 95% threshold.
    Returns each pair's (text, sign) of `columns`, the pairs PART helped and hurt, the most seeds of a pair, and the
    outcome: 'none paired', 'one seed', 'helped', 'hurt', 'mixed' or 'no difference'."""
    rows, helped, hurt = {}, [], []
    for k, d in paired.items():
        rows[k] = t = {c: paired_t(d[c], d[c]['n']) for c in columns}
        nat, w3, aa = (t[c][1] for c in columns)
        if nat > 0 and w3 >= 0 and aa >= 0: helped.append(k)
        if nat < 0 or w3 < 0 or aa < 0: hurt.append(k)
    n = max((d[columns[0]]['n'] for d in paired.values()), default=0)
    outcome = ('none paired' if not paired else 'one seed' if n < 2 else 'helped' if helped and not hurt
               else 'hurt' if hurt and not helped else 'mixed' if helped or hurt else 'no difference')
    return dict(rows=rows, helped=helped, hurt=hurt, n=n, outcome=outcome)


def hms(sec):
    "Seconds as h:mm:ss."
    sec = int(round(sec))
    return f'{sec // 3600}:{sec % 3600 // 60:02d}:{sec % 60:02d}'


def cell(ms, digits=1):
    "A table cell 'mean ± std' from a dict with 'mean' and 'std' or a (mean, std) pair; 'n/a' without a mean."
    m, s = (ms.get('mean'), ms.get('std')) if isinstance(ms, dict) else (ms if ms is not None else (None, None))
    if m is None: return 'n/a'
    return f'{m:.{digits}f}' if s is None else f'{m:.{digits}f} ± {s:.{digits}f}'


def machine_info():
    "Where and with what a benchmark ran: date, platform, cores, versions, torch threads and the load average."
    import torch, fastai, part_nb
    from fastai.torch_core import default_device
    return dict(device=str(default_device()), date=datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                platform=platform.platform(), machine=platform.machine(), processor=platform.processor() or None,
                nproc=os.cpu_count(), python=platform.python_version(), torch=torch.__version__, fastai=fastai.__version__,
                part_nb=part_nb.__version__, threads=torch.get_num_threads(), loadavg_start=os.getloadavg())
