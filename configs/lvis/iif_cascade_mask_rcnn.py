# IIF Cascade Mask R-CNN, R50-FPN, LVIS v1: the iif_mask_rcnn.py recipe (base10 IOF, RFS 1e-3,
# cosine box classifiers, normalised mask, 2x) on mmdet's cascade LVIS config, IIF in all
# three stages (their scores are averaged before the IIF softmax, so one weight vector serves),
# cosine scale 8 in every stage.
_base_ = 'mmdet::seesaw_loss/cascade-mask-rcnn_r101_fpn_seesaw-loss-normed-mask_sample1e-3-ms-2x_lvis-v1.py'
custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
model = dict(
    backbone=dict(depth=50, init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet50-0676ba61.pth')),
    roi_head=dict(bbox_head=[
        dict(type='Shared2FCBBoxHead', in_channels=256, fc_out_channels=1024, roi_feat_size=7, num_classes=1203,
             bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=stds),
             reg_class_agnostic=True,
             cls_predictor_cfg=dict(type='NormedLinear', tempearture=8),  # the authors' IIF scale
             loss_cls=dict(type='IIFLoss', num_classes=1203, variant='base10', frequency='instance',
                           loss_weight=1.0),
             loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0))
        for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1], [0.033, 0.033, 0.067, 0.067])
    ]),
    test_cfg=dict(rcnn=dict(nms=dict(type='nms', iou_threshold=0.3), mask_thr_binary=0.4)))
custom_hooks = [dict(type='IIFWeightsHook')]
val_evaluator = dict(type='FasterLVISMetric')
test_evaluator = val_evaluator
