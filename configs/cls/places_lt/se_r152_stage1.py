# Paper recipe, stage 1, as the authors ran it (README: -b 64 on 4 GPUs --lr 0.2 --epochs 30
# --cosine_scheduler --mixup 0.2 --auto-augment randaugment --classif_norm lr_cosine, weight decay
# their default 1e-4): SE-ResNet-152 (r=16) initialised from ImageNet weights you provide
# (model.pretrained = a local checkpoint; nothing is downloaded), squashed cosine classifier with
# the learnable scale s = p**2, p starting at 5 (s = 25) and under weight decay, 30 epochs,
# batch 256, lr 0.2 cosine, weight decay 1e-4, mixup 0.2, RandAugment, first epoch warmed up from
# lr/1000.
# Where the paper's text (arXiv:2209.04861, implementation details) differs: "fine-tune last
# block + classifier" -- their train.py has the last-block freeze commented out
# (kostas1515/iif@747b041 classification/train.py lines 217-218), so every parameter trains
# (override: model.trainable=last_block); "lr 0.1" (their README command: --lr 0.2; override:
# optimizer.lr=0.1). Paper top-1: softmax 31.1.
_base_ = ["../_base_/places_lt.py"]
model = dict(name="se_resnet152", head="cosine_learnable", scale=25.0, scale_param="square", feature_norm="squash",
             pretrained=None, trainable="all")
loss = dict(type="ce")
optimizer = dict(lr=0.2, momentum=0.9, weight_decay=1e-4)
schedule = dict(epochs=30, type="cosine", warmup_epochs=1, warmup_start_factor=1e-3, warmup_max_iters=1000)
