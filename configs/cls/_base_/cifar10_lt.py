# CIFAR-10-LT, imbalance factor 100 (12,406 images), the LDAM/MiSLAS/IIF subset (seed 0).
# root: the directory holding cifar-10-batches-py/ (nothing is downloaded).
# As the authors ran it (kostas1515/iif classification/, see docs/FIDELITY.md): AutoAugment
# (CIFAR policy) followed by Cutout 16 (their `--auto-augment cifar` pipeline), batch 64
# (16 per GPU x 4 GPUs), cosine classifier scale 16 with the squashed feature norm
# s * ||x||/(1+||x||) * cos(x, W_c) (their CosNorm_Classifier).
data = dict(
    name="cifar10_lt",
    root="data/cifar",
    kwargs=dict(imbalance_factor=100, seed=0),
    batch_size=64,
    test_batch_size=256,
    num_workers=2,
    train_transform=dict(crop_padding=4, hflip=True, autoaugment="cifar", cutout=16),
    test_transform=dict(),
)
model = dict(name="se_resnet32", head="cosine", scale=16.0, feature_norm="squash", in_chans=3)
mixup = dict(alpha=0.2)
