# End-to-end smooth IIF on the MobileNetV2 recipe of ./mbv2_softmax.py: the whole pretrained
# network fine-tuned with IIF cross-entropy (paper Fig. 3, end-to-end).
_base_ = ["./mbv2_softmax.py"]
loss = dict(type="iif", variant="smooth")
