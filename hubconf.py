"""torch.hub entry point: ``torch.hub.load(REPO_OR_DIR, "cdinet", weights=PATH, ...)``.

    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", weights="CDINet.pth")
    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", ddr=False, weights="run/weights_final.pth")
    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", backbone="resnet50", weights_backbone="imagenet")

Nothing is downloaded: ``weights`` is a local file (the authors' ``CDINet.pth`` or a weights or
training file of ours), loaded strictly with ``weights_only=True``.
"""
dependencies = ["torch", "torchvision"]


def cdinet(weights=None, backbone="vgg16", rde=True, dse=True, ddr=True, fusion="concat", weights_backbone=None):
    """CDINet (ACM MM 2021), the release's architecture unless switches are turned off.

    weights: a weights file to load (strict); without it the model keeps its initialisation.
    backbone: vgg16 (the release), resnet50 or mobilenet_v2 (README "Ablations and backbones").
    rde, dse, ddr, fusion: ablation switches; all on is the release.
    weights_backbone: "imagenet", a torchvision state-dict file of the backbone, or None, for the
        streams of an untrained model (ignored in effect when ``weights`` is given).
    Returns the model in eval mode; inputs are (B,3,H,W) RGB and (B,1,H,W) depth, normalised as
    README "Model" says; outputs are logits.
    """
    from models import build_model, load_weights

    model = build_model(backbone, weights_backbone, {"rde": rde, "dse": dse, "ddr": ddr, "fusion": fusion})
    if weights is not None:
        load_weights(model, weights)
    return model.eval()
