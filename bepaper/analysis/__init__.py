"""Analyses of trained models: static bias, CAM, motion."""
