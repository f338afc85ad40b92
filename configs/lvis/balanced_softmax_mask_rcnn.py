# Balanced Softmax baseline (Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition",
# NeurIPS 2020) on the softmax_mask_rcnn.py recipe (RFS 1e-3, cosine classifier scale 20, normalised
# mask, 2x, tested with NMS 0.5 and mask threshold 0.5 as the authors' softmax baseline; IIF's
# 0.3 / 0.4: --cfg-options model.test_cfg.rcnn.nms.iou_threshold=0.3 model.test_cfg.rcnn.mask_thr_binary=0.4):
# the box classifier trains CE([z_c + log p_c, z_bg], y) with
# p_c from the training image counts (background logit untouched) and predicts with softmax(z).
# Counts: ClassFrequencyHook, from the training annotation file.
#   python tools/train_det.py configs/lvis/balanced_softmax_mask_rcnn.py --data-root /data/lvis_v1/
_base_ = './softmax_mask_rcnn.py'
model = dict(roi_head=dict(bbox_head=dict(
    loss_cls=dict(_delete_=True, type='BalancedSoftmaxLoss', num_classes=1203, frequency='image',
                  loss_weight=1.0))))
custom_hooks = [dict(type='ClassFrequencyHook')]
