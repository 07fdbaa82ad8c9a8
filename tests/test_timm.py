"""timm models with part_nb (issue #22): the CAM layer `find_cam_layer` picks on its own, the map at that layer, and
PART's per-pixel budgets on the families fastai users pick. timm is a dev and CI dependency: imported, never skipped."""
import warnings
import pytest, torch, torch.nn.functional as F
import timm
from fastai.vision.all import Callback, Learner, vision_learner
from part_nb.cam import find_cam_layer, class_activation_map, _layer_name
from part_nb.callback import PARTCallback
from part_nb.testing import quadrant_dls

warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated')
pytestmark = pytest.mark.filterwarnings('ignore:The CAM layer .* gives a') # 2x2 maps of 64x64 images, expected here
EPS, EPS_LOW = 0.1, 0.05
VIT = dict(img_size=32, patch_size=4, depth=2) # an 8x8 grid of 4x4 patches, two blocks
SMALL = dict(embed_dim=48, num_heads=2)

# name: (timm.create_model overrides, image size, the layer found, why a person would pick it). The CNNs get 64x64
# images: at 32x32 their stride-32 last stage is 1x1, which no CAM layer can be.
FAMILIES = {
    'resnet18': ({}, 64, 'layer4.1.act2', "the last block's output"),
    'convnext_atto': ({}, 64, 'stages.3.blocks.1', "the last block"),
    'efficientnet_b0': ({}, 64, 'bn2.act', "the 1x1 head convolution's output, the last map"),
    'vit_tiny_patch16_224': (VIT, 32, 'blocks.1.norm1', "class token: the input of the last attention"),
    'deit_tiny_patch16_224': (VIT, 32, 'blocks.1.norm1', "class token"),
    'deit_tiny_distilled_patch16_224': (VIT, 32, 'blocks.1.norm1', "class and distillation tokens"),
    'vit_small_patch14_reg4_dinov2': ({**VIT, **SMALL}, 32, 'blocks.1.norm1', "class token and 4 registers"),
    'vit_base_patch16_reg4_gap_256': ({**VIT, **SMALL}, 32, 'blocks.1', "4 registers, averaged patches: the last block"),
    'swin_tiny_patch4_window7_224': (dict(img_size=64, window_size=4, depths=(1, 1, 1, 1), embed_dim=24), 64, 'norm',
                                     "channels-last (B,h,w,C) maps: the final norm"),
    'maxvit_rmlp_pico_rw_256': (dict(img_size=64), 64, 'norm', "channels-first and channels-last blocks: the final norm"),
}
# modules that run after the last stage of `feature_info` and still output its map
AFTER_LAST_STAGE = {'efficientnet_b0': 'bn2', 'swin_tiny_patch4_window7_224': 'norm', 'maxvit_rmlp_pico_rw_256': 'norm'}

def make(name):
    kwargs, size, *_ = FAMILIES[name]
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, num_classes=4, **kwargs).eval(), size

class Spy(Callback):
    "Records `learn.xb` (and PART's budget) in `before_batch`, before (`order` 0) or after (`order` 9) the attack."
    run_valid = True
    def __init__(self, order): self.order, self.seen = order, []
    def before_batch(self):
        if self.training: self.seen.append((self.xb[0].detach().clone(), self.learn.part.budget, self.learn.part._layer))

def fit_part(learn):
    "One epoch of PART, budgets from the first batch on: every perturbation within its pixel's budget. Returns PART's CAM layer."
    before, after = Spy(0), Spy(9)
    with learn.no_bar(), learn.no_logging(), learn.added_cbs([before, after]): learn.fit(1, 1e-3)
    assert len(after.seen) == len(learn.dls.train) > 0
    above_low = False
    for (x, *_), (xa, budget, layer) in zip(before.seen, after.seen):
        assert torch.is_tensor(budget) and budget.shape == (len(x), 1, *x.shape[-2:]) # a CAM budget, not the uniform eps
        assert torch.isin(budget, torch.tensor([EPS, EPS_LOW])).all()
        d = (xa - x).abs()
        assert (d <= budget + 1e-6).all()
        above_low |= bool((d > EPS_LOW + 1e-6).any())
    assert above_low # some pixels got the full budget, and used it
    return layer

