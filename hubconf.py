"""torch.hub entry point: ``torch.hub.load(REPO_OR_DIR, "cdinet", weights=PATH, ...)``.

    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", weights="CDINet.pth")
    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", weights="runs/r50/weights_final.pth")
    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", backbone="resnet50",
                           weights_backbone="imagenet")

``weights`` is a local file (the authors' ``CDINet.pth`` or a weights or training file of ours),
loaded strictly with ``weights_only=True``; only ``weights_backbone="imagenet"`` may download
(torchvision's weights, through its cache). A file of ours is rebuilt as
it was trained (backbone and ablation switches from its saved config); for saliency maps from
images, ``inference.Predictor.from_checkpoint`` adds the pixel path and post-processing.
"""
dependencies = ["torch", "torchvision"]


def cdinet(weights=None, backbone=None, rde=None, dse=None, ddr=None, fusion=None, weights_backbone=None):
    """CDINet (ACM MM 2021): the model ``weights`` holds, else a new one.

    weights: a weights file; the model is built from the config saved in it (the release's for
        the authors' file). Arguments given beside it must agree with that config.
    backbone: vgg16 (the release), resnet50 or mobilenet_v2 (docs/model.md, "Backbones").
    rde, dse, ddr, fusion: ablation switches; all on (the default) is the release.
    weights_backbone: "imagenet", a torchvision state-dict file of the backbone, or None, for the
        streams of an untrained model (without ``weights``).
    Returns the model in eval mode; inputs are (B,3,H,W) RGB and (B,1,H,W) depth, normalised as
    docs/pixel-path.md says; outputs are logits.
    """
    from models import build_model, model_from_checkpoint
    from utils.errors import WeightsError

    asked = {key: value for key, value in (("backbone", backbone), ("rde", rde), ("dse", dse), ("ddr", ddr),
                                           ("fusion", fusion)) if value is not None}
    if weights is None:
        switches = {key: asked[key] for key in ("rde", "dse", "ddr", "fusion") if key in asked}
        return build_model(backbone or "vgg16", weights_backbone, switches).eval()
    model, _ = model_from_checkpoint(weights)
    held = {"backbone": model.backbone_name, **model.variant.to_dict()}
    conflicts = {key: value for key, value in asked.items() if held[key] != value}
    if conflicts:
        raise WeightsError(f"{weights} holds {model.describe()} ({held}); asked for "
                           + ", ".join(f"{key}={value}" for key, value in conflicts.items()))
    return model
