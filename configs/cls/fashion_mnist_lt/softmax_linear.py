# The stage-1 softmax recipe with a linear classifier instead of the cosine one: what
# tau-normalisation (Kang et al., ICLR 2020) adjusts. Everything else as softmax.py.
_base_ = ["./softmax.py"]
model = dict(head="linear")
