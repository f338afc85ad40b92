# Balanced Softmax (Ren et al., NeurIPS 2020) on the toy study's softmax recipe (softmax_mbv2_toy.py):
# trains CE([z_c + log p_c, z_bg], y) with p_c from the toy training image counts (background
# untouched), predicts with softmax(z). Counts: ClassFrequencyHook, from the training annotation file.
#   python tools/train_det.py configs/lvis/toy/balanced_softmax_mbv2_toy.py
_base_ = './softmax_mbv2_toy.py'
model = dict(roi_head=dict(bbox_head=dict(
    # 20: the toy LVIS's categories
    loss_cls=dict(_delete_=True, type='BalancedSoftmaxLoss', num_classes=20, frequency='image', loss_weight=1.0))))
custom_hooks = [dict(type='ClassFrequencyHook')]
