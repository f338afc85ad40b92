# LWS (Kang et al., ICLR 2020): learn one scale per class on the frozen softmax classifier,
# class-balanced sampling, plain CE.
_base_ = ["./decoupled_iif.py"]
strategy = dict(method="lws")
loss = dict(type="ce")
data = dict(sampler="balanced")
