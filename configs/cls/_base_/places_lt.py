# Places-LT (Liu et al. 2019): 62.5k training images, 365 classes, split files
# Places_LT_{train,val,test}.txt in the image root.
data = dict(
    name="places_lt",
    root="data/Places365",
    kwargs=dict(),
    batch_size=256,
    test_batch_size=256,
    num_workers=8,
    # RandAugment as the authors ran it: the `randaugment` 1.0.2 package's policy (2 of its 15 ops,
    # Invert and Cutout included, each with probability 0.5, level 1-9 of 10; iif.data.randaugment),
    # after the crop and flip (kostas1515/iif@747b041 classification/imbalanced_dataset.py lines
    # 218-225). torchvision's RandAugment(num_ops=2, magnitude=9) instead (2 of 14 ops, always
    # applied, magnitude 9 of 31 bins): --cfg-options data.train_transform.randaugment_policy=torchvision
    train_transform=dict(image_size=224, random_resized_crop=True, hflip=True,
                         randaugment=dict(), randaugment_policy="authors"),
    test_transform=dict(image_size=224, resize=256),
)
model = dict(in_chans=3)
mixup = dict(alpha=0.2)
# fp32, as the authors trained (mixed precision only behind their --apex flag, off by default;
# kostas1515/iif@747b041 classification/train.py lines 375-376). Opt in to bf16 autocast +
# channels_last: --cfg-options train.amp=True train.channels_last=True
train = dict(amp=False, channels_last=False)
