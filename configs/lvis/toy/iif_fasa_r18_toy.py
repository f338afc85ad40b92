# CPU-scale IIF + FASA Mask R-CNN on the generated toy LVIS: iif_r18_toy.py with the FASA box
# head (mmdet_ext/fasa.py, FASA's defaults) and FASAHook (initial rates from the toy training
# file; after each epoch a loss pass over the toy val split adapts the rates).
#   python tools/train_det.py configs/lvis/toy/iif_fasa_r18_toy.py
_base_ = './iif_r18_toy.py'

model = dict(roi_head=dict(bbox_head=dict(type='FASAShared2FCBBoxHead', fasa_cfg=dict())))
custom_hooks = [dict(type='IIFWeightsHook'), dict(type='FASAHook')]
