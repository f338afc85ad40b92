# The paper's IIF_CSL row: cost-sensitive CE, each sample weighted by its class's IIF weight.
_base_ = ["./softmax.py"]
loss = dict(type="iif_csl", variant="smooth")
