# ResLT on MNIST-LT with the per-digit training counts of an independent ResLT port (a Pareto-like
# profile): digits 0..9 keep 42, 125, 187, 28, 601, 300, 5918, 2698, 1188, 67 images (11,154; the
# seed-0 subset of each digit); the full, balanced 10,000-image test set. Groups and report columns
# both use the thresholds 1000 / 100: tail (few) {0, 3, 9}, medium {1, 2, 4, 5}, head (many) {6, 7, 8}.
# beta = 0.5, the port's loss weight (reslt_official.py's 0.998 with --cfg-options loss.beta=0.998).
# Explicit counts are the general form of a profile: data.kwargs.counts works for every
# CIFAR / (Fashion-)MNIST long-tailed dataset.
_base_ = ["./reslt.py"]
data = dict(kwargs=dict(_delete_=True, counts=[42, 125, 187, 28, 601, 300, 5918, 2698, 1188, 67],
                        shot_thresholds=[1000, 100]))
