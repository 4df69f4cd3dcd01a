"""Detections: boxes on photos, imported from MegaDetector or drawn by people, and the
thresholds that say which photos are likely empty."""
