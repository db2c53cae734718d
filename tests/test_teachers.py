import math

import pytest
import torch
import torchvision
import torchvision.transforms.v2.functional as TF
from skimage import data
from torch import nn

from crossmodal.constants import IMAGENET_MEAN, IMAGENET_STD
from crossmodal.errors import InputError
from crossmodal.models import efficientnet_lite
from crossmodal.models.efficientnet_lite import EfficientNetLite0
from crossmodal.models.features import Features
from crossmodal.models.teachers import TEACHERS, build_teacher
from crossmodal.models.timm_teacher import create_network

ESPRESSO = 967
CAT_CLASSES = range(281, 286)


@pytest.fixture(scope="module")
def lite0():
    return build_teacher("efficientnet_lite0")


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home"


def imagenet_input(image) -> torch.Tensor:
    """Standard evaluation preprocessing: short side 256, centre crop 224, ImageNet mean/std."""
    x = TF.resize(torch.from_numpy(image).permute(2, 0, 1), 256, antialias=True)
    x = TF.center_crop(x, 224).float() / 255
    return TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD)[None]


def save_random_resnet(arch: str, path, num_classes: int = 1000) -> dict:
    state_dict = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, path)
    return state_dict


def test_every_packaged_key_maps_to_timm_with_the_same_shape():
    package = torch.load(efficientnet_lite.packaged_weights(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    remapped = efficientnet_lite.remap_package_keys(package, model.block_names())
    target = model.net.state_dict()
    assert len(remapped) == len(package) == len(target)
    assert remapped.keys() == target.keys()
    assert all(remapped[key].shape == target[key].shape for key in target)


def test_efficientnet_lite0_classifies_real_photos(lite0):
    logits = lite0(torch.cat([imagenet_input(data.chelsea()), imagenet_input(data.coffee())])).logits
    cat, coffee = logits.argmax(dim=1).tolist()
    assert cat in CAT_CLASSES
    assert coffee == ESPRESSO


@pytest.mark.parametrize("size", [(224, 224), (120, 160)])
def test_efficientnet_lite0_features(lite0, size):
    out = lite0(torch.randn(2, 3, *size))
    assert isinstance(out, Features)
    assert (lite0.feature_dim, lite0.num_classes) == (1280, 1000)
    assert out.pooled.shape == (2, 1280)
    assert out.logits.shape == (2, 1000)
    assert [m.shape[1] for m in out.maps] == lite0.map_channels
    for stride, fmap in zip((4, 8, 16, 32), out.maps):
        assert fmap.shape[2:] == (math.ceil(size[0] / stride), math.ceil(size[1] / stride))


def test_teacher_stays_frozen_inside_a_training_parent():
    teacher = build_teacher("efficientnet_lite0")
    student_head = nn.Linear(1280, 4)
    parent = nn.ModuleDict({"teacher": teacher, "head": student_head})
    buffers_before = {name: b.clone() for name, b in teacher.named_buffers()}

    parent.train()
    assert not any(module.training for module in teacher.modules())
    out = teacher(torch.randn(4, 3, 64, 64) * 3)
    student_head(out.pooled).square().mean().backward()

    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    assert not out.pooled.requires_grad and all(not m.requires_grad for m in out.maps)
    assert student_head.weight.grad is not None
    for name, buffer in teacher.named_buffers():
        assert torch.equal(buffer, buffers_before[name]), name


def test_resnet_without_weights_explains_where_it_looked(torch_home):
    with pytest.raises(InputError, match="resnet18-f37072fd.pth") as error:
        build_teacher("resnet18")
    assert str(torch_home) in str(error.value)
    assert "resnet18:/path/to/weights.pth" in str(error.value)


def test_resnet_loads_weights_from_the_torch_hub_cache(torch_home):
    state_dict = save_random_resnet("resnet18", torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    teacher = build_teacher("resnet18")
    reference = torchvision.models.resnet18(weights=None)
    reference.load_state_dict(state_dict)
    x = torch.randn(2, 3, 64, 96)
    out = teacher(x)
    assert torch.allclose(out.logits, reference.eval()(x), atol=1e-5)
    assert (teacher.feature_dim, teacher.map_channels, teacher.num_classes) == (512, [64, 128, 256, 512], 1000)
    assert out.pooled.shape == (2, 512)
    assert [tuple(m.shape[1:]) for m in out.maps] == [(64, 16, 24), (128, 8, 12), (256, 4, 6), (512, 2, 3)]


def test_resnet50_from_an_explicit_weights_path(tmp_path):
    save_random_resnet("resnet50", tmp_path / "r50.pth")
    teacher = build_teacher(f"resnet50:{tmp_path / 'r50.pth'}")
    out = teacher(torch.randn(1, 3, 64, 64))
    assert teacher.map_channels == [256, 512, 1024, 2048]
    assert [m.shape[1] for m in out.maps] == teacher.map_channels
    assert out.pooled.shape == (1, 2048)


def test_teacher_from_checkpoint_reads_arch_and_classifier_size(tmp_path):
    state_dict = torchvision.models.resnet18(weights=None, num_classes=10).state_dict()
    torch.save({"arch": "resnet18", "state_dict": state_dict}, tmp_path / "teacher.pt")
    teacher = build_teacher(f"checkpoint:{tmp_path / 'teacher.pt'}")
    assert teacher.num_classes == 10
    assert teacher(torch.randn(1, 3, 32, 32)).logits.shape == (1, 10)


def test_efficientnet_lite0_checkpoint_in_timm_layout(tmp_path, lite0):
    torch.save({"arch": "efficientnet_lite0", "state_dict": lite0.network.net.state_dict()}, tmp_path / "t.pt")
    teacher = build_teacher(f"checkpoint:{tmp_path / 't.pt'}")
    x = torch.randn(1, 3, 64, 64)
    assert torch.equal(teacher(x).logits, lite0(x).logits)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("vgg16", "unknown teacher 'vgg16'"),
        ("checkpoint", "needs a path"),
        ("resnet18:/no/such/file.pth", "does not exist"),
        ("checkpoint:/no/such/file.pt", "does not exist"),
    ],
)
def test_bad_specs_are_input_errors(spec, message):
    with pytest.raises(InputError, match=message):
        build_teacher(spec)


def test_mismatched_weights_and_checkpoints_are_input_errors(tmp_path):
    save_random_resnet("resnet18", tmp_path / "r18.pth")
    with pytest.raises(InputError, match="does not fit teacher 'resnet34'"):
        build_teacher(f"resnet34:{tmp_path / 'r18.pth'}")
    torch.save({"state_dict": {}}, tmp_path / "no_arch.pt")
    with pytest.raises(InputError, match="'arch' and 'state_dict'"):
        build_teacher(f"checkpoint:{tmp_path / 'no_arch.pt'}")
    torch.save({"arch": "alexnet", "state_dict": {}}, tmp_path / "alexnet.pt")
    with pytest.raises(InputError, match="arch 'alexnet'"):
        build_teacher(f"checkpoint:{tmp_path / 'alexnet.pt'}")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(InputError, match="not a readable torch file"):
        build_teacher(f"resnet18:{tmp_path / 'text.pth'}")


def test_registry_lists_the_teachers():
    assert TEACHERS.names() == ["efficientnet_lite0", "resnet18", "resnet34", "resnet50"]


def test_input_conversion_matches_the_range_the_weights_were_trained_on(lite0):
    """The stem BatchNorm remembers the variance of its training inputs; photos converted from
    ImageNet normalisation must land near it (feeding them unconverted gives about 3x)."""
    net = lite0.network
    x = torch.cat([imagenet_input(data.chelsea()), imagenet_input(data.coffee())])
    with torch.no_grad():
        stem = net.net.conv_stem(x * net.input_scale + net.input_shift)
    ratio = (stem.var(dim=(0, 2, 3)) / net.net.bn1.running_var).median().item()
    assert 0.4 < ratio < 1.6


# ------------------------------------------------------------------------ timm teachers


@pytest.fixture(scope="module")
def timm_weights(tmp_path_factory):
    """Weights files of two small timm architectures (random init, as a user's fine-tuned file would be)."""
    import timm
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("timm")
    files = {}
    for arch in ("test_convnext", "test_vit"):
        torch.manual_seed(0)
        network = timm.create_model(arch, pretrained=False)
        files[arch] = folder / f"{arch}.safetensors"
        save_file(network.state_dict(), str(files[arch]))
    return files


@pytest.mark.parametrize("arch, channels, strides, grid", [
    ("test_convnext", [24, 32, 48, 64], [4, 8, 16, 32], [(24, 32), (12, 16), (6, 8), (3, 4)]),
    ("test_vit", [64, 64, 64, 64], [16, 16, 16, 16], [(6, 8)] * 4),
])
def test_timm_teacher_maps_and_strides_come_from_its_feature_info(timm_weights, arch, channels, strides, grid):
    teacher = build_teacher(f"timm:{arch}:{timm_weights[arch]}")
    assert teacher.map_channels == channels and teacher.map_strides == [(s, s) for s in strides]
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training
    x = torch.randn(2, 3, 96, 128)
    out = teacher(x)
    assert [tuple(m.shape[1:]) for m in out.maps] == [(c, *hw) for c, hw in zip(channels, grid)]
    assert out.pooled.shape == (2, teacher.feature_dim) and out.logits.shape == (2, 1000)
    # The logits are timm's own forward on the input converted to the weights' normalisation.
    reference = create_network(arch)
    reference.load_state_dict(teacher.network.net.state_dict())
    reference.eval()
    mean, std = torch.tensor(reference.pretrained_cfg["mean"]).view(1, 3, 1, 1), torch.tensor(reference.pretrained_cfg["std"]).view(1, 3, 1, 1)
    imagenet_mean, imagenet_std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference((x * imagenet_std + imagenet_mean - mean) / std)
    assert torch.allclose(out.logits, expected, atol=1e-4)


def test_timm_weights_of_another_architecture_are_one_sentence(timm_weights):
    with pytest.raises(InputError, match=r"does not fit timm architecture 'test_vit'"):
        build_teacher(f"timm:test_vit:{timm_weights['test_convnext']}")
    with pytest.raises(InputError, match="timm has no architecture 'no_such_net'"):
        build_teacher(f"timm:no_such_net:{timm_weights['test_vit']}")
    with pytest.raises(InputError, match="needs an architecture and a weights file"):
        build_teacher("timm:test_vit")
    with pytest.raises(InputError, match="does not exist"):
        build_teacher("timm:test_vit:/no/such/file.safetensors")
