# NorCal (Pan et al., "On Model Calibration for Long-Tailed Object Detection and Instance
# Segmentation", NeurIPS 2021) on the softmax baseline: trains exactly as softmax_mask_rcnn.py and
# scores with p_c / n_c^gamma renormalised together with the untouched p_bg (n_c: training image
# counts, NorCal's image_count). The authors' config default is gamma 0 (calibration off) and they
# choose gamma on the training set; 1.0 here, override it for a sweep. Tested as the softmax baseline
# (NMS 0.5, mask threshold 0.5). No training needed:
#   python tools/test_det.py configs/lvis/norcal_mask_rcnn.py work_dirs/softmax_mask_rcnn/epoch_24.pth \
#       --data-root /data/lvis_v1/ [--cfg-options model.roi_head.bbox_head.loss_cls.gamma=0.6]
# Counts: ClassFrequencyHook reads the training annotation file named by train_dataloader before testing.
_base_ = './softmax_mask_rcnn.py'
model = dict(roi_head=dict(bbox_head=dict(
    loss_cls=dict(_delete_=True, type='NorCalLoss', num_classes=1203, gamma=1.0, frequency='image',
                  loss_weight=1.0))))
custom_hooks = [dict(type='ClassFrequencyHook')]
