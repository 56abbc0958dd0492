"""Synthetic lesion images. (being written: helper A)"""
