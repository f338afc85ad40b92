# The offline long-tailed multi-label set (iif.data.ToyMLT, iif/data/toy_mlt.py): 64x64 canvases with 1-4
# real Fashion-MNIST / MNIST objects, 20 classes, 1,142 training images (VOC-MLT's count), 560
# down to 4 images per class (7 head, 6 medium, 7 tail classes under the (100, 20) rule); a
# held-out validation split (100 images) and a balanced test split (500 images, 50 positives a
# class). Generated in memory from the glyphs `make setup` fetches (~/.cache/iif/data); nothing
# is downloaded. data.kwargs.seed picks the generated set; the run's `seed` varies training only.
task = "multi_label"
data = dict(
    name="toy_mlt",
    root=None,  # None: ~/.cache/iif/data (or $IIF_DATA), the folder holding fashion_mnist/ and mnist/
    kwargs=dict(),
    batch_size=32,
    test_batch_size=250,
    num_workers=0,  # the set is in memory; workers only add overhead on 2 cores
    # Downsampled to 32 x 32 (objects 11..16 pixels), the CIFAR networks' input size: 4x cheaper than
    # 64 x 64. Random shifts only: a mirrored digit is another glyph.
    train_transform=dict(resize=32, image_size=32, crop_padding=2),
    test_transform=dict(resize=32, image_size=32),
)
model = dict(in_chans=3)
