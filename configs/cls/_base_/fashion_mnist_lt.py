# Fashion-MNIST-LT: real garments, exponential profile, imbalance factor 100 (12,406 training
# images, n_max 5000), balanced 10,000-image test set. Fetched offline by `make setup`.
data = dict(
    name="fashion_mnist_lt",
    root=None,  # None: ~/.cache/iif/data/fashion_mnist (or $IIF_DATA/fashion_mnist)
    kwargs=dict(imbalance_factor=100),
    batch_size=128,
    test_batch_size=512,
    num_workers=0,  # the whole set is in memory; workers only add overhead on 2 cores
    train_transform=dict(crop_padding=2, hflip=True),
    test_transform=dict(),
)
model = dict(in_chans=1)
