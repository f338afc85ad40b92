# ImageNet-LT (Liu et al. 2019): 115.8k training images, 1000 classes, from split files
# ImageNet_LT_{train,val,test}.txt (`relative/path label`) placed in the image root.
data = dict(
    name="imagenet_lt",
    root="data/ImageNet",  # image root; split files default to <root>/ImageNet_LT_<split>.txt
    kwargs=dict(),
    batch_size=256,
    test_batch_size=256,
    num_workers=8,
    train_transform=dict(image_size=224, random_resized_crop=True, hflip=True, autoaugment="imagenet"),
    test_transform=dict(image_size=224, resize=256),
)
# Squashed cosine classifier, scale 16: s * ||x||/(1+||x||) * cos(x, W_c) (the authors' code).
model = dict(in_chans=3, head="cosine", scale=16.0, feature_norm="squash")
mixup = dict(alpha=0.2)
# fp32, as the authors trained: their train.py has mixed precision only behind --apex (off by default,
# in none of their README commands; kostas1515/iif@747b041 classification/train.py lines 375-376).
# Opt in to bf16 autocast + channels_last: --cfg-options train.amp=True train.channels_last=True
train = dict(amp=False, channels_last=False)
