# Seesaw Loss (Wang et al., CVPR 2021) on the toy study's softmax recipe: mmdet's SeesawLoss with its
# LVIS settings (p 0.8, q 2.0, NormedLinear scale 20), 20 toy categories. It counts the classes itself
# while training: no hook.
#   python tools/train_det.py configs/lvis/toy/seesaw_mbv2_toy.py
_base_ = './softmax_mbv2_toy.py'
model = dict(roi_head=dict(bbox_head=dict(
    cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
    loss_cls=dict(_delete_=True, type='SeesawLoss', p=0.8, q=2.0, num_classes=20, loss_weight=1.0))))
custom_hooks = []
