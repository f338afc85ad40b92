# CIFAR-10-LT (IF 100, 12,406 images) on a class-per-folder copy of CIFAR-10: the SE-ResNet-32
# paper recipe of ../cifar10_lt/se_r32_stage1.py (stage 1, softmax CE, as the authors ran it),
# reading root/train/<class>/*.jpg and root/test/<class>/*.jpg with the folder_lt dataset.
# For the lossy JPEG copy in ../shared/data/cifar10_jpeg.tar.gz: unpack it outside the repository
# (mkdir -p ~/data/cifar10_jpeg && tar xzf cifar10_jpeg.tar.gz -C ~/data/cifar10_jpeg) and label
# every number "CIFAR-10 (lossy JPEG copy)". The subset is drawn by the CIFAR-LT code (seed 0) from
# each class's files in sorted name order. scripts/cifar10_lt_table.sh runs the whole table.
_base_ = ["../cifar10_lt/se_r32_stage1.py"]
_cifar_stats = dict(mean=[0.4914, 0.4822, 0.4465], std=[0.2023, 0.1994, 0.2010])
data = dict(
    name="folder_lt",
    root="~/data/cifar10_jpeg",
    kwargs=dict(
        imbalance_factor=100, seed=0, val_per_class=20,
        # pins CIFAR-10's label order (also the sorted folder order) and lets fake-data smoke runs
        # know the classes without the files
        classes=["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        preload=True,  # 32x32 images: decode once (about 2 s), keep in memory
    ),
    train_transform=dict(image_size=32, **_cifar_stats),
    test_transform=dict(image_size=32, **_cifar_stats),
)
