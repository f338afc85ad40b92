# Plain BCE on toy_mlt with an ImageNet-pretrained MobileNetV2 (torchvision's layers, 1280 pooled
# features, linear classifier) instead of the from-scratch SE-ResNet-32: does pre-training change
# what the long-tail methods gain? The weights come from a local file only: `python -m
# iif.data.fetch_weights mobilenet_v2` puts torchvision's mobilenet_v2-b0353104.pth in
# ~/.cache/iif/weights, which pretrained="imagenet" names (or give a path). Inputs at the set's
# full 64 x 64 (MobileNetV2's stride 32 leaves a 2 x 2 map; at 32 x 32 it would be 1 x 1),
# normalised with ImageNet's mean / std as the weights expect (stats="imagenet"). BatchNorm trains
# (batches of 32); model.kwargs.norm_eval=True keeps ImageNet's statistics instead. Same AdamW
# recipe as bce.py; one training step of 32 images takes ~0.5 s on one CPU thread (measured), so
# about 20 s an epoch, 7 min a run.
_base_ = ["./bce.py"]
model = dict(name="mobilenet_v2", kwargs=dict(pretrained="imagenet"))
data = dict(
    train_transform=dict(_delete_=True, image_size=64, crop_padding=4, stats="imagenet"),
    test_transform=dict(_delete_=True, image_size=64, stats="imagenet"),
)
