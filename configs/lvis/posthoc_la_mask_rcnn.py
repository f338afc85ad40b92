# Post-hoc logit adjustment (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021) of the
# softmax baseline: trains exactly as softmax_mask_rcnn.py (same fc_cls shape, C+1), so it evaluates a
# softmax checkpoint as is, with scores softmax([z_c - tau log p_c, z_bg]) (p_c: training image counts,
# background logit untouched); tested as the softmax baseline (NMS 0.5, mask threshold 0.5). No training needed:
#   python tools/test_det.py configs/lvis/posthoc_la_mask_rcnn.py work_dirs/softmax_mask_rcnn/epoch_24.pth \
#       --data-root /data/lvis_v1/ [--cfg-options model.roi_head.bbox_head.loss_cls.tau=0.5]
# Counts: ClassFrequencyHook reads the training annotation file named by train_dataloader before testing.
_base_ = './softmax_mask_rcnn.py'
model = dict(roi_head=dict(bbox_head=dict(
    loss_cls=dict(_delete_=True, type='PosthocLogitAdjustmentLoss', num_classes=1203, tau=1.0,
                  frequency='image', loss_weight=1.0))))
custom_hooks = [dict(type='ClassFrequencyHook')]
