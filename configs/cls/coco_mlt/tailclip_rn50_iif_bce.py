# The TailCLIP RN50 recipe (tailclip_rn50_bal.py) with IIF for sigmoid logits end-to-end:
# BCE(sigmoid(w_c z_c), y), w from image frequencies with K = training images (smooth variant).
_base_ = ["./tailclip_rn50_bce.py"]
loss = dict(_delete_=True, type="iif_bce", variant="smooth")
