# COCO-MLT (Wu et al., ECCV 2020, in the split-list form TailCLIP distributes): 1,909 training
# images from COCO2017 train, 80 classes (1,128 down to 6 images a class), test = COCO val2017
# (5,000 images); head >= 100, medium 20..99, tail < 20 training images. The lists are for
# non-commercial research use: bring them and the images yourself (data/README.md). `root` holds
# longtail2017/coco_lt_{train,test}.txt (+ optional pickles), train2017/ and val2017/.
# COCO-MLT has no validation list: keep eval_split="test" for the final report only, and tune on a
# list held out from the training images (data.kwargs.split_file for a "val" build).
task = "multi_label"
data = dict(
    name="coco_mlt",
    root="data/COCO-MLT",
    kwargs=dict(),
    batch_size=8,
    test_batch_size=64,
    num_workers=4,
    # 224 x 224 inputs as in both reference codes (short side resized, centre crop; the DB code
    # squashes to 224 x 224 and adds photometric distortion and a random crop, which we do not have)
    train_transform=dict(image_size=224, resize=224, hflip=True),
    test_transform=dict(image_size=224, resize=224),
    eval_split="test",
)
# ResNet-50 (timm) with a linear classifier, one sigmoid per class. ImageNet (or CLIP RN50 visual)
# weights from a local file: model.pretrained=/path/to/resnet50.pth; nothing is downloaded.
model = dict(name="resnet50", head="linear", in_chans=3, pretrained=None)
