# End-to-end IIF: the whole network trained with IIF cross-entropy from scratch.
_base_ = ["./softmax.py"]
loss = dict(type="iif", variant="smooth")
