# LDAM-DRW (Cao et al., NeurIPS 2019): margins from the start, class-balanced re-weighting
# (effective number, beta 0.9999) from 3/4 of the schedule on (LDAM's 160 of 200 epochs).
#
# Scale: LDAM's own recipe is s * (cos(x, W_y) - m_y) with a cosine classifier, s = 30 and
# m_max = 0.5. Our cosine head already outputs s_head * cos with s_head = 16 (the recipe every
# method here shares), so the loss applies no second scale (scale=1) and the margin is given in
# logit units: m_max = 0.5 * 16 = 8, i.e. LDAM's margin at the shared scale 16. (Earlier configs
# multiplied the head's 16 by LDAM's 30 -- an effective scale of 480 -- which left the model
# badly over-confident: ECE 45-52 %.)
_base_ = ["./softmax.py"]
loss = dict(type="ldam", max_margin=8.0, scale=1.0, drw_epoch=6)
