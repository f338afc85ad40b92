# cRT (Kang et al., ICLR 2020): re-initialise the classifier of the softmax network and
# retrain it with class-balanced sampling and plain CE.
_base_ = ["./decoupled_iif.py"]
strategy = dict(method="crt")
loss = dict(_delete_=True, type="ce")  # replace the inherited IIF loss whole
data = dict(sampler="balanced")
