"""torch.hub entry point: ``torch.hub.load(REPO_OR_DIR, "cdinet", weights=PATH, ...)``.

    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", weights="CDINet.pth")
    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", ddr=False, weights="run/weights_final.pth")

Nothing is downloaded: ``weights`` is a local file (the authors' ``CDINet.pth`` or a weights or
training file of ours), loaded strictly with ``weights_only=True``.
"""
dependencies = ["torch", "torchvision"]


def cdinet(weights=None, rde=True, dse=True, ddr=True, fusion="concat", backbone=None):
    """CDINet (ACM MM 2021), the release's architecture unless switches are turned off.

    weights: a weights file to load (strict); without it the model keeps its initialisation.
    rde, dse, ddr, fusion: ablation switches (README "Ablations"); all on is the release.
    backbone: "imagenet", a torchvision VGG16 state-dict file, or None, for the VGG16 streams of
        an untrained model (ignored in effect when ``weights`` is given).
    Returns the model in eval mode; inputs are (B,3,H,W) RGB and (B,1,H,W) depth, normalised as
    README "Model" says; outputs are logits.
    """
    from models import build_model, load_weights

    model = build_model(backbone, {"rde": rde, "dse": dse, "ddr": ddr, "fusion": fusion})
    if weights is not None:
        load_weights(model, weights)
    return model.eval()
