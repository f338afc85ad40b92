# ./mbv2_softmax.py with a linear classifier instead of the cosine one: the model tau-normalisation
# (Kang et al., ICLR 2020) adjusts (the tau_norm row of tools/reproduce.py). Everything else equal.
_base_ = ["./mbv2_softmax.py"]
model = dict(head="linear")
