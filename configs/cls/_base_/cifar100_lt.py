# CIFAR-100-LT, imbalance factor 100 (10,847 images), the LDAM/MiSLAS/IIF subset (seed 0):
# the CIFAR-10-LT recipe on the cifar-100-python/ batches under the same root.
_base_ = ["./cifar10_lt.py"]
data = dict(name="cifar100_lt")
