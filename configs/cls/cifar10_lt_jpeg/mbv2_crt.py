# cRT (Kang et al., ICLR 2020) on the stage-1 MobileNetV2 of ./mbv2_softmax.py: the classifier
# re-initialised and retrained with class-balanced sampling and plain CE, on the decoupled stage of
# ./mbv2_decoupled_iif.py, so the decoupled rows differ only in what they retrain and with which loss.
_base_ = ["./mbv2_decoupled_iif.py"]
strategy = dict(method="crt")
loss = dict(_delete_=True, type="ce")  # replace the inherited IIF loss whole
data = dict(sampler="balanced")
