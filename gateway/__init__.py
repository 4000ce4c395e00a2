"""WECARE.DIGITAL compliance gateway."""
