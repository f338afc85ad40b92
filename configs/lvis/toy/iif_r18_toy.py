# CPU-scale IIF Mask R-CNN on the generated toy LVIS (tools/make_toy_lvis.py: Fashion-MNIST
# garments + MNIST digits, 20 categories, rare/common/frequent by LVIS's rule). The
# iif_mask_rcnn.py recipe (base10 IOF, RFS 1e-3, cosine classifier, normalised mask, NMS 0.3,
# mask threshold 0.4) on a ResNet-18 FPN with 128 channels, trained from scratch (no
# pretrained weights exist offline), 256-px images.
#   python tools/make_toy_lvis.py --out data/toy_lvis
#   python tools/train_det.py configs/lvis/toy/iif_r18_toy.py
_base_ = '../iif_mask_rcnn.py'
data_root = 'data/toy_lvis/'
num_classes = 20

model = dict(
    backbone=dict(depth=18, init_cfg=None, frozen_stages=-1, norm_eval=False),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, fc_out_channels=512, num_classes=num_classes,
                       loss_cls=dict(num_classes=num_classes)),
        mask_roi_extractor=dict(out_channels=128),
        mask_head=dict(in_channels=128, conv_out_channels=128, num_classes=num_classes)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=500), rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(max_per_img=100)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=False,
    dataset=dict(dataset=dict(data_root=data_root, ann_file='annotations/lvis_v1_train.json',
                              pipeline=train_pipeline, filter_cfg=dict(filter_empty_gt=True, min_size=8))))
val_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/lvis_v1_val.json', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/lvis_v1_val.json')
test_evaluator = val_evaluator

# 64 sampled RoIs per image (mmdet: 512; at 128 RoIAlign's CPU backward took a quarter of an iteration).
# 12 epochs (131 iterations each with RFS), steps at 8 and 11, batch 4; validation every 4 epochs
train_cfg = dict(max_epochs=12, val_interval=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.02), clip_grad=dict(max_norm=10.0, norm_type=2))
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=4, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
