# COCO-MLT (Wu et al., ECCV 2020, in the split-list form TailCLIP distributes): 1,909 training
# images from COCO2017 train, 80 classes (1,128 down to 6 images a class), test = COCO val2017
# (5,000 images); head >= 100, medium 20..99, tail < 20 training images. The lists are for
# non-commercial research use: bring them and the images yourself (data/README.md). `root` holds
# longtail2017/coco_lt_{train,test}.txt (+ optional pickles), train2017/ and val2017/.
# COCO-MLT has no validation list: keep eval_split="test" for the final report only, and tune on a
# list held out from the training images (data.kwargs.split_file for a "val" build).
# The same recipe as VOC-MLT (_base_/voc_mlt.py: batch, 224-px transforms, ResNet-50 + linear head);
# only the dataset differs.
_base_ = ["./voc_mlt.py"]
data = dict(name="coco_mlt", root="data/COCO-MLT")
