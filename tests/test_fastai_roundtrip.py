"""What a user of part_nb does with fastai, under pytest alone (no nbdev), so that it also runs in the runtime-only
environment of `make test-runtime` (newest fastai and fastcore): a fit with `PARTCallback` past its burn-in, with
fastai's `Normalize` in the batches, then `Learner.export` and `load_learner`."""
import pytest, torch
from fastai.vision.all import Learner, Normalize, accuracy, load_learner
from part_nb.core import find_normalize, to_pixels
from part_nb.callback import PARTCallback
from part_nb.core import seed_everything
from part_nb.testing import TinyCNN, quadrant_dls

EPS, EPS_LOW = 0.1, 0.05

def _fit(normalize):
    seed_everything(0)
    dls = quadrant_dls(n_train=64, n_valid=32, bs=16)
    if normalize: dls.add_tfms([Normalize.from_stats([0.5, 0.4, 0.3], [0.2, 0.25, 0.3])], 'after_batch')
    learn = Learner(dls, TinyCNN(), metrics=accuracy, cbs=PARTCallback(EPS, EPS_LOW, 0.025, 2, burn_in=1))
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-2)
    return learn

@pytest.mark.parametrize('normalize', [False, True])
def test_fit_export_load(tmp_path, normalize):
    learn = _fit(normalize)
    h = learn.part.history
    assert [r['epoch'] for r in h] == [0, 1]
    assert h[0]['share_at_eps'] == 1 and 0 < h[1]['share_at_eps'] < 1, h # burn-in, then CAM budgets
    b = learn.part.budget # the last batch's budget: (B,1,H,W) in pixel units, eps or eps_low
    assert b.shape == (16, 1, 16, 16) and set(b.unique().tolist()) <= set(torch.tensor([EPS, EPS_LOW]).tolist()) # float32
    assert (find_normalize(learn.dls) is not None) == normalize

    items = list(range(64, 96)) # the validation images, by index
    preds, _ = learn.get_preds(dl=learn.dls.test_dl(items)) # PART stands aside in get_preds
    learn.export(tmp_path/'learn.pkl')
    new = load_learner(tmp_path/'learn.pkl')
    cb = new.part
    assert (cb.eps, cb.eps_low, cb.alpha, cb.steps, cb.burn_in, cb.cam_method) == (EPS, EPS_LOW, 0.025, 2, 1, 'gradcam')
    assert cb.budget is None # `_stateattrs` are not pickled
    preds2, _ = new.get_preds(dl=new.dls.test_dl(items))
    torch.testing.assert_close(preds2, preds)
    assert new.predict(70)[0] == learn.predict(70)[0]

def test_budget_holds_in_pixel_units():
    "Under `Normalize`, every element of PART's adversarial batch stays within its own pixel budget, inside [0,1]."
    from fastai.callback.core import Callback
    seen, clean = [], {}
    class Check(Callback):
        order = PARTCallback.order + 1 # after the attack has replaced `xb`
        def before_batch(self):
            if not self.training: return
            cb, stats = self.learn.part, find_normalize(self.dls)
            mean, std = stats
            x_adv = self.xb[0].as_subclass(torch.Tensor).float() * std + mean # pixels, not clamped
            x = to_pixels(clean['x'], stats)
            budget = torch.as_tensor(cb.budget).expand_as(x)
            seen.append(((x_adv - x).abs() - budget).max().item())
            assert x_adv.min() >= -1e-5 and x_adv.max() <= 1 + 1e-5
    class Clean(Callback):
        order = PARTCallback.order - 1
        def before_batch(self):
            if self.training: clean['x'] = self.xb[0]
    seed_everything(0)
    dls = quadrant_dls(n_train=64, n_valid=32, bs=16)
    dls.add_tfms([Normalize.from_stats([0.5, 0.4, 0.3], [0.2, 0.25, 0.3])], 'after_batch')
    learn = Learner(dls, TinyCNN(), cbs=[PARTCallback(EPS, EPS_LOW, 0.025, 3, burn_in=1), Clean(), Check()])
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-2)
    assert len(seen) == 8 and max(seen) <= 1e-5, seen
