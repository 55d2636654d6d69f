"""vcmctc: evaluation and conformance toolkit for MPEG VCM / FCM common test conditions.

Importing this package is cheap: heavy dependencies (pandas, pycocotools, torch) are imported
only by the modules that need them.
"""

__version__ = "0.1.0"
