# Variant ablation (paper Table XIV): gombit weights from instance frequency (IOF), random sampling, 1x.
_base_ = '../iif_raw_random_1x.py'
model = dict(roi_head=dict(bbox_head=dict(loss_cls=dict(variant='gombit', frequency='instance'))))
