# ./mbv2_decoupled_iif.py with the feature cache (strategy.feature_cache=True, iif.engine.feature_cache):
# a different recipe from the authors', chosen so that the frozen backbone's features are the same
# every epoch: BatchNorm frozen (eval mode, stage 1's running statistics) instead of train mode, and
# no augmentation (the 96 px resize only) instead of random crop + flip. The features of the
# training and test images are computed once (~40 s + ~30 s at 96 px on one thread), written to
# ~/.cache/iif/features/<sha256>.npz (or $IIF_FEATURE_CACHE) keyed by the stage-1 weights and the data,
# and the epochs train the classifier alone on them (milliseconds each); a second decoupled run on
# the same checkpoint (cRT, LWS: strategy.method=crt / lws with loss.type=ce, data.sampler=balanced)
# reads the file. The result equals this recipe's run without the cache (tests/test_feature_cache.py).
# For the authors' recipe computed once anyway, see strategy.feature_cache="approximate" (module
# docstring: what it approximates).
_base_ = ["./mbv2_decoupled_iif.py"]
strategy = dict(bn="frozen", feature_cache=True)
data = dict(train_transform=dict(_delete_=True, image_size=96, resize=96, stats="imagenet"))
