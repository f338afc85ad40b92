# Places-LT (Liu et al. 2019): 62.5k training images, 365 classes, split files
# Places_LT_{train,val,test}.txt in the image root.
data = dict(
    name="places_lt",
    root="data/Places365",
    kwargs=dict(),
    batch_size=256,
    test_batch_size=256,
    num_workers=8,
    train_transform=dict(image_size=224, random_resized_crop=True, hflip=True,
                         randaugment=dict(num_ops=2, magnitude=9)),
    test_transform=dict(image_size=224, resize=256),
)
model = dict(in_chans=3)
mixup = dict(alpha=0.2)
train = dict(amp=True, channels_last=True)
