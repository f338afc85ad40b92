# The toy study's IIF Mask R-CNN: the recipe of iif_r18_toy.py (base10 IOF, RFS 1e-3, cosine
# classifier, normalised mask, NMS 0.3, mask threshold 0.4) on torchvision's ImageNet
# MobileNetV2 (mmdet_ext.TVMobileNetV2; frozen BatchNorm, stem frozen) with a 128-channel FPN.
# The weights are extracted at setup time (`python -m iif.data.fetch_weights mobilenet_v2`);
# nothing is downloaded at run time.
#   python tools/make_toy_lvis.py --out data/toy_lvis
#   python tools/train_det.py configs/lvis/toy/iif_mbv2_toy.py
#   bash scripts/toy_lvis_study.sh          # the whole comparison, 3 seeds
_base_ = './iif_r18_toy.py'

model = dict(
    backbone=dict(_delete_=True, type='TVMobileNetV2', pretrained='imagenet', out_indices=(3, 6, 13, 18),
                  frozen_stages=1, norm_eval=True),
    neck=dict(in_channels=[24, 32, 96, 1280]),
    test_cfg=dict(rcnn=dict(max_per_img=50)))

# Sized for the 3-seed study on 2 CPU cores (scripts/toy_lvis_study.sh): 3 epochs of 131
# iterations (batch 4, RFS), lr x0.1 after epoch 2; a checkpoint every epoch (resumable), LVIS
# evaluation by tools/test_det.py afterwards. At most 50 detections per image (a toy image holds
# 1-6 objects of 20 classes; 100 doubled the evaluation time for nothing). Seeded and deterministic.
train_cfg = dict(max_epochs=3, val_interval=3)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=3, by_epoch=True, milestones=[2], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
