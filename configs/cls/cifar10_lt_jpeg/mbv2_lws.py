# LWS (Kang et al., ICLR 2020) on the stage-1 MobileNetV2 of ./mbv2_softmax.py: one learnable scale
# per class on the frozen classifier, class-balanced sampling, plain CE, on the decoupled stage of
# ./mbv2_decoupled_iif.py (see ./mbv2_crt.py).
_base_ = ["./mbv2_decoupled_iif.py"]
strategy = dict(method="lws")
loss = dict(_delete_=True, type="ce")  # replace the inherited IIF loss whole
data = dict(sampler="balanced")
