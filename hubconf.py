"""torch.hub entry points, one per registered model: ``torch.hub.load(REPO_OR_DIR, NAME, weights=PATH, ...)``.

    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", weights="CDINet.pth")
    model = torch.hub.load("path/to/this/repo", "bbsnet", source="local", weights="BBSNet.pth")
    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", weights="runs/r50/weights_final.pth")
    model = torch.hub.load("path/to/this/repo", "cdinet", source="local", backbone={"name": "resnet50"},
                           pretrained=True)

``weights`` is a local file (an authors' release or a weights or training file of ours), loaded
strictly with ``weights_only=True``; only ``pretrained=True`` may download (torchvision's
ImageNet weights, through its cache). A file of ours is rebuilt as it was trained (model and
options from its saved config); options given beside it must agree with its architecture (start
weights, ``backbone.weights``, aside). Without ``weights``, a new model with the given options
(docs/models.md lists them). For saliency maps from images,
``inference.Predictor.from_checkpoint`` adds the model's pixel path and post-processing.
"""
dependencies = ["torch", "torchvision"]


def _entry(name: str):
    def load(weights=None, pretrained: bool = False, **options):
        from models import create_model, model_from_checkpoint
        from models.registry import architecture, model_options
        from utils.errors import WeightsError

        if weights is None:
            return create_model(name, pretrained, **options).eval()
        model, _ = model_from_checkpoint(weights)
        if model.model_name != name:
            raise WeightsError(f"{weights} holds {model.model_name}, not {name}: load it with the {model.model_name!r} "
                               f"entry")
        held = architecture(model.model_options)
        asked = architecture(model_options(name, options)) if options else held
        if asked != held:
            raise WeightsError(f"{weights} holds {name} with options {held}; asked for {asked}")
        return model

    load.__name__ = name
    load.__doc__ = (f"The registered model {name!r}: the model ``weights`` holds, else a new one built with "
                    f"``options`` (its config options, docs/models.md); eval mode, outputs are logits.")
    return load


def _register_entries() -> None:
    from models import list_models

    for model_name in list_models():
        globals()[model_name] = _entry(model_name)


_register_entries()
