# Variant ablation (paper Table XIV): base2 weights from instance frequency (IOF), random sampling, 1x.
_base_ = '../iif_raw_random_1x.py'
model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(variant='base2', frequency='instance'))))
