# LDAM-DRW (Cao et al., NeurIPS 2019): margins from the start, class-balanced re-weighting
# (effective number, beta 0.9999) from 3/4 of the schedule on (LDAM's 160 of 200 epochs).
_base_ = ["./softmax.py"]
loss = dict(type="ldam", max_margin=0.5, scale=30.0, drw_epoch=6)
