"fastai's distributed training (DDP through `learn.distrib_ctx`) with the PART callbacks: two real processes on the CPU, gloo, loopback only."
import os, socket, subprocess, sys, textwrap
import pytest, torch

pytest.importorskip('accelerate')

WORKER = textwrap.dedent('''
    import os, sys, warnings
    warnings.filterwarnings('ignore')
    from pathlib import Path
    import torch, torch.nn as nn
    from fastai.vision.all import Learner
    from fastai.distributed import *
    from part_nb.callback import PARTCallback, ATCallback
    from part_nb.core import seed_everything
    from part_nb.testing import TinyCNN, quadrant_dls
    torch.set_num_threads(1)
    rank, out = int(os.environ['RANK']), Path(sys.argv[1])
    torch.distributed.init_process_group('gloo', init_method='env://')

    def _broadcast(self, t, rank):
        "fastai's `DistributedDL` broadcasts its indices as CUDA tensors (for nccl); gloo on the CPU takes CPU tensors."
        t = torch.LongTensor(t); torch.distributed.broadcast(t, rank); return t.tolist()
    DistributedDL._broadcast = _broadcast

    class BNCNN(nn.Module):
        "TinyCNN with batch norm, so that the buffers and SyncBatchNorm take part too."
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
            self.head = nn.Linear(8, 4)
        @property
        def cam_layer(self): return self.features
        def forward(self, x): return self.head(self.features(x).mean((2, 3)))

    for loss in ('ce', 'trades', 'mart'):
        seed_everything(rank) # different initial weights on purpose: DDP must broadcast rank 0's
        learn = Learner(quadrant_dls(n_train=64, n_valid=32, bs=8, seed=0, num_workers=0), BNCNN(),
                        cbs=PARTCallback(0.1, 0.05, 0.025, 2, burn_in=1, loss=loss))
        with learn.no_bar(), learn.no_logging(), learn.distrib_ctx(sync_bn=False): learn.fit(2, 1e-2) # SyncBatchNorm needs a GPU
        torch.save({'state': learn.model.state_dict(), 'history': learn.part.history}, out/f'{loss}-rank{rank}.pth')
    torch.distributed.destroy_process_group()
    print('done', rank)
''')

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def test_ddp_two_processes(tmp_path):
    script = tmp_path/'worker.py'
    script.write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if k not in ('CUDA_VISIBLE_DEVICES',)}
    env.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(_free_port()), WORLD_SIZE='2', OMP_NUM_THREADS='1',
               CUDA_VISIBLE_DEVICES='', ACCELERATE_USE_CPU='true')
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path)], env={**env, 'RANK': str(r), 'LOCAL_RANK': str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert 'Traceback' not in err and 'reducer' not in err.lower(), err[-3000:]
    for loss in ('ce', 'trades', 'mart'):
        r0, r1 = (torch.load(tmp_path/f'{loss}-rank{r}.pth', weights_only=True) for r in range(2))
        for k, v in r0['state'].items():
            if 'running' in k or 'num_batches' in k: continue # batch-norm statistics are per process between broadcasts
            torch.testing.assert_close(v, r1['state'][k], rtol=0, atol=1e-6, msg=f'{loss}: {k} differs between ranks')
        # both ranks trained two epochs, the second with CAM budgets, on their own half of each batch
        for h in (r0['history'], r1['history']):
            assert [e['epoch'] for e in h] == [0, 1] and h[0]['share_at_eps'] == 1 and h[1]['share_at_eps'] < 1, h
