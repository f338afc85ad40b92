# NorCal (Pan et al., NeurIPS 2021) on the toy softmax detector: the model of softmax_mbv2_toy.py,
# scored with p_c / n_c^gamma renormalised together with the untouched p_bg (n_c: toy training
# image counts). Evaluates a trained softmax checkpoint; nothing to train:
#   python tools/test_det.py configs/lvis/toy/norcal_mbv2_toy.py work_dirs/softmax_mbv2_toy/epoch_12.pth
#   (another gamma: --cfg-options model.roi_head.bbox_head.loss_cls.gamma=0.5)
_base_ = './softmax_mbv2_toy.py'
model = dict(roi_head=dict(bbox_head=dict(
    loss_cls=dict(_delete_=True, type='NorCalLoss', num_classes=20, gamma=1.0, frequency='image',
                  loss_weight=1.0))))
custom_hooks = [dict(type='ClassFrequencyHook')]
