"""Prediction heads on top of the aggregator."""

from vggt_py.heads.camera_head import CameraHead, activate_pose_encoding
from vggt_py.heads.dpt_head import DPTHead
from vggt_py.heads.track_head import TrackHead
from vggt_py.heads.tracker import Tracker

__all__ = ["CameraHead", "DPTHead", "TrackHead", "Tracker", "activate_pose_encoding"]
