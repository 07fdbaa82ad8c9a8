"""The report of the GPU check: the machine record and bench/RESULTS-gpu.md, from what each step measured."""
import subprocess, sys
from gpu_steps import EPS, EPS_LOW


def machine(a):
    "_common's machine record, with the device of the check, the versions of its stack and, on CUDA, the GPU."
    import torch
    from importlib.metadata import version, PackageNotFoundError
    from _common import machine_info # imports part_nb: only once the wheels are on the path
    def v(p):
        try: return version(p)
        except PackageNotFoundError: return None
    info = {**machine_info(), 'device': a.device,
            'versions': {p: v(p) for p in ('torch', 'torchvision', 'fastai', 'fastcore', 'fasttransform', 'plum-dispatch', 'nbdev',
                                           'execnb', 'pyautoattack', 'mlxtend', 'numpy')}}
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
          f"was measured by that run (wall time {total:.0f} s, time limit {a.time_limit:.0f} s).", '', '## Machine', '']
    if gpu:
        md.append(f"- GPU: {info['gpu']} ({info['gpu_memory_gib']} GiB, {info['multiprocessors']} multiprocessors), driver "
                  f"{info.get('driver') or 'unknown'}, CUDA {info['cuda']}, cuDNN {info['cudnn']}; TF32 convolutions "
                  f"{'on' if info['tf32_convolutions'] else 'off'}, TF32 matmul {'on' if info['tf32_matmul'] else 'off'} (torch's defaults)")
    md += [f"- {info['platform']}, {info['nproc']} CPUs, Python {info['python']}",
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
          f"Epochs chosen to fit the time limit: a probe timed {p['probe_seconds_per_batch']:.4f} s per AT training batch "
          f"({p['batches_per_epoch']} batches an epoch; loading the data took {p['data_load_seconds']:.0f} s), so about "
          f"{p['estimated_epoch_seconds']:.0f} s per epoch with validation and the maps; {p['seconds_left_at_plan']:.0f} s were "
          f"left, and {p['epochs_that_fit']} epochs fitted (capped at {cf.get('max_epochs', '?')}). "
          f"The whole comparison took {cf['seconds']:.0f} s" + (f", peak CUDA memory {cf['cuda_peak_mib']:.0f} MiB." if 'cuda_peak_mib' in cf else '.'),
          '', 'Accuracy (%) on the evaluated test images and training seconds per epoch:', '', cf['table'], '',
          'Per epoch (accuracy: natural, on the validation images; adv_acc: on the adversarial training batches; share_at_eps: '
          'share of pixels at eps):', '', '| method | epoch | train loss | valid loss | accuracy | adv_acc | share_at_eps | seconds |',
          '|---|---:|---:|---:|---:|---:|---:|---:|']
    for m, r in cf['runs'].items():
        for e in r['epochs']:
            md.append(f"| {m} | {e['epoch']} | {_f(e['train_loss'])} | {_f(e['valid_loss'])} | {_f(e['accuracy'])} | {_f(e['adv_acc'])} | "
                      f"{_f(e['share_at_eps'])} | {_f(e['time_epoch'], 1)} |")
    md += ['', f"With {cf['epochs']} epochs instead of the paper's 80, these accuracies say that the CIFAR-10 path runs on this device "
           "and what an epoch costs there, not whether PART beats AT: the paper's protocol is in RESULTS.md."]
    return md

