# Softmax baseline for toy/iif_mbv2_toy.py: the same recipe with a plain cross-entropy box
# classifier at the cosine scale mmdet's LVIS recipes use (20; the IIF configs use the authors' 8).
# Post-hoc logit adjustment and NorCal evaluate this model's checkpoints (posthoc_la_mbv2_toy.py,
# norcal_mbv2_toy.py).
_base_ = './iif_mbv2_toy.py'
model = dict(roi_head=dict(bbox_head=dict(
    cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
    loss_cls=dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))))
custom_hooks = []
