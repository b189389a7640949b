"""Differentiate: one row of features per customer, as of an explicit date."""

from crmreport.features.rfm import FEATURE_DOCS, build_features

__all__ = ["FEATURE_DOCS", "build_features"]
