# Paper top-1 (decoupled smooth IIF, SE-ResNeXt-50, as the paper reports it): 56.2. Not from this
# stage: the authors' README's 56.21 is post-process smooth IIF on their released stage-1 weights
# (kostas1515/iif@747b041 classification/README.md lines 97-128).
_base_ = ["./se_r50_decoupled_iif.py"]
model = dict(name="se_resnext50_32x4d")
strategy = dict(load_from="work_dirs/imagenet_lt/se_x50_stage1/last.pth")