def part_cb(): return PARTCallback(eps=EPS, eps_low=EPS_LOW, alpha=0.025, steps=2, burn_in=0)

@pytest.mark.parametrize('name', list(FAMILIES))
def test_family(name):
    model, size = make(name)
    x = torch.rand(2, 3, size, size)
    layer = _layer_name(model, find_cam_layer(model, x))
    assert layer == FAMILIES[name][2], layer
    last = model.feature_info[-1]
    assert layer.startswith(last['module'] + '.') or layer == last['module'] or layer.startswith(AFTER_LAST_STAGE.get(name, '?'))
    assert not layer.startswith(('patch_embed', 'stem'))
    cam = class_activation_map(model, x, upsample=False)
    assert cam.shape == (2, 1, size // last['reduction'], size // last['reduction']) # the last stage's grid
    assert cam.min() >= 0 and cam.max() <= 1 and (cam.flatten(1).amax(1) > 0).all() # no zero map (a ViT's patch tokens reach the scores)
    learn = Learner(quadrant_dls(n_train=4, n_valid=2, bs=4, size=size), model, cbs=part_cb())
    assert fit_part(learn) is find_cam_layer(model, x) # PART's own choice is the same

def test_gradcam_by_hand():
    "A ViT with a class token and 4 registers (a 5-token prefix) and a Swin (channels-last maps): GradCAM by hand at the layer found."
    for name in ('vit_small_patch14_reg4_dinov2', 'swin_tiny_patch4_window7_224'):
        model, size = make(name)
        x = torch.rand(3, 3, size, size)
        layer, store = find_cam_layer(model, x), []
        h = layer.register_forward_hook(lambda m, i, o: store.append(o))
        try: logits = model(x)
        finally: h.remove()
        a = store[0]
        g, = torch.autograd.grad(logits.gather(1, logits.argmax(1, keepdim=True)).sum(), a)
        if a.ndim == 3: # (B,N,C) tokens: drop the class token and registers, the patch tokens row by row onto the 8x8 grid
            a, g = [t[:, model.num_prefix_tokens:].reshape(len(x), 8, 8, -1) for t in (a, g)]
        cam = F.relu((g.mean((1, 2), keepdim=True) * a).sum(-1))[:, None] # (B,h,w,C): weights = mean gradient over the grid
        lo, hi = cam.amin((2, 3), keepdim=True), cam.amax((2, 3), keepdim=True)
        torch.testing.assert_close(class_activation_map(model, x, 'gradcam', upsample=False), ((cam - lo) / (hi - lo)).detach(),
                                   atol=1e-5, rtol=1e-4)

@pytest.mark.parametrize('name, kwargs, size, layer', [
    ('convnext_atto', {}, 64, '0.model.stages.3.blocks.1'),
    ('deit_tiny_patch16_224', VIT, 32, '0.model.blocks.1.norm1')])
def test_vision_learner(name, kwargs, size, layer):
    "fastai's timm integration: the layer is found inside `TimmBody`, the body of fastai's Sequential(body, head)."
    torch.manual_seed(0)
    learn = vision_learner(quadrant_dls(n_train=4, n_valid=2, bs=4, size=size), name, pretrained=False, cbs=part_cb(), **kwargs)
    found = find_cam_layer(learn.model, torch.rand(1, 3, size, size))
    assert _layer_name(learn.model, found) == layer
    assert fit_part(learn) is found

def test_refused():
    "LeViT's tokens declare no layout: refused in one line that names the layer to pass, and that layer works."
    torch.manual_seed(0)
    model, x = timm.create_model('levit_128s', pretrained=False, num_classes=4, img_size=64).eval(), torch.rand(2, 3, 64, 64)
    with pytest.raises(ValueError, match="cannot tell which are patch tokens") as err: find_cam_layer(model, x)
    msg = str(err.value)
    assert '\n' not in msg and "layer='stem.conv4.bn'" in msg
    assert class_activation_map(model, x, layer='stem.conv4.bn', upsample=False).shape == (2, 1, 4, 4)
