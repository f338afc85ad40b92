# DB-Focal (Wu et al., ECCV 2020) with its VOC-MLT settings (the toy set has VOC-MLT's scale):
# rebalanced weights (alpha 0.1, beta 10, mu 0.3), negative-tolerant regularisation (init bias
# 0.05, lambda 5), focal gamma 2, balance 2. Random sampling here, as every toy_mlt row but BAL's,
# so the rows differ in the loss only (the benchmark trains DB-Focal with class-aware sampling:
# --cfg-options data.sampler=class_aware).
_base_ = ["./bce.py"]
loss = dict(_delete_=True, type="db_focal", gamma=2.0, alpha=0.1, beta=10.0, mu=0.3, neg_scale=5.0,
            init_bias=0.05, balance=2.0)
