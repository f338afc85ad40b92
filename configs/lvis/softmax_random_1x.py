# Softmax baseline for iif_raw_random_1x.py (random sampling, 1x). Paper (not ours): 15.2 mask AP.
# The box head's init is the authors' (kostas1515/iif@747b041
# instance_segmentation/configs/activations/r50_4x4_1x_softmax.py lines 8-9): fc_cls constant 0.001
# with bias -6.5. As in their config this init_cfg replaces the head's whole default list, so
# shared_fcs and fc_reg get PyTorch's default init (the same as in the IIF linear configs, whose
# fc_cls bias is 0). mmdet's default head init instead: --cfg-options model.roi_head.bbox_head.init_cfg=None
_base_ = './iif_raw_random_1x.py'
model = dict(roi_head=dict(bbox_head=dict(
    init_cfg=dict(type='Constant', val=0.001, bias=-6.5, override=dict(name='fc_cls')),
    loss_cls=dict(_delete_=True, type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))))
custom_hooks = []
