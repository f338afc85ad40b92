# MNIST-LT with the Pareto profile; many/medium/few thresholds become 1000/100.
_base_ = ["./softmax.py"]
data = dict(kwargs=dict(profile="pareto"))
