# cRT (Kang et al., ICLR 2020) on the stage-1 model of ./softmax.py: the classifier is
# re-initialised and retrained with class-balanced sampling and plain CE, on the decoupled stage of
# ./decoupled_iif.py (20 epochs, lr 1e-4, BatchNorm in train mode, constant LR after warm-up), so
# the three decoupled rows (IIF, cRT, LWS) differ only in what they retrain and with which loss.
_base_ = ["./decoupled_iif.py"]
strategy = dict(method="crt")
loss = dict(_delete_=True, type="ce")  # replace the inherited IIF loss whole
data = dict(sampler="balanced")
