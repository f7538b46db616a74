"""Offline person/face/pose networks and their decoding (tflite through ai-edge-litert, OpenCV HOG).

Everything here works on one image at a time and knows nothing of tracks or files:

* :mod:`models.detectors.roi` - rotated square regions and the crops they cut;
* :mod:`models.detectors.blazepose` - multi-person BlazePose detector (anchors, decoding, NMS);
* :mod:`models.detectors.pose_landmarks` - BlazePose full landmark model on a region;
* :mod:`models.detectors.face` - full- and short-range face detection (BlazeFace networks);
* :mod:`models.detectors.hog` - OpenCV's HOG pedestrian detector.
"""
