# CIFAR-10-LT, imbalance factor 100 (12,406 images), the LDAM/MiSLAS/IIF subset (seed 0).
# root: the directory holding cifar-10-batches-py/ (nothing is downloaded).
data = dict(
    name="cifar10_lt",
    root="data/cifar",
    kwargs=dict(imbalance_factor=100, seed=0),
    batch_size=64,
    test_batch_size=256,
    num_workers=2,
    train_transform=dict(crop_padding=4, hflip=True, autoaugment="cifar"),
    test_transform=dict(),
)
model = dict(name="se_resnet32", head="cosine", scale=16.0, in_chans=3)
mixup = dict(alpha=0.2)
