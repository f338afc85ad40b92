# Balanced Softmax (Ren et al., NeurIPS 2020) on the MobileNetV2 recipe of ./mbv2_softmax.py.
_base_ = ["./mbv2_softmax.py"]
loss = dict(type="balanced_softmax")
