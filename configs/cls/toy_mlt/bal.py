# BAL without the occurrence sampler (random sampling): separates the loss from the sampler.
_base_ = ["./bal_occurrence.py"]
data = dict(sampler=None, sampler_kwargs=dict(_delete_=True))
