# Softmax baseline for iif_raw_random_1x.py (random sampling, 1x). Paper (not ours): 15.2 mask AP.
_base_ = './iif_raw_random_1x.py'
model = dict(roi_head=dict(bbox_head=dict(
    init_cfg=None,  # mmdet's default head init (the constant fc_cls init is the IIF configs' own)
    loss_cls=dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))))
custom_hooks = []
