# The TailCLIP RN50 recipe (tailclip_rn50_bal.py) with plain BCE and random sampling: the baseline
# whose logits get post-process IIF (every variant, K = training images) at evaluation.
_base_ = ["./tailclip_rn50_bal.py"]
loss = dict(_delete_=True, type="bce")
data = dict(sampler=None, sampler_kwargs=dict(_delete_=True))
