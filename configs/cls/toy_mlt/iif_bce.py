# IIF for sigmoid logits, end-to-end: BCE(sigmoid(w_c z_c), y) with smooth IIF weights from image
# frequencies, K = 1,142 training images; the model scores sigmoid(w * z) at test time too.
_base_ = ["./bce.py"]
loss = dict(_delete_=True, type="iif_bce", variant="smooth")
