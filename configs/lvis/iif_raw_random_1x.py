# IIF raw (image frequency) with plain random sampling, 1x schedule, linear box classifier,
# standard mask head and NMS (the paper's simplest LVIS setting); fc_cls initialised as the authors'
# (constant 0.001, bias 0). Base of every configs/lvis/ablation/ config.
# Paper (not ours): softmax 15.2 -> IIF raw 19.8 mask AP.
_base_ = 'mmdet::lvis/mask-rcnn_r50_fpn_sample1e-3_ms-1x_lvis-v1.py'
custom_imports = dict(imports=['mmdet_ext'], allow_failed_imports=False)
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet50-0676ba61.pth')),
    roi_head=dict(bbox_head=dict(
        loss_cls=dict(_delete_=True, type='IIFLoss', num_classes=1203, variant='raw', frequency='image',
                      loss_weight=1.0),
        # The IIF authors' linear-classifier init (iif_r50_4x4_1x): fc_cls weights 0.001, bias 0, so
        # every class starts with the same logit and the IIF weights alone set the first scores. As in
        # their configs this replaces the head's whole init_cfg: shared_fcs / fc_reg get PyTorch's default.
        init_cfg=dict(type='Constant', val=0.001, bias=0.0, override=dict(name='fc_cls')))))
custom_hooks = [dict(type='IIFWeightsHook')]
# Random sampling: a repeat-factor threshold of 0 gives every image a repeat factor of 1.
train_dataloader = dict(dataset=dict(oversample_thr=0.0))
val_evaluator = dict(type='FasterLVISMetric')
test_evaluator = val_evaluator
