# LWS (Kang et al., ICLR 2020): learn one scale per class on the frozen softmax classifier,
# class-balanced sampling, plain CE.
_base_ = ["./decoupled_iif.py"]
strategy = dict(method="lws")
loss = dict(_delete_=True, type="ce")  # replace the inherited IIF loss whole
data = dict(sampler="balanced")
