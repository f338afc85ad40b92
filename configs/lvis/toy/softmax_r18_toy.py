# Softmax baseline for toy/iif_r18_toy.py: same recipe, plain cross-entropy box classifier.
_base_ = './iif_r18_toy.py'
model = dict(roi_head=dict(bbox_head=dict(
    cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),  # softmax baselines keep mmdet's 20 (IIF: 8)
    loss_cls=dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))))
custom_hooks = []
