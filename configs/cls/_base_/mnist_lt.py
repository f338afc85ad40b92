# MNIST-LT: handwritten digits, same exponential rule as Fashion-MNIST-LT (no flips for digits).
data = dict(
    name="mnist_lt",
    root=None,  # None: ~/.cache/iif/data/mnist (or $IIF_DATA/mnist)
    kwargs=dict(imbalance_factor=100),
    batch_size=128,
    test_batch_size=512,
    num_workers=0,
    train_transform=dict(crop_padding=2),
    test_transform=dict(),
)
model = dict(in_chans=1)
