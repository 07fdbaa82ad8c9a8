"Real CIFAR-10 (JPEG) from ../shared/data through the whole PART path: archive, CAM budgets on real images, training steps."
from pathlib import Path
import pytest, torch

from part_nb.testing import cifar10_archive
ARCHIVE = cifar10_archive() or Path('../shared/data/cifar10-jpeg.tgz') # the project's archive; the second only names it in the skip
LEVELS = {torch.tensor(7/255).item(), torch.tensor(8/255).item()} # eps_low and eps in float32
needs_archive = pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"no CIFAR-10 archive at {ARCHIVE} (the project's ../shared/data)")


@pytest.fixture(scope='module')
def dls(tmp_path_factory):
    from part_nb.data import cifar10_dls
    torch.set_num_threads(1)
    return cifar10_dls(ARCHIVE, bs=32, n_train=256, n_valid=64, pad=0, cache=tmp_path_factory.mktemp('cache'))


@needs_archive
def test_real_batch(dls):
    x, y = dls.one_batch()
    assert x.shape == (32, 3, 32, 32) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and float(x.std()) > 0.1 # real images, not blank
    assert dls.vocab == ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
    ys = torch.tensor([int(dls.valid_ds[i][1]) for i in range(64)])
    assert torch.bincount(ys, minlength=10).tolist() == [7, 7, 7, 7, 6, 6, 6, 6, 6, 6] # class-balanced subset


@needs_archive
def test_part_path_on_real_images(dls):
    "CAM budgets of real images take both values and keep eps on the important pixels; then PART trains and stays in budget."
    from fastai.vision.all import Learner, SGD, accuracy
    from part_nb.models import SmallVGG
    from part_nb.budget import cam_budget
    from part_nb.callback import PARTCallback
    torch.manual_seed(0)
    model = SmallVGG()
    x, y = dls.one_batch()
    b = cam_budget(model.eval(), x, 8/255, 7/255)
    assert b.shape == (32, 1, 32, 32) and set(b.unique().tolist()) <= LEVELS

    from fastai.callback.core import Callback
    cb = PARTCallback(steps=2, alpha=4/255, burn_in=1)
    learn = Learner(dls, model, opt_func=SGD, lr=0.05, metrics=accuracy, cbs=cb)
    seen = []
    class Spy(Callback): # each training batch: the largest |x_adv - x| over the budget, per pixel
        order = cb.order - 1
        def before_batch(self): self.x0 = self.xb[0].clone()
        def after_pred(self):
            if not self.training: return
            bud = self.learn.part.budget
            excess = ((self.xb[0] - self.x0).abs() - torch.as_tensor(bud)).max().item()
            seen.append((self.epoch, excess, bud))
    with learn.no_bar(), learn.no_logging(): learn.fit(2, cbs=Spy())
    assert all(torch.isfinite(torch.as_tensor(l)) for l in learn.recorder.losses)
    assert [ep for ep, _, _ in seen] == [0] * 8 + [1] * 8
    assert max(ex for _, ex, _ in seen) <= 1e-6 # every perturbation within its pixel's budget
    assert all(bud == 8/255 for ep, _, bud in seen if ep == 0) # burn-in: the uniform budget
    late = [bud for ep, _, bud in seen if ep == 1]
    assert all(isinstance(b, torch.Tensor) and b.shape == (32, 1, 32, 32) and set(b.unique().tolist()) == LEVELS for b in late)
    share = torch.stack([(b == b.max()).float().mean() for b in late])
    assert 0 < cb.history[-1]['share_at_eps'] < 1 and (share < 1).all() # after the burn-in, the maps mark a part of each batch


@pytest.mark.parametrize('content, says', [(None, 'no archive at'), (b'not a tar file', 'could not be extracted')])
def test_bad_archive_is_one_line(tmp_path, content, says):
    "A missing or corrupt archive: exit status 2, one line naming the file and what was expected, nothing downloaded."
    from test_cli import run, _error_line
    fn = tmp_path/'cifar10-jpeg.tgz'
    if content is not None: fn.write_bytes(content)
    r = run('part_train', '--data', 'cifar10', '--data_path', fn, '--preset', 'cpu', '--out', tmp_path/'run', timeout=600)
    line = _error_line(r.stderr)
    assert r.returncode == 2 and line.startswith('part_train: error:') and says in line and str(fn) in line, r.stderr
    assert 'expected cifar10/train/<class>' in line
