"""CAM family: Grad-CAM (Captum's LayerGradCam, GuidedGradCam) and the variants beyond Captum
(GradCAMPlusPlus, XGradCAM, EigenCAM as small weight functions; ScoreCAM, gradient-free)."""
from fastxai.attr.cam.grad_cam import GuidedGradCam, LayerGradCam
from fastxai.attr.cam.score_cam import ScoreCAM
from fastxai.attr.cam.variants import EigenCAM, GradCAMPlusPlus, XGradCAM

__all__ = ["EigenCAM", "GradCAMPlusPlus", "GuidedGradCam", "LayerGradCam", "ScoreCAM", "XGradCAM"]
