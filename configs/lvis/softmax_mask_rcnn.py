# Softmax baseline on the same recipe as iif_mask_rcnn.py (RFS 1e-3, cosine classifier,
# normalised mask, NMS 0.3, mask threshold 0.4, 2x): only the box classification loss and the
# cosine scale (20 here, 8 for IIF, as in the IIF authors' configs) differ.
# Paper (not ours, Table XVI): 18.7 mask AP.
_base_ = './iif_mask_rcnn.py'
model = dict(roi_head=dict(bbox_head=dict(
    # mmdet's LVIS cosine scale 20, as the IIF authors' softmax baselines (their IIF configs use 8)
    cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
    loss_cls=dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))))
custom_hooks = []
