# Post-hoc logit adjustment (Menon et al., ICLR 2021) of the toy softmax detector: the model of
# softmax_mbv2_toy.py, scored with softmax([z_c - tau log p_c, z_bg]) (p_c: toy training image
# counts, background untouched). Evaluates a trained softmax checkpoint; nothing to train:
#   python tools/test_det.py configs/lvis/toy/posthoc_la_mbv2_toy.py work_dirs/softmax_mbv2_toy/epoch_12.pth
#   (another tau: --cfg-options model.roi_head.bbox_head.loss_cls.tau=0.5)
_base_ = './softmax_mbv2_toy.py'
model = dict(roi_head=dict(bbox_head=dict(
    loss_cls=dict(_delete_=True, type='PosthocLogitAdjustmentLoss', num_classes=20, tau=1.0, frequency='image',
                  loss_weight=1.0))))
custom_hooks = [dict(type='ClassFrequencyHook')]
