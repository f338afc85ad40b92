# VOC-MLT (Wu et al., ECCV 2020, in the split-list form TailCLIP distributes): 1,142 training
# images from VOC2012 trainval, 20 classes (775 down to 4 images a class), test = VOC2007 test
# (4,952 images); head >= 100, medium 20..99, tail < 20 training images. The lists are for
# non-commercial research use: bring them and the images yourself (data/README.md). `root` holds
# longtail2012/voc_lt_{train,test}.txt (+ optional class_freq.pkl / class_split.pkl) and VOCdevkit/.
# VOC-MLT has no validation list: keep eval_split="test" for the final report only, and tune on a
# list held out from the training images (data.kwargs.split_file for a "val" build).
task = "multi_label"
data = dict(
    name="voc_mlt",
    root="data/VOC-MLT",
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
