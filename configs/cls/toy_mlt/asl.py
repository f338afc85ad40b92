# ASL (Ridnik et al., ICCV 2021) with its defaults: gamma_neg 4, gamma_pos 0, probability margin 0.05.
# Follows ASL's AsymmetricLossOptimized (and TailCLIP): the focusing weights stay in the graph
# (loss.detach_focal=False, iif.asymmetric_loss's default).
# ASL's own train.py detaches them (disable_torch_grad_focal_loss=True, Alibaba-MIIL/ASL@8c9e0bd
# train.py line 93): same loss, other gradient; --cfg-options loss.detach_focal=True for that.
_base_ = ["./bce.py"]
loss = dict(_delete_=True, type="asl", gamma_pos=0.0, gamma_neg=4.0, clip=0.05)
