"""Content of the ``vcmctc demo`` run: synthetic test sequences, demo task networks, demo codec.

Nothing here is a CTC tool: it lets the whole evaluation pipeline run end to end in seconds on
any machine, with real (if simple) coding and task networks.

- :mod:`vcmctc.demo.scene`: deterministic synthetic sequences with exact ground truth (SFU-HW
  txt / MPEG JSON for detection, MOTChallenge for tracking);
  ``python -m vcmctc.demo.scene --output DIR`` writes the demo set.
- :mod:`vcmctc.demo.detector`: a colour-and-shape detector for that content
  (``python -m vcmctc.demo.detector``, COCO results JSON).
- :mod:`vcmctc.demo.tracker`: an IoU tracker over it (``python -m vcmctc.demo.tracker``,
  MOTChallenge txt).
- :mod:`vcmctc.demo.vvc`: VVC encode/decode of 8-bit YUV with ffmpeg's libvvenc / vvc decoder
  (the anchor codec).
- :mod:`vcmctc.demo.fgcodec`: an example submission codec, multi-task foreground coding with
  side information (``python -m vcmctc.demo.fgcodec encode|decode``).
- :mod:`vcmctc.demo.images`: the image set SynthImages (Open Images challenge CSV ground truth),
  VVC intra image coding (whole image or foreground only) decoded by one ffmpeg call to PNG, and
  the detector over a folder of images (challenge predictions CSV).
- :mod:`vcmctc.demo.pose`: the pose sequence SynthDance (COCO keypoints ground truth) and a
  marker-colour pose estimator (``python -m vcmctc.demo.pose``, COCO keypoint results).
- :mod:`vcmctc.demo.tasknet`: every demo task network behind one command (``--task``).

Submodules are imported on demand (scipy and ffmpeg are needed only when used).
"""
